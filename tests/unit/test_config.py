"""Experiment configs, in-process: YAML + dotted overrides -> typed, validated, documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rl_platform.config import (
    EnvConfig,
    ExperimentConfig,
    LogConfig,
    ModelConfig,
    TrainConfig,
    bundled_config_names,
    describe,
    dump_yaml,
    parse_dataclass,
    read_yaml,
)
from rl_platform.errors import ConfigError, UserError
from rl_platform.experiment import apply_overrides, config_from_dict, load_experiment
from rl_platform.options import to_plain
from rl_platform.registry import AGENTS, COMPONENTS

SECTION_CLASSES = {"env": EnvConfig, "model": ModelConfig, "train": TrainConfig, "log": LogConfig}


def all_config_classes() -> dict[str, type]:
    """Every option() dataclass: the fixed sections, each registered agent's config and each component's."""
    agents = {f"agent[{name}]": AGENTS.get(name).config_cls for name in AGENTS.names()}
    components = {f"{registry.kind}[{name}]": registry.get(name).config_cls
                  for registry in COMPONENTS for name in registry.names()}
    return {**SECTION_CLASSES, **agents, **components}


# -- overrides ------------------------------------------------------------------------------


def test_dotted_overrides_set_nested_values():
    cfg = load_experiment(None, ["agent.lr=5e-4", "env.num_envs=16", "seed=3"])
    assert cfg.agent.lr == 5e-4 and type(cfg.agent.lr) is float
    assert cfg.env.num_envs == 16 and type(cfg.env.num_envs) is int
    assert cfg.seed == 3
    # everything else still comes from the bundled default config
    default = load_experiment(None)
    assert cfg.agent.gamma == default.agent.gamma
    assert cfg.model == default.model
    assert cfg.train == default.train


def test_overrides_do_not_leak_into_later_loads():
    before = load_experiment(None)
    assert before.agent.lr != 5e-4 and before.model.encoder.options.hidden_sizes != [8]
    load_experiment(None, ["agent.lr=5e-4", "model.hidden_sizes=[8]"])
    again = load_experiment(None)
    assert again.agent.lr == before.agent.lr
    assert again.model.encoder.options.hidden_sizes == before.model.encoder.options.hidden_sizes


def test_later_override_wins():
    assert load_experiment(None, ["seed=1", "seed=2"]).seed == 2


def test_apply_overrides_builds_nested_dicts_and_parses_values_as_yaml():
    data: dict = {"env": {"id": "CartPole-v1"}}
    out = apply_overrides(data, [
        "env.kwargs.max_episode_steps=50", "train.stop_return=null", "agent.double=false",
        "model.hidden_sizes=[32, 16]", "log.dir=a=b", "env.id=CartPole-v1", "seed=7",
    ])
    assert out is data  # in place
    assert data == {
        "env": {"id": "CartPole-v1", "kwargs": {"max_episode_steps": 50}},
        "train": {"stop_return": None},
        "agent": {"double": False},
        "model": {"hidden_sizes": [32, 16]},
        "log": {"dir": "a=b"},  # split at the first '='
        "seed": 7,
    }


def test_override_into_agent_short_form_keeps_the_name():
    data = apply_overrides({"agent": "dqn"}, ["agent.lr=1e-4"])
    assert data == {"agent": {"name": "dqn", "lr": "1e-4"}}
    cfg = config_from_dict(data)
    assert cfg.agent_name == "dqn" and cfg.agent.lr == 1e-4


@pytest.mark.parametrize("bad", ["agent.lr", "=3", ""])
def test_malformed_override_is_a_user_error(bad):
    with pytest.raises(UserError, match="key.path=value"):
        apply_overrides({}, [bad])


def test_override_through_a_value_names_the_key():
    with pytest.raises(ConfigError) as info:
        apply_overrides({"seed": 1}, ["seed.x=2"])
    assert info.value.key_path == "seed"


# -- typed parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["5e-4", "5.0e-4", 5e-4, "0.0005"])
def test_float_field_accepts_yaml_exponent_strings(raw):
    # PyYAML (YAML 1.1) reads 5e-4 as the *string* '5e-4'; it must still be a float.
    cfg = config_from_dict({"agent": {"name": "dqn", "lr": raw}})
    assert cfg.agent.lr == pytest.approx(5e-4) and type(cfg.agent.lr) is float


def test_exponent_in_a_yaml_file_is_a_float(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text("agent:\n  name: dqn\n  lr: 5e-4\n")
    assert read_yaml(path)["agent"]["lr"] == "5e-4"  # what PyYAML gives us
    assert load_experiment(path).agent.lr == 5e-4


def test_numbers_are_widened_and_narrowed_only_when_exact():
    cfg = config_from_dict({"agent": {"lr": 1}, "train": {"total_steps": 1000.0}})
    assert type(cfg.agent.lr) is float and cfg.agent.lr == 1.0
    assert type(cfg.train.total_steps) is int and cfg.train.total_steps == 1000
    with pytest.raises(ConfigError, match="expected int") as info:
        config_from_dict({"train": {"total_steps": 1000.5}})
    assert info.value.key_path == "train.total_steps"


@pytest.mark.parametrize(("data", "key_path"), [
    ({"agent": {"learning_rate": 1e-3}}, "agent.learning_rate"),
    ({"optimizer": {}}, "optimizer"),
    ({"env": {"num_envs": "abc"}}, "env.num_envs"),
    ({"env": {"num_envs": True}}, "env.num_envs"),  # bools are not ints
    ({"agent": {"double": 3}}, "agent.double"),
    ({"agent": {"lr": -0.1}}, "agent.lr"),
    ({"agent": {"gamma": 1.5}}, "agent.gamma"),
    ({"env": {"num_envs": 0}}, "env.num_envs"),
    ({"model": {"hidden_sizes": [64, "x"]}}, "model.hidden_sizes[1]"),
    ({"model": {"activation": "sigmoid"}}, "model.activation"),
    ({"seed": True}, "seed"),
    ({"seed": -1}, "seed"),
    ({"agent": {"name": "dqm"}}, "agent.name"),
    ({"agent": 3}, "agent"),
    ({"model": {"encoder": "mlpp"}}, "model.encoder"),
    ({"model": {"encoder": {"name": "mlpp"}}}, "model.encoder.name"),
    ({"model": {"encoder": {"name": "mlp", "hidden_sizes": [64, "x"]}}}, "model.encoder.hidden_sizes[1]"),
    ({"model": {"encoder": {"name": "cnn", "chanels": [8]}}}, "model.encoder.chanels"),
    ({"model": {"encoder": {"name": "mlp", "activation": "sigmoid"}}}, "model.encoder.activation"),
    ({"model": {"encoder": 3}}, "model.encoder"),
    ({"model": {"head": "qq"}}, "model.head"),
    ({"model": {"head": {"hidden": 3}}}, "model.head.name"),
    ({"model": {"init_modules": "encoder"}}, "model.init_modules"),
    ({"model": {"freeze": [1]}}, "model.freeze[0]"),
    ({"env": {"id": "CartPol-v1"}}, "env.id"),
    ({"env": []}, "env"),
])
def test_bad_values_raise_config_error_with_key_path(data, key_path):
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.key_path == key_path
    assert str(info.value).startswith(f"config key '{key_path}': ")


def test_did_you_mean_uses_synonyms_and_spelling():
    with pytest.raises(ConfigError, match="Did you mean 'lr'"):
        config_from_dict({"agent": {"learning_rate": 1e-3}})
    with pytest.raises(ConfigError, match="Did you mean 'batch_size'"):
        config_from_dict({"agent": {"batch_sise": 32}})


def test_nullable_field_accepts_null():
    assert load_experiment(None, ["train.stop_return=null"]).train.stop_return is None
    assert load_experiment(None, ["train.stop_return=200"]).train.stop_return == 200.0


# -- agent short form and defaults ---------------------------------------------------------------


def test_agent_short_form():
    short = config_from_dict({"agent": "dqn"})
    long = config_from_dict({"agent": {"name": "dqn"}})
    assert short == long
    assert short.agent_name == "dqn"
    assert short.agent == AGENTS.get("dqn").config_cls()


def test_agent_short_form_in_a_yaml_file(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text("agent: dqn\nenv:\n  id: CartPole-v1\n")
    cfg = load_experiment(path, ["agent.gamma=0.9"])
    assert cfg.agent_name == "dqn" and cfg.agent.gamma == 0.9


def test_empty_config_is_all_defaults(tmp_path: Path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    cfg = load_experiment(path)
    assert cfg == config_from_dict({})
    assert cfg.agent_name == "dqn"
    assert cfg.env == EnvConfig() and cfg.model == ModelConfig()
    assert cfg.train == TrainConfig() and cfg.log == LogConfig() and cfg.seed == 0


def test_bundled_config_is_found_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "dqn_cartpole.yaml" in bundled_config_names()
    by_name = load_experiment("dqn_cartpole")
    assert by_name == load_experiment("dqn_cartpole.yaml") == load_experiment(None)
    assert by_name.env.id == "rlp/CartPole-v1"


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [
    [],
    ["agent.lr=5e-4", "env.num_envs=16", "seed=3"],
    ["train.stop_return=null", "env.kwargs.max_episode_steps=50", "model.hidden_sizes=[7]",
     "agent.dueling=true", "agent.loss=mse"],
    ["model.encoder=transformer", "model.encoder.width=32", "model.head=dueling_q", "model.freeze=[encoder]"],
    ["model.encoder={name: cnn, channels: [8], kernels: [3], strides: [1]}", "model.init_from=somewhere.pt"],
])
def test_to_dict_round_trips(overrides, tmp_path: Path):
    cfg = load_experiment(None, overrides)
    data = cfg.to_dict()
    assert list(data["agent"])[0] == "name"
    assert config_from_dict(data) == cfg
    # ... also through a YAML file, as a run directory stores it
    path = tmp_path / "config.yaml"
    dump_yaml(cfg, path)
    assert load_experiment(path) == cfg


def test_flat_names_every_key_by_its_path():
    cfg = load_experiment(None, ["agent.lr=5e-4"])
    flat = cfg.flat()
    assert flat["agent.lr"] == 5e-4 and flat["agent.name"] == "dqn" and flat["seed"] == 0
    assert flat["model.encoder.name"] == "mlp" and flat["model.encoder.hidden_sizes"] == [64, 64]
    assert flat["model.head"] is None
    components = {"model.encoder"}  # expanded into its name and each option
    expected = {"seed", "agent.name"} | {
        f"{section}.{f.name}"
        for section, obj in [("agent", cfg.agent), ("env", cfg.env), ("model", cfg.model),
                             ("train", cfg.train), ("log", cfg.log)]
        for f in dataclasses.fields(obj) if f"{section}.{f.name}" not in components
    } | {"model.encoder.name"} | {f"model.encoder.{f.name}" for f in dataclasses.fields(cfg.model.encoder.options)}
    assert set(flat) == expected


# -- documentation and defaults -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(all_config_classes()))
def test_every_field_is_documented(name):
    cls = all_config_classes()[name]
    rows = describe(cls)
    assert [row[0] for row in rows] == [f.name for f in dataclasses.fields(cls)]
    undocumented = [field for field, _, doc in rows if not (isinstance(doc, str) and doc.strip())]
    assert not undocumented, f"{name}: fields without a doc: {undocumented}"


@pytest.mark.parametrize("name", list(all_config_classes()))
def test_defaults_are_valid_and_match_describe(name):
    cls = all_config_classes()[name]
    default = cls()
    assert {field: value for field, value, _ in describe(cls)} == to_plain(default)
    # the defaults pass their own type and range checks
    assert parse_dataclass(cls, to_plain(default), name) == default


def test_mutable_defaults_are_not_shared():
    a, b = ModelConfig(), ModelConfig()
    a.encoder.options.hidden_sizes.append(1)
    assert b.encoder.options.hidden_sizes == [64, 64] and ModelConfig().encoder.options.hidden_sizes == [64, 64]
    a.init_modules.append("encoder")
    assert b.init_modules == [] and ModelConfig().freeze == []
    assert EnvConfig().kwargs is not EnvConfig().kwargs


def test_experiment_config_has_no_undocumented_sections():
    names = {f.name for f in dataclasses.fields(ExperimentConfig)}
    # pretrain (rl_platform.pretrain.PretrainConfig) is optional and has no valid defaults (steps or epochs)
    assert names == {"agent_name", "agent", *SECTION_CLASSES, "pretrain", "seed"}


@pytest.mark.parametrize("name", bundled_config_names())
def test_every_bundled_config_validates(name):
    cfg = load_experiment(name)
    assert (cfg.pretrain is not None) == name.startswith(("bc_", "pretrain_", "world_model_"))
