"""Typed, documented config options: `option(...)` fields and the one parser that checks them.

Every config field (sections, agents, components) is declared with :func:`option`, which carries its
documentation and its valid range, so :func:`parse_dataclass` can reject unknown keys, wrong types and bad
values, naming the key path. A field whose metadata has a `parse` function (a component, see
:mod:`rl_platform.components`) is parsed by it instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import types
import typing
from dataclasses import field
from typing import Any

from rl_platform.errors import ConfigError


def option(
    default: Any,
    doc: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A config field: default, one-line documentation and the constraints its value must meet."""
    metadata = {"doc": doc, "gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


# Names other libraries (Stable-Baselines3, CleanRL) use for our keys; spelling is no guide here
# (difflib would suggest 'learning_starts' for 'learning_rate').
_SYNONYMS = {"learning_rate": "lr", "discount": "gamma", "n_envs": "num_envs", "env_id": "id"}


def did_you_mean(name: str, candidates: typing.Iterable[str]) -> str:
    """' Did you mean 'x'?' for the closest candidate (or a known synonym), else ''."""
    candidates = list(candidates)
    if _SYNONYMS.get(name) in candidates:
        return f" Did you mean '{_SYNONYMS[name]}'?"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def coerce(value: Any, tp: Any, path: str) -> Any:
    """Check `value` against annotation `tp` (int, float, bool, str, list[T], dict, X | None)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], path)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):  # PyYAML reads "1e5" as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML reads "5e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list or tp is list:
        if isinstance(value, (list, tuple)):
            (item_tp,) = typing.get_args(tp) or (Any,)
            return [coerce(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    elif origin is dict or tp is dict:
        if isinstance(value, dict):
            return dict(value)
    elif tp is Any:
        return value
    shown = "null" if value is None else repr(value)
    raise ConfigError(path, f"expected {_type_name(tp)}, got {shown} ({type(value).__name__}).")


def check_range(value: Any, meta: typing.Mapping[str, Any], path: str) -> None:
    """Raise a ConfigError naming `path` if `value` breaks the field's choices or bounds."""
    if value is None:
        return
    if meta.get("choices") is not None and value not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        raise ConfigError(path, f"{value!r} is not one of {allowed}.")
    bounds = (("gt", "greater than", lambda v, b: v > b), ("ge", "at least", lambda v, b: v >= b),
              ("lt", "less than", lambda v, b: v < b), ("le", "at most", lambda v, b: v <= b))
    for key, words, ok in bounds:
        bound = meta.get(key)
        if bound is not None and not ok(value, bound):
            raise ConfigError(path, f"must be {words} {bound}, got {value!r}.")


def parse_dataclass(cls: type, data: Any, path: str, what: str = "key", owner: str = "") -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown keys, wrong types and bad values.

    A field's metadata may name `aliases` (old key names parsed into it) and a `parse(value, path, aliases)`
    function that replaces the generic type check. `what` and `owner` word the unknown-key error
    ("unknown option of the 'cnn' encoder"). A ConfigError that `cls.__post_init__` raises naming one of
    its fields by its bare name is re-raised with the full key path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping of keys to values, got {data!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    alias_of = {alias: name for name, f in fields.items() for alias in f.metadata.get("aliases", {})}
    kwargs: dict[str, Any] = {}
    aliased: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key in alias_of:
            aliased.setdefault(alias_of[key], {})[key] = value
        elif key not in fields:
            raise ConfigError(key_path, f"unknown {what}{owner}.{did_you_mean(str(key), fields)} "
                              f"Valid {what}s under '{path}': {', '.join(sorted(fields)) or 'none'}.")
        elif "parse" not in fields[key].metadata:
            coerced = coerce(value, hints[key], key_path)
            check_range(coerced, fields[key].metadata, key_path)
            kwargs[key] = coerced
    for name, f in fields.items():
        if "parse" in f.metadata and (name in data or name in aliased):
            kwargs[name] = f.metadata["parse"](data.get(name, dataclasses.MISSING), f"{path}.{name}",
                                               aliased.get(name, {}))
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if exc.key_path not in fields:
            raise
        raise ConfigError(f"{path}.{exc.key_path}", exc.detail) from None


def default_of(f: dataclasses.Field) -> Any:
    """The default value of a dataclass field (calling its default factory)."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def to_plain(value: Any) -> Any:
    """A config value as YAML writes it: dataclasses as dicts, objects with `to_dict()` (components) by it."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def describe(cls: type) -> list[tuple[str, Any, str]]:
    """(name, default as YAML writes it, doc) for each field of a config dataclass, for `rlp list` and docs."""
    return [(f.name, to_plain(default_of(f)), f.metadata.get("doc", "")) for f in dataclasses.fields(cls)]
