"""Classic-control envs in Numba, each matching Gymnasium's reference transition for transition."""

from rl_platform.envs.classic_control.acrobot import ACROBOT
from rl_platform.envs.classic_control.cartpole import CARTPOLE, CARTPOLE_NO_VEL
from rl_platform.envs.classic_control.continuous_mountain_car import CONTINUOUS_MOUNTAIN_CAR, continuous_mountain_car
from rl_platform.envs.classic_control.fixed_horizon import CARTPOLE_FIXED, pendulum_fixed
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

# Variants of the envs above with a part of the state hidden, registered the same way (no Gymnasium reference).
PARTIALLY_OBSERVED = [
    (lambda: CARTPOLE_NO_VEL, 500),
]

# Variants that never terminate, for imitation (fixed_horizon.py), registered the same way (no Gymnasium reference).
FIXED_HORIZON = [
    (lambda: CARTPOLE_FIXED, 500),
    (pendulum_fixed, 200),
]

__all__ = ["ACROBOT", "CARTPOLE", "CARTPOLE_FIXED", "CARTPOLE_NO_VEL", "CLASSIC_CONTROL", "CONTINUOUS_MOUNTAIN_CAR",
           "FIXED_HORIZON", "MOUNTAIN_CAR", "PARTIALLY_OBSERVED", "PENDULUM", "continuous_mountain_car", "mountain_car",
           "pendulum", "pendulum_fixed"]
