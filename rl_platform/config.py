"""Experiment configs: YAML + dotted overrides -> typed, validated dataclasses.

Every field is declared with :func:`option` (see :mod:`rl_platform.options`), which carries its documentation
and its valid range, so one generic parser can reject unknown keys, wrong types and bad values, naming the key
path. Components (`model.encoder`, `model.head`) take a registered name or `{name: ..., <option>: ...}`
(see :mod:`rl_platform.components`).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rl_platform.components import Alias, Component, component_option, normalize_components
from rl_platform.errors import ConfigError, UserError
from rl_platform.options import check_range, coerce, describe, did_you_mean, option, parse_dataclass, to_plain
from rl_platform.registry import ENCODERS, HEADS

__all__ = [
    "SECTIONS", "EnvConfig", "EvalEnvConfig", "ModelConfig", "TrainConfig", "LogConfig", "ExperimentConfig", "option",
    "parse_dataclass", "describe", "build_config", "apply_overrides", "read_yaml", "dump_yaml",
    "bundled_config_path", "bundled_config_names", "DEFAULT_CONFIG", "ENCODER_ALIASES",
]

SECTIONS = ("agent", "env", "model", "train", "log", "pretrain")  # pretrain: only in `rlp pretrain` configs


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
    reward_model: str | None = option(
        None, "an airl run directory: the training envs' reward becomes the reward it recovered, g(s); "
        "evaluations keep the env's own (null: the env's reward)")


# The flat model keys of configs written before the encoder took nested options (every resolved config.yaml
# held all of them), each with the encoder option it sets and its old default (ignored for an encoder without it).
ENCODER_ALIASES = {
    "hidden_sizes": Alias("hidden_sizes", [64, 64]),
    "activation": Alias("activation", "relu"),
    "cnn_channels": Alias("channels", []),
    "cnn_kernels": Alias("kernels", []),
    "cnn_strides": Alias("strides", []),
    "features_dim": Alias("features_dim", 256),
    "transformer_layers": Alias("layers", 2),
    "transformer_width": Alias("width", 64),
    "transformer_heads": Alias("heads", 4),
    "transformer_ff_width": Alias("ff_width", 128),
    "transformer_dropout": Alias("dropout", 0.0),
    "transformer_causal": Alias("causal", True),
    "patch_size": Alias("patch_size", 0),
}


@dataclass
class ModelConfig:
    """Network: model = head(encoder(obs)); encoder and head are components (`rlp list` shows their options)."""

    encoder: Component = component_option(
        ENCODERS, "mlp", "the encoder: a registered name (mlp, cnn, transformer, or a plugin's) or "
        "{name: <encoder>, <option>: ...} with its options", aliases=ENCODER_ALIASES)
    head: Component | None = component_option(
        HEADS, None, "the head: null is the agent's default (DQN: q, or dueling_q with agent.dueling; A3C's "
        "policy: categorical or gaussian by action space), else a registered head name or {name: <head>, ...}")
    init_from: str | None = option(
        None, "pretrained weights: a checkpoint file, or a run directory (its best, else latest checkpoint), to "
        "initialise the model from (null: random initialisation)")
    init_modules: list[str] = option(
        [], "the modules of the model to load from init_from (top-level or dotted names, e.g. [encoder]); "
        "[] loads the whole model")
    freeze: list[str] = option([], "modules whose parameters are not trained (e.g. [encoder]); [] trains all")

    def __post_init__(self) -> None:
        normalize_components(self, "model")


@dataclass
class EvalEnvConfig:
    """`train.eval_env`: the env of greedy evaluations when it is not the training env (a run trained inside a
    learned model, `rlp/WorldModel-v0`, is evaluated in the real env). Its spaces must be the training env's; its
    observation history is `env.history` and its number of envs the evaluation's own."""

    id: str | None = option(None, "Gymnasium id or 'package.module:factory' of the evaluation env (required)")
    kwargs: dict = option({}, "keyword arguments passed to its constructor")
    vectorization: str = option("auto", "how it is vectorized, as env.vectorization",
                                choices=("auto", "sync", "async", "vector_entry_point"))

    def __post_init__(self) -> None:
        if self.id is None:
            raise ConfigError("id", "missing: which env to evaluate in (e.g. rlp/CartPole-v1).")

    def env_config(self, env: EnvConfig, num_envs: int) -> EnvConfig:
        """The EnvConfig of `num_envs` evaluation envs for a run whose training env is `env`."""
        return EnvConfig(id=self.id, num_envs=num_envs, kwargs=dict(self.kwargs), vectorization=self.vectorization,
                         history=env.history)


def _parse_eval_env(value: Any, path: str, aliases: Any = None) -> EvalEnvConfig | None:
    """`train.eval_env`: null, an env id (the short form of {id: <id>}) or a mapping of EvalEnvConfig keys."""
    if value is None:
        return None
    return parse_dataclass(EvalEnvConfig, {"id": value} if isinstance(value, str) else value, path)


@dataclass
class TrainConfig:
    """Length of training, evaluation, checkpoints and compute settings."""

    total_steps: int = option(100_000, "environment steps to train for (all envs together)", ge=1)
    eval_every: int = option(10_000, "environment steps between greedy evaluations (0: final only)", ge=0)
    eval_episodes: int = option(20, "episodes per greedy evaluation", ge=1)
    eval_env: EvalEnvConfig | None = field(default=None, metadata={
        "doc": "the env of the greedy evaluations (periodic, final, and `rlp eval` of the run): null evaluates in "
        "`env`; else an env id or {id: ..., kwargs: {...}, vectorization: ...} of an env with the training env's "
        "spaces (e.g. the real env of a run trained in rlp/WorldModel-v0); its history is env.history, its number "
        "of envs the evaluation's",
        "parse": _parse_eval_env})
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

    def __post_init__(self) -> None:
        if isinstance(self.eval_env, dict):  # the Python API: TrainConfig(eval_env={"id": ...})
            self.eval_env = _parse_eval_env(self.eval_env, "train.eval_env")


@dataclass
class LogConfig:
    """Where runs go and how much is printed."""

    dir: str = option("runs", "parent directory of run directories")
    log_every: int = option(1_000, "environment steps between TensorBoard scalar writes", ge=1)


@dataclass
class ExperimentConfig:
    """A whole experiment. `agent` holds the agent's own config dataclass, named by `agent_name`; `pretrain`
    (a :class:`rl_platform.pretrain.PretrainConfig`) is set only in configs for `rlp pretrain`."""

    agent_name: str
    agent: Any
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    pretrain: Any = None
    seed: int = 0

    def sections(self) -> dict[str, Any]:
        """The section objects by name: agent, env, model, train, log, and pretrain if set."""
        sections = {"agent": self.agent, "env": self.env, "model": self.model, "train": self.train, "log": self.log}
        return sections if self.pretrain is None else {**sections, "pretrain": self.pretrain}

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict in the YAML layout (agent name first in its section; components nested)."""
        data: dict[str, Any] = {"seed": self.seed}
        for name, section in self.sections().items():
            data[name] = {"name": self.agent_name, **to_plain(section)} if name == "agent" else to_plain(section)
        return data

    def flat(self) -> dict[str, Any]:
        """`{'agent.lr': ..., 'model.encoder.name': 'cnn', 'model.encoder.channels': [...], ...}` for hparams,
        printing and comparing configs (a component's name and options each have their own key)."""
        out: dict[str, Any] = {"seed": self.seed, "agent.name": self.agent_name}
        for name, section in self.sections().items():
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                if isinstance(value, Component):
                    out.update({f"{name}.{f.name}.{key}": item for key, item in value.to_dict().items()})
                else:
                    out[f"{name}.{f.name}"] = to_plain(value)
        return out


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
            raise UserError(f"cannot read config file '{path}': no such file.{did_you_mean(wanted, names)} "
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


# Keys whose value may be a name standing for `{name: <value>}` (the short form), so `agent.lr=...` and
# `model.encoder.channels=...` also work on `agent: dqn` and `model.encoder: cnn`.
SHORT_FORMS = {"agent", "pretrain.objective", "pretrain.objective.model",  # the world_model objective's model
               "train.eval_env",  # an env id
               *(f"model.{f.name}" for f in dataclasses.fields(ModelConfig) if "component" in f.metadata)}


def _forget_other_spelling(data: dict[str, Any], parts: list[str]) -> None:
    """An override of an old flat model key or of its nested form removes the other one: the later wins."""
    model = data.get("model")
    if not isinstance(model, dict):
        return
    if len(parts) == 2 and parts[0] == "model" and parts[1] in ENCODER_ALIASES:
        if isinstance(model.get("encoder"), dict):
            model["encoder"].pop(ENCODER_ALIASES[parts[1]].option, None)
    elif len(parts) == 3 and parts[:2] == ["model", "encoder"]:
        for alias, target in ENCODER_ALIASES.items():
            if target.option == parts[2]:
                model.pop(alias, None)


def apply_overrides(data: dict[str, Any], overrides: typing.Sequence[str]) -> dict[str, Any]:
    """Apply `key.path=value` strings (values parsed as YAML) to a nested dict, in place.

    `model.encoder=cnn` replaces the encoder with its defaults (the previous encoder's options are dropped);
    `model.encoder.channels=[8]` sets one option and keeps the name."""
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
        _forget_other_spelling(data, parts)
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if isinstance(child, str) and ".".join(parts[: depth + 1]) in SHORT_FORMS:
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
        raise ConfigError(str(key), f"unknown top-level key.{did_you_mean(str(key), [*SECTIONS, 'seed'])} "
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
    seed = coerce(data.get("seed", 0), int, "seed")
    check_range(seed, {"ge": 0}, "seed")
    return ExperimentConfig(
        agent_name=name,
        agent=parse_dataclass(agent_cls, agent_data, "agent"),
        env=parse_dataclass(EnvConfig, data.get("env"), "env"),
        model=parse_dataclass(ModelConfig, data.get("model"), "model"),
        train=parse_dataclass(TrainConfig, data.get("train"), "train"),
        log=parse_dataclass(LogConfig, data.get("log"), "log"),
        pretrain=_pretrain_section(data),
        seed=seed,
    )


def _pretrain_section(data: dict[str, Any]) -> Any:
    """The `pretrain:` section (a PretrainConfig), or None for a config without one."""
    if "pretrain" not in data:
        return None
    from rl_platform.pretrain import PretrainConfig  # imported here: rl_platform.pretrain imports the trainer

    return parse_dataclass(PretrainConfig, data["pretrain"], "pretrain")


def dump_yaml(cfg: ExperimentConfig, path: Path) -> None:
    """Write the resolved config (every default written out, components nested) as YAML."""
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
