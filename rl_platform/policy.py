"""What acts and what learns: the `Policy` and `Learner` protocols every agent implements.

A policy maps a batch of observations (and, for recurrent or memory policies, a per-env state) to
actions. A learner turns a batch of data into one update of its parameters and owns the optimizers
that make it: any number, by name (a GAN has a generator's and a discriminator's, a world-model agent
one more). Neither logs: the trainer does (:mod:`rl_platform.trainer`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Policy(Protocol):
    """Acts on a batch of observations, one row per env."""

    def act(self, obs: np.ndarray, state: Any = None, explore: bool = False) -> tuple[np.ndarray, Any]:
        """(actions, next state); greedy / deterministic unless `explore`. Stateless policies return None."""

    def initial_state(self, num_envs: int) -> Any:
        """The state at episode start for `num_envs` envs (None for a stateless policy)."""


@runtime_checkable
class Learner(Protocol):
    """Updates its parameters from batches; its optimizers are named (`optimizers["q_network"]`)."""

    optimizers: dict[str, torch.optim.Optimizer]

    def update(self, batch: Any) -> dict[str, float]:
        """One learning step; returns statistics (logged as losses/<name>), never logs itself."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: networks, optimizers, counters, RNG state."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict()` output (networks alone are enough to act)."""


class StatelessPolicy:
    """Mixin for policies without memory: their episode-start state is None."""

    def initial_state(self, num_envs: int) -> None:
        return None


def optimizer_states(optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Any]:
    """The named optimizers' state dicts, for a checkpoint."""
    return {name: optimizer.state_dict() for name, optimizer in optimizers.items()}


def load_optimizer_states(optimizers: dict[str, torch.optim.Optimizer], state: dict[str, Any]) -> None:
    """Restore named optimizers; a checkpoint with a single unnamed `optimizer` (written before optimizers
    had names) restores an agent with one."""
    saved = state.get("optimizers")
    if saved is None and "optimizer" in state and len(optimizers) == 1:
        saved = {next(iter(optimizers)): state["optimizer"]}
    for name, optimizer in optimizers.items():
        if saved is not None and name in saved:
            optimizer.load_state_dict(saved[name])


def reset_state(state: Any, starts: np.ndarray, initial: Callable[[int], Any]) -> Any:
    """`state` with the rows of envs whose episode starts now replaced by the initial state.

    States are None, arrays or tensors with the env axis first, or tuples / lists / dicts of them."""
    if state is None or not starts.any():
        return state
    fresh = initial(len(starts))
    return _replace_rows(state, fresh, starts)


def _replace_rows(state: Any, fresh: Any, starts: np.ndarray) -> Any:
    if isinstance(state, torch.Tensor):
        mask = torch.as_tensor(starts, device=state.device).reshape(-1, *([1] * (state.dim() - 1)))
        return torch.where(mask, fresh.to(state.device), state)
    if isinstance(state, np.ndarray):
        return np.where(starts.reshape(-1, *([1] * (state.ndim - 1))), fresh, state)
    if isinstance(state, dict):
        return {key: _replace_rows(value, fresh[key], starts) for key, value in state.items()}
    if isinstance(state, (tuple, list)):
        return type(state)(_replace_rows(s, f, starts) for s, f in zip(state, fresh, strict=True))
    raise TypeError(f"cannot reset a policy state of type {type(state).__name__}")


class FunctionPolicy(StatelessPolicy):
    """A stateless policy from a function of the observations (a fixed table, a scripted controller)."""

    def __init__(self, actions: Callable[[np.ndarray], np.ndarray]) -> None:
        self.actions = actions

    def act(self, obs: np.ndarray, state: None = None, explore: bool = False) -> tuple[np.ndarray, None]:
        return self.actions(obs), None
