"""Classic-control envs in Numba, each matching Gymnasium's reference transition for transition."""

from rl_platform.envs.classic_control.acrobot import ACROBOT
from rl_platform.envs.classic_control.cartpole import CARTPOLE
from rl_platform.envs.classic_control.continuous_mountain_car import CONTINUOUS_MOUNTAIN_CAR, continuous_mountain_car
from rl_platform.envs.classic_control.mountain_car import MOUNTAIN_CAR, mountain_car
from rl_platform.envs.classic_control.pendulum import PENDULUM, pendulum

# (factory(**kwargs) -> NumbaEnvDef, max_episode_steps) for every env registered as rlp/<name>.
CLASSIC_CONTROL = [
    (lambda: CARTPOLE, 500),
    (lambda: ACROBOT, 500),
    (mountain_car, 200),
    (continuous_mountain_car, 999),
    (pendulum, 200),
]

__all__ = ["ACROBOT", "CARTPOLE", "CLASSIC_CONTROL", "CONTINUOUS_MOUNTAIN_CAR", "MOUNTAIN_CAR", "PENDULUM",
           "continuous_mountain_car", "mountain_car", "pendulum"]
