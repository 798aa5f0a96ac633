"""Registers every built-in Numba env with Gymnasium as `rlp/<name>`, with a `vector_entry_point`.

`gymnasium.make("rlp/CartPole-v1")` gives a single env; `gymnasium.make_vec("rlp/CartPole-v1",
num_envs=4096)` a :class:`NumbaVectorEnv` (vector kwargs: `num_threads`, `check_actions`), and
`gymnasium.make_vec("rlp/CartPole-v1", num_envs=2**20, device="cuda")` a GPU
:class:`~rl_platform.envs.cuda.CudaVectorEnv` (needs a CUDA GPU, or the Numba CUDA simulator).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym

from rl_platform.envs.kernel import NumbaEnvDef
from rl_platform.envs.single import NumbaEnv
from rl_platform.envs.vector import NumbaVectorEnv

# name -> factory(**env kwargs) -> NumbaEnvDef
ENV_FACTORIES: dict[str, Callable[..., NumbaEnvDef]] = {}


def make_single(name: str, **kwargs: Any) -> NumbaEnv:
    return NumbaEnv(ENV_FACTORIES[name](**kwargs))


def make_vector(name: str, num_envs: int = 1, num_threads: int | None = None, check_actions: bool = True,
                max_episode_steps: int | None = None, device: str = "cpu", **kwargs: Any) -> gym.vector.VectorEnv:
    """The vector env for `rlp/<name>`: a NumbaVectorEnv on `device="cpu"`, a CudaVectorEnv on "cuda"."""
    if device.startswith("cuda"):
        if num_threads is not None:
            raise ValueError("num_threads applies to device='cpu' only")
        from rl_platform.envs.cuda import CudaVectorEnv  # imports numba.cuda: only when asked for

        return CudaVectorEnv(ENV_FACTORIES[name](**kwargs), num_envs, check_actions=check_actions,
                             max_episode_steps=max_episode_steps)
    if device != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return NumbaVectorEnv(ENV_FACTORIES[name](**kwargs), num_envs, num_threads=num_threads,
                          check_actions=check_actions, max_episode_steps=max_episode_steps)


# name -> (factory, max_episode_steps) as registered, to tell a repeated registration from a clashing one
_REGISTERED: dict[str, tuple[Callable[..., NumbaEnvDef], int | None]] = {}


def register_numba_env(name: str, factory: Callable[..., NumbaEnvDef], max_episode_steps: int | None) -> None:
    """Make `rlp/<name>` available to `gymnasium.make` and `gymnasium.make_vec`.

    Registering the same factory and limit again is a no-op; anything else under an id that is taken (by
    another Numba env or by any Gymnasium registration) raises ValueError, as the agent registry does.
    """
    env_id = f"rlp/{name}"
    if name in _REGISTERED:
        registered_factory, registered_limit = _REGISTERED[name]
        if registered_factory is factory and registered_limit == max_episode_steps:
            return
        raise ValueError(f"env '{env_id}' is already registered (factory {registered_factory!r}, "
                         f"max_episode_steps={registered_limit}); cannot register factory {factory!r} with "
                         f"max_episode_steps={max_episode_steps} under the same id: choose another name")
    if env_id in gym.registry:
        raise ValueError(f"env '{env_id}' is already registered with Gymnasium (entry point "
                         f"{gym.registry[env_id].entry_point!r}); choose another name")
    gym.register(id=env_id, entry_point=partial(make_single, name),
                 vector_entry_point=partial(make_vector, name), max_episode_steps=max_episode_steps)
    ENV_FACTORIES[name] = factory
    _REGISTERED[name] = (factory, max_episode_steps)


def register_builtin_envs() -> None:
    from rl_platform.envs.classic_control import CLASSIC_CONTROL, FIXED_HORIZON, PARTIALLY_OBSERVED
    from rl_platform.envs.minatar import MINATAR
    from rl_platform.envs.toy_text import TOY_TEXT

    for factory, max_steps in [*CLASSIC_CONTROL, *PARTIALLY_OBSERVED, *FIXED_HORIZON, *TOY_TEXT, *MINATAR]:
        register_numba_env(factory().name, factory, max_steps)
    register_world_model_env()


WORLD_MODEL_ENV_ID = "rlp/WorldModel-v0"


def register_world_model_env() -> None:
    """`rlp/WorldModel-v0`: a run's learned world model as an env (rl_platform/world_model_env.py). It loads runs
    and datasets, so it lives in the core; named by strings here, the envs package never imports it. Its time
    limit is its own (`max_episode_steps`, default the run's env's), so none is registered."""
    if WORLD_MODEL_ENV_ID not in gym.registry:
        gym.register(id=WORLD_MODEL_ENV_ID, entry_point="rl_platform.world_model_env:make_single",
                     vector_entry_point="rl_platform.world_model_env:make_vector")
