"""Toy-text envs in Numba (FrozenLake, Taxi, CliffWalking), matching Gymnasium's references.

Each is an exact tabular model (`transition_model(**kwargs)` in its module, or
:func:`transition_model` here by env id, for tabular agents and value iteration) sampled by the
kernels in :mod:`rl_platform.envs.toy_text.tabular`.
"""

from typing import Any

from rl_platform.envs.toy_text import cliff_walking, frozen_lake, taxi
from rl_platform.envs.toy_text.cliff_walking import cliff_walking_slippery_v1, cliff_walking_v1
from rl_platform.envs.toy_text.frozen_lake import frozen_lake_8x8_v1, frozen_lake_v1
from rl_platform.envs.toy_text.taxi import taxi_v4
from rl_platform.mdp import TransitionModel

# (factory(**kwargs) -> NumbaEnvDef, max_episode_steps) for every env registered as rlp/<name>;
# the limits are Gymnasium's (None: registered without a TimeLimit, as Gymnasium's CliffWalking).
TOY_TEXT: list = [
    (frozen_lake_v1, 100),
    (frozen_lake_8x8_v1, 200),
    (taxi_v4, 200),
    (cliff_walking_v1, None),
    (cliff_walking_slippery_v1, None),
]

_MODELS = {  # env id -> (module, kwargs its registration implies)
    "FrozenLake-v1": (frozen_lake, {}),
    "FrozenLake8x8-v1": (frozen_lake, {"map_name": "8x8"}),
    "Taxi-v4": (taxi, {}),
    "CliffWalking-v1": (cliff_walking, {}),
    "CliffWalkingSlippery-v1": (cliff_walking, {"is_slippery": True}),
}


def transition_model(env_id: str, **kwargs: Any) -> TransitionModel:
    """The exact model of `rlp/<env_id>` (or Gymnasium's `env_id`) made with these env kwargs.

    For example `transition_model("rlp/FrozenLake-v1", is_slippery=False).as_dict()` is the `P`
    of `gymnasium.make("FrozenLake-v1", is_slippery=False).unwrapped`.
    """
    module, implied = _MODELS[env_id.removeprefix("rlp/")]
    return module.transition_model(**{**implied, **kwargs})


__all__ = ["TOY_TEXT", "TransitionModel", "cliff_walking_slippery_v1", "cliff_walking_v1", "frozen_lake_8x8_v1",
           "frozen_lake_v1", "taxi_v4", "transition_model"]
