"""Experiment configs: YAML + dotted overrides -> typed, validated dataclasses.

Every field is declared with :func:`option`, which carries its documentation and its valid range,
so one generic parser can reject unknown keys, wrong types and bad values, naming the key path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib.resources
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rl_platform.errors import ConfigError, UserError

SECTIONS = ("agent", "env", "model", "train", "log")


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


@dataclass
class EnvConfig:
    """Which environment to build and how to vectorize it."""

    id: str = option("CartPole-v1", "Gymnasium id (e.g. 'CartPole-v1') or 'package.module:factory'")
    num_envs: int = option(1, "number of parallel environments in the vector env", ge=1)
    kwargs: dict = option({}, "keyword arguments passed to the env constructor")
    vectorization: str = option(
        "auto",
        "how Gymnasium ids are vectorized: 'auto' uses the env's own vector implementation "
        "when it has one, else 'sync'",
        choices=("auto", "sync", "async", "vector_entry_point"),
    )
    history: int = option(
        1,
        "observations per agent input: K > 1 stacks each env's last K observations (oldest first) into "
        "shape (K, *obs_shape), restarting the stack at every episode start; 1 is off",
        ge=1,
    )


@dataclass
class ModelConfig:
    """Network: model = head(encoder(obs))."""

    encoder: str = option("mlp", "registered encoder name: mlp, cnn, transformer, or a plugin's (see `rlp list`)")
    hidden_sizes: list[int] = option([64, 64], "mlp: widths of the hidden layers")
    activation: str = option("relu", "mlp and cnn: activation function", choices=("relu", "tanh", "gelu"))
    cnn_channels: list[int] = option(
        [], "cnn: output channels of each conv layer; [] picks a layout by image size (see cnn_kernels)")
    cnn_kernels: list[int] = option(
        [], "cnn: square kernel size of each conv layer; [] with the other two [] picks Nature-CNN "
        "(32, 64, 64 channels; kernels 8, 4, 3; strides 4, 2, 1) for images of 36 x 36 and up, "
        "else two 3 x 3 stride-1 layers of 16 and 32 channels (MinAtar's 10 x 10 frames)")
    cnn_strides: list[int] = option([], "cnn: stride of each conv layer ([]: see cnn_kernels)")
    features_dim: int = option(256, "cnn: width of the linear layer after the convolutions (the features)", ge=1)
    transformer_layers: int = option(2, "transformer: number of (pre-LayerNorm) encoder layers", ge=1)
    transformer_width: int = option(64, "transformer: token width d_model (also the features' width)", ge=1)
    transformer_heads: int = option(4, "transformer: attention heads; must divide transformer_width", ge=1)
    transformer_ff_width: int = option(128, "transformer: hidden width of each layer's feed-forward block", ge=1)
    transformer_dropout: float = option(0.0, "transformer: dropout rate in attention and feed-forward", ge=0, lt=1)
    transformer_causal: bool = option(
        True, "transformer: tokens attend only to earlier tokens and the features are the last token's; "
        "false: full attention and the features are the mean over tokens")
    patch_size: int = option(
        0, "transformer: 0 makes each entry along the observation's first axis (a frame of env.history) "
        "one token; p > 0 cuts an image observation (..., H, W) into p x p patches, one token each", ge=0)

    def __post_init__(self) -> None:
        layout = {"cnn_channels": self.cnn_channels, "cnn_kernels": self.cnn_kernels,
                  "cnn_strides": self.cnn_strides}
        for key, values in layout.items():
            if any(value < 1 for value in values):
                raise ConfigError(f"model.{key}", f"every entry must be at least 1, got {values}.")
        lengths = {len(values) for values in layout.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{key} has {len(values)}" for key, values in layout.items())
            raise ConfigError("model.cnn_channels", f"cnn_channels, cnn_kernels and cnn_strides need one entry "
                              f"per conv layer each (or all three []); {shown}.")
        if self.transformer_width % self.transformer_heads:
            raise ConfigError("model.transformer_heads", f"{self.transformer_heads} heads do not divide "
                              f"transformer_width {self.transformer_width}.")


@dataclass
class TrainConfig:
    """Length of training, evaluation, checkpoints and compute settings."""

    total_steps: int = option(100_000, "environment steps to train for (all envs together)", ge=1)
    eval_every: int = option(10_000, "environment steps between greedy evaluations (0: final only)", ge=0)
    eval_episodes: int = option(20, "episodes per greedy evaluation", ge=1)
    stop_return: float | None = option(
        None, "stop once a periodic greedy evaluation reaches this mean return, confirmed (null: never)"
    )
    stop_confirm_episodes: int = option(
        100, "an evaluation that reaches stop_return is confirmed on this many fresh episodes (other seeds) "
        "before training stops; below stop_return training goes on (0: stop on the periodic evaluation alone)",
        ge=0)
    checkpoint_every: int = option(25_000, "environment steps between checkpoints (0: final only)", ge=0)
    save_buffer: bool = option(True, "also checkpoint the replay buffer, so a resume loses nothing")
    device: str = option("cpu", "torch device", choices=("cpu", "cuda", "auto"))
    torch_threads: int = option(1, "torch intra-op threads (small nets are fastest with 1)", ge=1)


@dataclass
class LogConfig:
    """Where runs go and how much is printed."""

    dir: str = option("runs", "parent directory of run directories")
    log_every: int = option(1_000, "environment steps between TensorBoard scalar writes", ge=1)


@dataclass
class ExperimentConfig:
    """A whole experiment. `agent` holds the agent's own config dataclass, named by `agent_name`."""

    agent_name: str
    agent: Any
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict in the YAML layout (agent name first in its section)."""
        return {
            "seed": self.seed,
            "agent": {"name": self.agent_name, **dataclasses.asdict(self.agent)},
            "env": dataclasses.asdict(self.env),
            "model": dataclasses.asdict(self.model),
            "train": dataclasses.asdict(self.train),
            "log": dataclasses.asdict(self.log),
        }

    def flat(self) -> dict[str, Any]:
        """`{'agent.lr': ..., 'seed': ...}` for hparams and printing."""
        out: dict[str, Any] = {}
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                out.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out


# ---------------------------------------------------------------------------------------------
# Generic typed parsing


# Names other libraries (Stable-Baselines3, CleanRL) use for our keys; spelling is no guide here
# (difflib would suggest 'learning_starts' for 'learning_rate').
_SYNONYMS = {"learning_rate": "lr", "discount": "gamma", "n_envs": "num_envs", "env_id": "id"}


def _did_you_mean(name: str, candidates: typing.Iterable[str]) -> str:
    candidates = list(candidates)
    if _SYNONYMS.get(name) in candidates:
        return f" Did you mean '{_SYNONYMS[name]}'?"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check `value` against annotation `tp` (int, float, bool, str, list[T], dict, X | None)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], path)
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
            return [_coerce(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    elif origin is dict or tp is dict:
        if isinstance(value, dict):
            return dict(value)
    elif tp is Any:
        return value
    shown = "null" if value is None else repr(value)
    raise ConfigError(path, f"expected {_type_name(tp)}, got {shown} ({type(value).__name__}).")


def _check_range(value: Any, meta: typing.Mapping[str, Any], path: str) -> None:
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


def parse_dataclass(cls: type, data: Any, path: str) -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown keys, wrong types and bad values."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping of keys to values, got {data!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise ConfigError(key_path, f"unknown key.{_did_you_mean(str(key), fields)} "
                              f"Valid keys under '{path}': {', '.join(sorted(fields))}.")
        coerced = _coerce(value, hints[key], key_path)
        _check_range(coerced, fields[key].metadata, key_path)
        kwargs[key] = coerced
    return cls(**kwargs)


def describe(cls: type) -> list[tuple[str, Any, str]]:
    """(name, default, doc) for each field of a config dataclass, for `rlp list` and docs."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        rows.append((f.name, default, f.metadata.get("doc", "")))
    return rows


# ---------------------------------------------------------------------------------------------
# Files and overrides


def bundled_config_path(name: str) -> Path | None:
    """Path of a config shipped with the package (`dqn_cartpole` or `dqn_cartpole.yaml`)."""
    filename = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    candidate = importlib.resources.files("rl_platform.configs").joinpath(Path(filename).name)
    return Path(str(candidate)) if candidate.is_file() else None


def bundled_config_names() -> list[str]:
    root = importlib.resources.files("rl_platform.configs")
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".yaml"))


DEFAULT_CONFIG = "dqn_cartpole.yaml"


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file; a missing file falls back to a bundled config of the same name."""
    file = Path(path)
    if not file.is_file():
        bundled = bundled_config_path(str(path))
        if bundled is None:
            names = [name.removesuffix(".yaml") for name in bundled_config_names()]
            wanted = Path(str(path)).name.removesuffix(".yaml").removesuffix(".yml")
            close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UserError(f"cannot read config file '{path}': no such file.{hint} "
                            f"Bundled configs: {', '.join(names)}.")
        file = bundled
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config file '{path}': {exc}") from None
    except yaml.YAMLError as exc:  # one line: where, and what (str(exc) spans several lines)
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise UserError(f"cannot read config file '{path}': invalid YAML{where}: {problem}.") \
            from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file '{path}' must hold a mapping (sections agent, env, ...).")
    return data


def apply_overrides(data: dict[str, Any], overrides: typing.Sequence[str]) -> dict[str, Any]:
    """Apply `key.path=value` strings (values parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"override '{item}' is not of the form key.path=value "
                            "(e.g. agent.lr=5e-4 env.num_envs=16 seed=3).")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if isinstance(child, str) and depth == 0 and part == "agent":
                child = {"name": child}
            if child is None:
                child = {}
            if not isinstance(child, dict):
                raise ConfigError(".".join(parts[: depth + 1]), "is a value, not a section.")
            node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def build_config(data: dict[str, Any], agent_config_cls: typing.Callable[[str], type]) -> ExperimentConfig:
    """Validate a raw nested dict into an ExperimentConfig.

    `agent_config_cls(name)` returns the agent's config dataclass (raising for unknown names).
    """
    unknown = set(data) - set(SECTIONS) - {"seed"}
    for key in sorted(unknown, key=str):  # YAML keys need not be strings
        raise ConfigError(str(key), f"unknown top-level key.{_did_you_mean(str(key), [*SECTIONS, 'seed'])} "
                          f"Valid: seed, {', '.join(SECTIONS)}.")
    agent_data = data.get("agent", "dqn")
    if isinstance(agent_data, str):
        agent_data = {"name": agent_data}
    if not isinstance(agent_data, dict):
        raise ConfigError("agent", f"expected an agent name or a mapping, got {agent_data!r}.")
    agent_data = dict(agent_data)
    name = agent_data.pop("name", "dqn")
    if not isinstance(name, str):
        raise ConfigError("agent.name", f"expected str, got {name!r}.")
    agent_cls = agent_config_cls(name)
    seed = _coerce(data.get("seed", 0), int, "seed")
    _check_range(seed, {"ge": 0}, "seed")
    return ExperimentConfig(
        agent_name=name,
        agent=parse_dataclass(agent_cls, agent_data, "agent"),
        env=parse_dataclass(EnvConfig, data.get("env"), "env"),
        model=parse_dataclass(ModelConfig, data.get("model"), "model"),
        train=parse_dataclass(TrainConfig, data.get("train"), "train"),
        log=parse_dataclass(LogConfig, data.get("log"), "log"),
        seed=seed,
    )


def dump_yaml(cfg: ExperimentConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
