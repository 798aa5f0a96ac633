"""Environments (installed as `rl_platform.envs`): Numba vector envs registered as `rlp/<name>`.

Importing this package registers them with Gymnasium.
"""

from rl_platform.envs.kernel import NumbaEnvDef
from rl_platform.envs.registration import register_builtin_envs
from rl_platform.envs.single import NumbaEnv
from rl_platform.envs.vector import NumbaVectorEnv

register_builtin_envs()

__all__ = ["NumbaEnv", "NumbaEnvDef", "NumbaVectorEnv"]
