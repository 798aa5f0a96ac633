"""Imported by the A3C forkserver before it forks any worker, so that workers start warm.

The forkserver imports torch, Numba and the worker code once, and builds and steps the run's env
once (named by the `RLP_A3C_WARMUP_ENV` variable, a JSON `env:` section), which compiles a
Numba env's kernels. Each worker forked from it inherits all of that instead of redoing it.
"""

from __future__ import annotations

import json
import os

from rl_platform.agents.a3c.hogwild import WARMUP_ENV  # also imports torch, numba and the worker code
from rl_platform.config import EnvConfig
from rl_platform.env_factory import make_vector_env


def warm_up(env_json: str | None) -> None:
    """Build, reset and step the env once; any error is left for the worker to raise and report."""
    if not env_json:
        return
    try:
        envs = make_vector_env(EnvConfig(**json.loads(env_json)), 1)
        envs.reset(seed=0)
        envs.step(envs.action_space.sample())
        envs.close()
    except Exception:  # noqa: BLE001, S110
        pass


warm_up(os.environ.get(WARMUP_ENV))
