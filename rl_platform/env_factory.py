"""Building vector envs from `env.id`: a Gymnasium id or a user's `package.module:factory`.

A user env is checked once, before training, so a broken space or `step` signature fails early
with a message that says what is wrong instead of a traceback deep in an agent.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from numbers import Real
from typing import Any

import gymnasium as gym
import numpy as np

from rl_platform.config import EnvConfig
from rl_platform.errors import ConfigError, EnvError, UserError
from rl_platform.history import ObservationHistory
from rl_platform.options import did_you_mean

_plugins_loaded = False


def load_env_plugins() -> None:
    """Import the modules that register envs with Gymnasium (entry-point group `rl_platform.envs`)."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for ep in entry_points(group="rl_platform.envs"):
            ep.load()


def import_attribute(spec: str) -> tuple[str, str, Any]:
    """`(module, name, object or None)` for 'package.module:name', the current directory importable (as with
    `python -m`, so `myenv:make` finds ./myenv.py); ImportError if the module cannot be imported."""
    module_name, _, attr = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    return module_name, attr, getattr(importlib.import_module(module_name), attr, None)


def _resolve_factory(env_id: str) -> Callable[..., Any]:
    """The callable named by 'package.module:factory'."""
    try:
        module_name, attr, factory = import_attribute(env_id)
    except ImportError as exc:
        module_name, cwd = env_id.partition(":")[0], os.getcwd()
        raise ConfigError("env.id", f"cannot import module '{module_name}' of '{env_id}': {exc}. It is looked for "
                          f"in the current directory ({cwd}) and on sys.path: run from the folder that holds "
                          f"{module_name.split('.')[0]}.py (or its package), add that folder to PYTHONPATH, or "
                          "pip-install the package.") from None
    if not callable(factory):
        raise ConfigError("env.id", f"module '{module_name}' has no callable '{attr}' "
                          f"(env.id 'package.module:factory' must name a function or class).")
    return factory


def check_env_id(env_id: str) -> None:
    """Raise a ConfigError for an id that names neither a registered env nor a factory."""
    if ":" in env_id:
        _resolve_factory(env_id)
        return
    load_env_plugins()
    if env_id not in gym.registry:
        hint = did_you_mean(env_id, gym.registry)
        raise ConfigError("env.id", f"'{env_id}' is not a registered Gymnasium env.{hint} "
                          "Use a Gymnasium id (see `rlp list`) or 'package.module:factory'.")


def _check_space(owner: str, name: str, space: Any) -> None:
    if not isinstance(space, gym.spaces.Space):
        raise EnvError(f"{owner}: `{name}` must be a gymnasium.spaces.Space, got {space!r}.")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def validate_env(env: gym.Env, source: str) -> None:
    """Check one single env's spaces and reset/step API with one reset and one random step."""
    _check_space(source, "observation_space", getattr(env, "observation_space", None))
    _check_space(source, "action_space", getattr(env, "action_space", None))
    space = env.observation_space
    try:
        result = env.reset(seed=0)
    except TypeError as exc:
        raise EnvError(f"{source}: reset(seed=..., options=...) failed: {exc}. "
                       "Gymnasium envs take `seed` and `options` keywords.") from None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise EnvError(f"{source}: reset() must return (obs, info), got {_describe(result)}.")
    if not space.contains(np.asarray(result[0], dtype=space.dtype) if space.dtype else result[0]):
        raise EnvError(f"{source}: reset() returned an observation outside observation_space "
                       f"{space}: {_describe(result[0])}.")
    try:
        result = env.step(env.action_space.sample())
    except TypeError as exc:
        raise EnvError(f"{source}: step(action) failed: {exc}. step must take exactly one action.") from None
    if not (isinstance(result, tuple) and len(result) == 5):
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else _describe(result)
        raise EnvError(f"{source}: step() must return (obs, reward, terminated, truncated, info), "
                       f"got {got}. Old Gym 4-tuples (obs, reward, done, info) are not supported.")
    obs, reward, terminated, truncated, info = result
    if not isinstance(reward, Real):
        raise EnvError(f"{source}: step() reward must be a real number, got {_describe(reward)}.")
    for flag_name, flag in (("terminated", terminated), ("truncated", truncated)):
        if not isinstance(flag, (bool, np.bool_)):
            raise EnvError(f"{source}: step() `{flag_name}` must be a bool, got {_describe(flag)}.")
    if not isinstance(info, dict):
        raise EnvError(f"{source}: step() info must be a dict, got {_describe(info)}.")
    if not space.contains(np.asarray(obs, dtype=space.dtype) if space.dtype else obs):
        raise EnvError(f"{source}: step() returned an observation outside observation_space "
                       f"{space}: {_describe(obs)}.")


def validate_vector_env(envs: gym.vector.VectorEnv, source: str) -> None:
    for name in ("single_observation_space", "single_action_space"):
        _check_space(source, name, getattr(envs, name, None))
    if not isinstance(getattr(envs, "num_envs", None), int) or envs.num_envs < 1:
        raise EnvError(f"{source}: vector env must have a positive integer `num_envs`.")


def _make_from_factory(cfg: EnvConfig, num_envs: int) -> gym.vector.VectorEnv:
    factory = _resolve_factory(cfg.id)
    kwargs = dict(cfg.kwargs)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    if "num_envs" in params:
        kwargs["num_envs"] = num_envs
    try:
        made = factory(**kwargs)
    except TypeError as exc:
        raise EnvError(f"env factory '{cfg.id}' could not be called with env.kwargs {cfg.kwargs}: {exc}") from None
    if isinstance(made, gym.vector.VectorEnv):
        validate_vector_env(made, f"vector env from '{cfg.id}'")
        if made.num_envs != num_envs:
            raise EnvError(f"'{cfg.id}' returned {made.num_envs} envs but env.num_envs is {num_envs}.")
        return made
    if not isinstance(made, gym.Env):
        raise EnvError(f"env factory '{cfg.id}' must return a gymnasium.Env or gymnasium.vector.VectorEnv, "
                       f"got {type(made).__name__}.")
    validate_env(made, f"env from '{cfg.id}'")
    first = [made]

    def make_one() -> gym.Env:
        return first.pop() if first else factory(**kwargs)

    return gym.vector.SyncVectorEnv([make_one for _ in range(num_envs)])


def make_vector_env(cfg: EnvConfig, num_envs: int | None = None, training: bool = False) -> gym.vector.VectorEnv:
    """A Gymnasium vector env for `cfg` (with `num_envs` overriding `cfg.num_envs`), stacking
    `cfg.history` observations per env when that is more than 1. `training` envs get `cfg.reward_model`'s reward
    (evaluation envs keep the env's own)."""
    envs = _make_unstacked(cfg, cfg.num_envs if num_envs is None else num_envs)
    if "env_id" not in envs.metadata:  # errors name the env as the config does
        envs.metadata = {**envs.metadata, "env_id": cfg.id}
    if cfg.history > 1:
        try:
            envs = ObservationHistory(envs, cfg.history)
        except ConfigError:
            envs.close()
            raise
    if training and cfg.reward_model is not None:
        from rl_platform.imitation.reward_model import with_learned_reward  # imported here: it needs torch

        envs = with_learned_reward(envs, cfg.reward_model)
    return envs


def _make_unstacked(cfg: EnvConfig, num_envs: int) -> gym.vector.VectorEnv:
    check_env_id(cfg.id)
    if ":" in cfg.id:
        return _make_from_factory(cfg, num_envs)
    spec = gym.spec(cfg.id)
    mode = cfg.vectorization
    if mode == "auto":
        mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    try:
        return gym.make_vec(cfg.id, num_envs=num_envs, vectorization_mode=mode, **cfg.kwargs)
    except UserError:  # an env of ours that already says what is wrong (rlp/WorldModel-v0 naming its kwarg)
        raise
    except Exception as exc:  # a missing dependency, an old-API env, bad kwargs: all the user's to fix
        raise EnvError(f"cannot make '{cfg.id}' with env.kwargs {cfg.kwargs} "
                       f"(vectorization '{mode}'): {_why_not_buildable(exc)}") from None


def _why_not_buildable(exc: BaseException) -> str:
    """One line for an exception raised while building an env (the missing package where that is the cause)."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return f"needs the Python package '{exc.name.split('.')[0]}' (ModuleNotFoundError)"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# What some agent can take: observations (encoders and tabular features) and actions.
_USABLE_OBSERVATIONS = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete)
_USABLE_ACTIONS = (gym.spaces.Box, gym.spaces.Discrete)


def env_availability() -> dict[str, str | None]:
    """Every registered env id -> None if it builds here and some agent can use its spaces, else what it needs.

    Built-in `rlp/` envs are known to build; every other id is made once (single env, then closed)."""
    load_env_plugins()
    result: dict[str, str | None] = {}
    for env_id in sorted(gym.registry):
        if env_id.startswith("rlp/"):
            result[env_id] = None
            continue
        result[env_id] = _check_buildable(env_id)
    return result


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Warnings and output (Python's and C libraries', e.g. MuJoCo's) dropped, for probing envs."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _check_buildable(env_id: str) -> str | None:
    with _silenced():
        try:
            env = gym.make(env_id)
        except Exception as exc:
            return _why_not_buildable(exc)
        try:
            if not isinstance(env.observation_space, _USABLE_OBSERVATIONS):
                return f"observation space {type(env.observation_space).__name__}: no agent or encoder takes it"
            if not isinstance(env.action_space, _USABLE_ACTIONS):
                return f"action space {type(env.action_space).__name__}: no agent takes it"
        finally:
            with contextlib.suppress(Exception):
                env.close()
    return None
