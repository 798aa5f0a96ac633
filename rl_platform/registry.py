"""Name -> component registries for agents, encoders and heads.

The core never imports a concrete agent: built-in and third-party agents are found through the
`rl_platform.agents` entry-point group (declared in pyproject.toml) and loaded on first lookup.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from rl_platform.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict of named components with did-you-mean errors and lazy entry-point loading."""

    def __init__(self, kind: str, entry_point_group: str | None = None,
                 modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._group = entry_point_group
        self._modules = modules
        self._loaded = False

    def register(self, name: str, entry: T) -> T:
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = entry
        return entry

    def decorator(self, name: str) -> Callable[[T], T]:
        """`@REGISTRY.decorator("name")` registers the decorated object."""
        return lambda entry: self.register(name, entry)

    def _load_entry_points(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._modules:
            importlib.import_module(module)
        if self._group is not None:
            for ep in entry_points(group=self._group):
                ep.load()  # importing the module registers its components

    def get(self, name: str, key_path: str = "") -> T:
        """The entry called `name`; a ConfigError naming `key_path` if there is none."""
        self._load_entry_points()
        if name not in self._entries:
            close = difflib.get_close_matches(name, list(self._entries), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(key_path, f"unknown {self.kind} '{name}'.{hint} "
                              f"Registered: {', '.join(sorted(self._entries))}.")
        return self._entries[name]

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


class Agent(Protocol):
    """What every agent object offers: acting, learning from a batch, and its checkpoint state."""

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Actions for a batch of observations (greedy / deterministic when `explore` is False)."""

    def update(self, batch: Any) -> dict[str, float]:
        """One learning step; returns statistics (logged as losses/<name>) and never logs itself."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: networks, optimizer, counters, RNG state."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict()` output (networks alone are enough for evaluation)."""


@dataclass(frozen=True)
class AgentSpec:
    """What the platform needs to know about an agent.

    `train(run)` runs the training loop on a :class:`rl_platform.run.Run`;
    `make_agent(cfg, envs, device)` rebuilds the agent (with `act`, `load_state_dict`) for `rlp eval`;
    `report(cfg, agent, envs)`, if given, adds figures to `rlp eval`'s output (e.g. the gap to an exact optimum);
    `label(agent_cfg)`, if given, names the agent in run directory names (default: `name`).
    """

    name: str
    config_cls: type
    train: Callable[[Any], dict[str, float]]
    make_agent: Callable[..., Agent]
    description: str
    report: Callable[..., dict[str, Any]] | None = None
    label: Callable[[Any], str] | None = None


AGENTS: Registry[AgentSpec] = Registry("agent", entry_point_group="rl_platform.agents")
ENCODERS: Registry[Callable[..., Any]] = Registry("encoder", modules=("rl_platform.nn",))
HEADS: Registry[Callable[..., Any]] = Registry("head", modules=("rl_platform.nn",))
