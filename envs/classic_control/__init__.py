"""Classic-control envs in Numba, each matching Gymnasium's reference transition for transition."""

from rl_platform.envs.classic_control.cartpole import CARTPOLE

# (factory(**kwargs) -> NumbaEnvDef, max_episode_steps) for every env registered as rlp/<name>.
CLASSIC_CONTROL = [
    (lambda: CARTPOLE, 500),
]

__all__ = ["CARTPOLE", "CLASSIC_CONTROL"]
