"""Component fields of a config: a registered part named and configured in one key.

`model.encoder: cnn` (the short form) and `model.encoder: {name: cnn, channels: [16, 32]}` both parse to a
:class:`Component`: the name and an instance of the component's config dataclass
(:attr:`rl_platform.registry.ComponentSpec.config_cls`), its options checked like every other key (unknown
option -> did-you-mean, wrong type, out of range). A component field may also accept old flat keys
(:class:`Alias`, e.g. `model.cnn_channels` for `model.encoder.channels`), so configs written before the
nested form still load.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rl_platform.errors import ConfigError
from rl_platform.options import parse_dataclass, to_plain
from rl_platform.registry import Registry


@dataclass
class Component:
    """A chosen component: its registered `name` and its `options` (an instance of its config dataclass)."""

    name: str
    options: Any

    def to_dict(self) -> dict[str, Any]:
        """`{"name": ..., **options}`, the nested form a config file and a run's config.yaml use."""
        return {"name": self.name, **to_plain(self.options)}


@dataclass
class NoOptions:
    """The config of a component that has no options."""


@dataclass(frozen=True)
class Alias:
    """An old flat key for a component option. `unused` is the value old configs wrote when the option did not
    apply (every resolved config held every flat key); such a key is ignored for a component without it."""

    option: str
    unused: Any


def component_option(registry: Registry, default: str | None, doc: str,
                     aliases: Mapping[str, Alias] | None = None) -> Any:
    """A config field holding a :class:`Component` of `registry` (`default`: a name, or None for none)."""
    aliases = dict(aliases or {})
    parse = functools.partial(parse_component, registry, default=default, aliases=aliases)
    metadata = {"doc": doc, "component": registry, "aliases": aliases, "parse": parse}
    if default is None:
        return field(default=None, metadata=metadata)
    return field(default_factory=lambda: parse_component(registry, default, ""), metadata=metadata)


def parse_component(registry: Registry, value: Any, path: str, legacy: Mapping[str, Any] | None = None, *,
                    default: str | None = None, aliases: Mapping[str, Alias] | None = None) -> Component | None:
    """A :class:`Component` from a name or a `{name: ..., **options}` mapping (missing: `default`).

    `legacy` holds old flat keys found next to the field (e.g. `{"cnn_channels": [16]}`), mapped through
    `aliases` into the component's options; errors name the key as the user wrote it."""
    kind = registry.kind
    if value is dataclasses.MISSING:
        value = default
    if value is None and default is None and not legacy:
        return None
    if isinstance(value, str):
        name, options, name_path = value, {}, path
    elif isinstance(value, dict):
        options = dict(value)
        name, name_path = options.pop("name", default), f"{path}.name"
        if name is None:
            raise ConfigError(name_path, f"missing: which {kind}? Registered: {', '.join(registry.names())}.")
        if not isinstance(name, str):
            raise ConfigError(name_path, f"expected a {kind} name (str), got {name!r}.")
    else:
        raise ConfigError(path, f"expected a {kind} name or a mapping {{name: <{kind}>, <option>: ...}}, "
                          f"got {value!r}.")
    spec = registry.get(name, name_path)
    known = {f.name for f in dataclasses.fields(spec.config_cls)}
    section = path.rpartition(".")[0]
    written_as: dict[str, str] = {}  # option -> the old key path it came from
    for key, raw in (legacy or {}).items():
        alias, key_path = (aliases or {})[key], f"{section}.{key}" if section else key
        if alias.option in options:
            raise ConfigError(key_path, f"sets the same option as '{path}.{alias.option}'; keep one "
                              f"(the nested form, '{path}.{alias.option}').")
        if alias.option in known:
            options[alias.option] = raw
            written_as[alias.option] = key_path
        elif raw != alias.unused:
            raise ConfigError(key_path, f"the '{name}' {kind} has no option '{alias.option}' ('{key}' is the old "
                              f"name of '{path}.{alias.option}'); its options: {', '.join(sorted(known)) or 'none'}.")
    try:
        return Component(name, parse_dataclass(spec.config_cls, options, path, "option", f" of the '{name}' {kind}"))
    except ConfigError as exc:
        for option_name, key_path in written_as.items():
            if exc.key_path == f"{path}.{option_name}" or exc.key_path.startswith(f"{path}.{option_name}["):
                raise ConfigError(key_path + exc.key_path[len(path) + 1 + len(option_name):], exc.detail) from None
        raise


def normalize_components(obj: Any, section: str) -> None:
    """Parse the component fields of config dataclass `obj` (the `section` of a config) that were given as a
    name or a mapping, in place: the Python API's `ModelConfig(encoder="cnn")` and
    `ModelConfig(encoder={"name": "cnn", "channels": [8]})`."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if "component" in f.metadata and value is not None and not isinstance(value, Component):
            setattr(obj, f.name, f.metadata["parse"](value, f"{section}.{f.name}"))
