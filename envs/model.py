"""The exact model of a vector env's envs, where they publish one: for exact evaluation of tabular policies.

Numba envs carry theirs in `NumbaEnvDef.transition_model` (the toy-text envs); Gymnasium's toy-text envs in
`P` and `initial_state_distrib` (read by :func:`rl_platform.mdp.model_from_gymnasium`).
"""

from __future__ import annotations

import gymnasium as gym

from rl_platform.envs.toy_text.tabular import NO_TIME_LIMIT
from rl_platform.mdp import TransitionModel, model_from_gymnasium


def vector_env_model(envs: gym.vector.VectorEnv) -> tuple[TransitionModel | None, int | None]:
    """(exact model, time limit) of the envs of `envs`; (None, None) if they have no model.

    A Numba vector env (CPU or CUDA) gives its env definition's model and its truncation limit; any other vector
    env with sub-envs (`SyncVectorEnv.envs`) the model of its first env and that env's registered limit. The
    time limit is None where episodes are never truncated.
    """
    env_def = getattr(envs, "env_def", None)
    if env_def is not None:
        limit = envs.max_episode_steps
        return env_def.transition_model, None if limit >= NO_TIME_LIMIT else int(limit)
    sub_envs = getattr(envs, "envs", None)
    if not sub_envs:
        return None, None
    spec = getattr(sub_envs[0], "spec", None)
    return model_from_gymnasium(sub_envs[0]), getattr(spec, "max_episode_steps", None)


__all__ = ["vector_env_model"]
