"""Name -> spec registries: agents and components (encoders, heads, world models, objectives).

The core never imports a concrete agent or component: built-in and third-party ones are found through
entry-point groups (`rl_platform.agents`, `rl_platform.encoders`, ...; the built-ins are declared in
pyproject.toml like a plugin's). An entry point names a module that registers its specs when imported:

    [project.entry-points."rl_platform.encoders"]
    my_encoder = "my_package.encoders"      # the module calls ENCODERS.register("my_encoder", ComponentSpec(...))

A lookup imports the entry points of that name first (so a broken plugin only breaks its own name), then
all of them; `names()` imports all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rl_platform.errors import ConfigError, UserError
from rl_platform.options import did_you_mean

if TYPE_CHECKING:
    from rl_platform.policy import Policy

T = TypeVar("T")


class Registry(Generic[T]):
    """Named specs of one kind, loaded lazily from an entry-point group, with did-you-mean errors."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, T] = {}
        self._loaded: set[tuple[str, str]] = set()  # (name, value) of the entry points imported

    def register(self, name: str, entry: T) -> T:
        """Add `entry` under `name`; a different entry under a taken name is a ValueError."""
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = entry
        return entry

    def _load(self, name: str | None = None) -> None:
        """Import the not yet imported entry points called `name` (all if None)."""
        for ep in entry_points(group=self.group):
            if (name is None or ep.name == name) and (ep.name, ep.value) not in self._loaded:
                self._loaded.add((ep.name, ep.value))
                self._import(ep)

    def _import(self, ep: EntryPoint) -> None:
        try:
            ep.load()  # importing the module registers its specs
        except Exception as exc:
            raise UserError(f"cannot load {self.kind} '{ep.name}' from entry point '{ep.value}' (group "
                            f"{self.group}): {type(exc).__name__}: {exc}") from exc

    def get(self, name: str, key_path: str = "") -> T:
        """The entry called `name`; a ConfigError naming `key_path` if there is none."""
        if name not in self._entries:
            self._load(name)
        if name not in self._entries:
            self._load()
        if name not in self._entries:
            hint = did_you_mean(name, self._entries)
            registered = ", ".join(sorted(self._entries)) or (
                f"none (no entry points in group '{self.group}': is rl_platform installed, "
                "e.g. `pip install -e .`?)")
            raise ConfigError(key_path, f"unknown {self.kind} '{name}'.{hint} Registered: {registered}.")
        return self._entries[name]

    def names(self) -> list[str]:
        """Every registered name (imports all entry points of the group)."""
        self._load()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


@dataclass(frozen=True)
class ComponentSpec:
    """A pluggable part: its options are `config_cls` (a dataclass of `option(...)` fields) and `build` makes it.

    What `build` takes depends on the registry: an encoder's `build(observation_space, config)` returns an
    `nn.Module` with an `out_dim` attribute (its feature width); a head's `build(in_dim, action_space, config)`
    returns an `nn.Module` on features of width `in_dim`. `config` is an instance of `config_cls`.
    """

    name: str
    config_cls: type
    build: Callable[..., Any]
    description: str


@dataclass(frozen=True)
class AgentSpec:
    """What the platform needs to know about an agent.

    `train(run)` trains within a :class:`rl_platform.run.Run` (usually `fit(run, SomeTrainLoop(run))`, see
    :mod:`rl_platform.trainer`) and returns the metrics;
    `make_agent(cfg, envs, device)` rebuilds the agent for `rlp eval`: a :class:`rl_platform.policy.Policy`
    with `load_state_dict` (restoring the `"agent"` entry of a checkpoint);
    `report(cfg, agent, envs)`, if given, adds figures to `rlp eval`'s output (e.g. the gap to an exact optimum);
    `label(agent_cfg)`, if given, names the agent in run directory names (default: `name`);
    `pretrain_network(agent)`, if given, names the parts of a `make_agent` agent's network that `rlp pretrain`
    trains (an :class:`rl_platform.objectives.AgentNetwork`); agents without it cannot be pretrained.
    """

    name: str
    config_cls: type
    train: Callable[[Any], dict[str, float]]
    make_agent: Callable[..., Policy]
    description: str
    report: Callable[..., dict[str, Any]] | None = None
    label: Callable[[Any], str] | None = None
    pretrain_network: Callable[[Any], Any] | None = None


AGENTS: Registry[AgentSpec] = Registry("agent", "rl_platform.agents")
ENCODERS: Registry[ComponentSpec] = Registry("encoder", "rl_platform.encoders")
HEADS: Registry[ComponentSpec] = Registry("head", "rl_platform.heads")
WORLD_MODELS: Registry[ComponentSpec] = Registry("world model", "rl_platform.world_models")
OBJECTIVES: Registry[ComponentSpec] = Registry("objective", "rl_platform.objectives")
DISCRIMINATORS: Registry[ComponentSpec] = Registry("discriminator", "rl_platform.discriminators")
COMPONENTS: tuple[Registry[ComponentSpec], ...] = (ENCODERS, HEADS, WORLD_MODELS, OBJECTIVES, DISCRIMINATORS)
