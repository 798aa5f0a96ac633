"""Components: `model.encoder` / `model.head` as a name or `{name: ..., <option>: ...}`, old flat keys, overrides,
heads in place of the agents' defaults, and discovery through entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import gymnasium as gym
import pytest
import torch
import yaml

from rl_platform import cli, experiment
from rl_platform.components import Component, NoOptions
from rl_platform.config import ModelConfig, apply_overrides, dump_yaml, parse_dataclass
from rl_platform.errors import ConfigError
from rl_platform.nn import (
    CNNConfig,
    DuelingQHead,
    GaussianHead,
    GaussianHeadConfig,
    QHead,
    TransformerConfig,
    build_actor_critic,
    build_q_network,
)
from rl_platform.registry import AGENTS, COMPONENTS, ENCODERS, HEADS, OBJECTIVES, WORLD_MODELS, Registry
from rl_platform.run_dir import resume_changes

BOX, DISCRETE = gym.spaces.Box(-1.0, 1.0, (4,)), gym.spaces.Discrete(3)
# model section of a config.yaml written before the nested form: every flat key, defaults included
OLD_CNN_MODEL = {
    "encoder": "cnn", "hidden_sizes": [64, 64], "activation": "relu", "cnn_channels": [16], "cnn_kernels": [3],
    "cnn_strides": [1], "features_dim": 128, "transformer_layers": 2, "transformer_width": 64,
    "transformer_heads": 4, "transformer_ff_width": 128, "transformer_dropout": 0.0, "transformer_causal": True,
    "patch_size": 0,
}


def model(data: dict) -> ModelConfig:
    return parse_dataclass(ModelConfig, data, "model")


# -- forms ----------------------------------------------------------------------------------------


def test_short_and_nested_forms_parse_to_the_same_config():
    defaults = {"name": "cnn", "channels": [], "kernels": [], "strides": [], "features_dim": 256, "activation": "relu"}
    short, nested, full = model({"encoder": "cnn"}), model({"encoder": {"name": "cnn"}}), model({"encoder": defaults})
    assert short == nested == full == ModelConfig(encoder="cnn") == ModelConfig(encoder={"name": "cnn"})
    assert short.encoder == Component("cnn", CNNConfig())
    assert model({}).encoder.name == "mlp" and model({"encoder": {}}).encoder.name == "mlp"  # the default encoder
    assert experiment.config_from_dict({"model": {"encoder": "cnn"}}).to_dict()["model"]["encoder"] == defaults


def test_options_are_validated_like_every_key():
    cfg = model({"encoder": {"name": "transformer", "width": "32", "dropout": 0}})
    assert cfg.encoder.options == TransformerConfig(width=32, dropout=0.0)
    assert type(cfg.encoder.options.dropout) is float
    with pytest.raises(ConfigError, match="Did you mean 'width'") as info:
        model({"encoder": {"name": "transformer", "widht": 3}})
    assert info.value.key_path == "model.encoder.widht"
    assert "unknown option of the 'transformer' encoder" in str(info.value) and "ff_width" in str(info.value)
    with pytest.raises(ConfigError, match="at least 1") as info:
        model({"encoder": {"name": "transformer", "layers": 0}})
    assert info.value.key_path == "model.encoder.layers"
    with pytest.raises(ConfigError, match="Did you mean 'transformer'") as info:
        model({"encoder": {"name": "transfomer"}})
    assert info.value.key_path == "model.encoder.name"


# -- old flat keys --------------------------------------------------------------------------------


def test_old_flat_keys_map_into_the_encoders_options():
    cfg = model(OLD_CNN_MODEL)  # the others' defaults (hidden_sizes, transformer_*) are ignored for cnn
    assert cfg.encoder == Component("cnn", CNNConfig(channels=[16], kernels=[3], strides=[1], features_dim=128))
    assert model({"encoder": "mlp", "hidden_sizes": [8], "activation": "tanh"}) == model(
        {"encoder": {"name": "mlp", "hidden_sizes": [8], "activation": "tanh"}})
    assert model({"encoder": "transformer", "transformer_width": 32, "transformer_causal": False,
                  "patch_size": 2}).encoder.options == TransformerConfig(width=32, causal=False, patch_size=2)


def test_old_flat_key_the_encoder_lacks_is_an_error_unless_default():
    with pytest.raises(ConfigError, match="the 'mlp' encoder has no option 'channels'") as info:
        model({"encoder": "mlp", "cnn_channels": [8]})
    assert info.value.key_path == "model.cnn_channels"
    with pytest.raises(ConfigError, match="the 'transformer' encoder has no option 'activation'"):
        model({"encoder": "transformer", "activation": "tanh"})
    assert model({"encoder": "transformer", "activation": "relu", "cnn_channels": []}) == model(
        {"encoder": "transformer"})


def test_old_and_nested_spelling_of_one_option_in_one_file_is_an_error():
    with pytest.raises(ConfigError, match="same option as 'model.encoder.hidden_sizes'") as info:
        model({"encoder": {"name": "mlp", "hidden_sizes": [8]}, "hidden_sizes": [16]})
    assert info.value.key_path == "model.hidden_sizes"


def test_old_run_directory_config_loads_and_is_rewritten_nested(tmp_path: Path):
    run = tmp_path / "old_run"
    run.mkdir()
    old = {"seed": 0, "agent": {"name": "dqn"}, "env": {"id": "rlp/MinAtar-Breakout-v1"}, "model": OLD_CNN_MODEL}
    (run / "config.yaml").write_text(yaml.safe_dump(old))
    cfg = experiment.resume_config(run, ["train.total_steps=10"])
    assert cfg.model.encoder.options.features_dim == 128 and cfg.train.total_steps == 10
    assert resume_changes(experiment.resume_config(run).flat(), cfg.flat()) == {
        "train.total_steps": [100_000, 10]}
    dump_yaml(cfg, tmp_path / "config.yaml")
    written = yaml.safe_load((tmp_path / "config.yaml").read_text())["model"]
    assert written["encoder"] == {"name": "cnn", "channels": [16], "kernels": [3], "strides": [1],
                                  "features_dim": 128, "activation": "relu"}
    assert set(written) == {"encoder", "head", "init_from", "init_modules", "freeze"}  # no flat keys


# -- overrides ------------------------------------------------------------------------------------


def test_dotted_override_into_the_short_form_keeps_the_name():
    data = apply_overrides({"model": {"encoder": "cnn"}}, ["model.encoder.channels=[8,16]"])
    assert data == {"model": {"encoder": {"name": "cnn", "channels": [8, 16]}}}
    cfg = experiment.load_experiment("dqn_minatar_breakout", ["model.encoder.channels=[8,16]",
                                                              "model.encoder.kernels=[3,3]",
                                                              "model.encoder.strides=[1,1]"])
    assert cfg.model.encoder.options == CNNConfig(channels=[8, 16], kernels=[3, 3], strides=[1, 1], features_dim=128)


def test_switching_the_encoder_drops_the_previous_encoders_options():
    cfg = experiment.load_experiment("dqn_minatar_breakout", ["model.encoder=transformer"])
    assert cfg.model.encoder == Component("transformer", TransformerConfig())
    cfg = experiment.load_experiment("dqn_minatar_breakout", ["model.encoder=transformer", "model.encoder.width=16",
                                                              "model.encoder.heads=2"])
    assert cfg.model.encoder.options == TransformerConfig(width=16, heads=2)


def test_the_later_of_an_old_key_and_its_nested_form_wins():
    assert experiment.load_experiment(None, ["model.hidden_sizes=[8]"]).model.encoder.options.hidden_sizes == [8]
    later_nested = apply_overrides({"model": {"encoder": "mlp", "hidden_sizes": [32]}},
                                   ["model.encoder.hidden_sizes=[8]"])
    assert model(later_nested["model"]).encoder.options.hidden_sizes == [8]
    later_old = apply_overrides({"model": {"encoder": {"name": "mlp", "hidden_sizes": [32]}}},
                                ["model.hidden_sizes=[8]"])
    assert model(later_old["model"]).encoder.options.hidden_sizes == [8]


def test_flat_keys_name_each_option_and_a_resume_cannot_change_them():
    saved = experiment.load_experiment(None)
    wanted = experiment.load_experiment(None, ["model.encoder.hidden_sizes=[8]", "model.head=dueling_q"])
    flat = wanted.flat()
    assert flat["model.encoder.hidden_sizes"] == [8] and flat["model.head.name"] == "dueling_q"
    with pytest.raises(ConfigError, match="cannot be changed when resuming") as info:
        resume_changes(saved.flat(), wanted.flat())
    assert info.value.key_path == "model.encoder.hidden_sizes"


# -- heads ----------------------------------------------------------------------------------------


def test_head_defaults_to_the_agents_and_model_head_overrides_it():
    assert isinstance(build_q_network(BOX, DISCRETE, ModelConfig(), dueling=False).head, QHead)
    assert isinstance(build_q_network(BOX, DISCRETE, ModelConfig(), dueling=True).head, DuelingQHead)
    assert isinstance(build_q_network(BOX, DISCRETE, ModelConfig(head="dueling_q"), dueling=False).head,
                      DuelingQHead)
    assert isinstance(build_q_network(BOX, DISCRETE, ModelConfig(head="q"), dueling=True).head, QHead)
    assert model({"head": "q"}).head == Component("q", NoOptions()) and model({}).head is None


def test_policy_head_by_action_space_or_configured():
    actions = gym.spaces.Box(-2.0, 2.0, (2,))
    default = build_actor_critic(BOX, actions, ModelConfig(), log_std_init=-1.0)
    assert isinstance(default.policy_head, GaussianHead)
    torch.testing.assert_close(default.policy_head.log_std.detach(), torch.full((2,), -1.0))
    configured = build_actor_critic(BOX, actions, model({"head": {"name": "gaussian", "log_std_init": -0.5,
                                                                  "state_dependent_std": True}}))
    assert configured.policy_head.log_std_layer is not None
    torch.testing.assert_close(configured.policy_head.log_std_layer.bias.detach(), torch.full((2,), -0.5))
    assert model({"head": {"name": "gaussian"}}).head.options == GaussianHeadConfig()
    with pytest.raises(ConfigError, match="'categorical' needs a Discrete action space") as info:
        build_actor_critic(BOX, actions, ModelConfig(head="categorical"))
    assert info.value.key_path == "model.head"
    with pytest.raises(ConfigError, match="'q' needs a Discrete"):
        build_q_network(BOX, actions, ModelConfig(head="q"), dueling=False)


def test_dqn_trains_with_a_configured_head(tmp_path: Path):
    cfg = experiment.load_experiment(None, [
        "model.head=dueling_q", "model.encoder.hidden_sizes=[8]", "env.num_envs=2", "train.total_steps=200",
        "train.eval_every=0", "train.eval_episodes=1", "train.stop_return=null", "agent.learning_starts=50"])
    experiment.train(cfg, tmp_path / "run", quiet=True)
    assert experiment.resume_config(tmp_path / "run").model.head == Component("dueling_q", NoOptions())
    assert experiment.evaluate_run(tmp_path / "run", episodes=1)["episodes"] == 1


# -- registries and discovery ---------------------------------------------------------------------


def test_builtins_are_found_through_entry_points():
    groups = {"rl_platform.encoders": {"mlp", "cnn", "transformer"},
              "rl_platform.heads": {"q", "dueling_q", "categorical", "gaussian"},
              "rl_platform.agents": {"dqn", "tabular_q", "a3c"}}
    for group, names in groups.items():
        assert names <= {ep.name for ep in entry_points(group=group)}, group
    assert {"mlp", "cnn", "transformer"} <= set(ENCODERS.names())
    assert {"q", "dueling_q", "categorical", "gaussian"} <= set(HEADS.names())
    assert [r.group for r in COMPONENTS] == ["rl_platform.encoders", "rl_platform.heads", "rl_platform.world_models",
                                             "rl_platform.objectives", "rl_platform.discriminators"]
    assert isinstance(WORLD_MODELS.names(), list) and isinstance(OBJECTIVES.names(), list)
    for registry in COMPONENTS:
        for name in registry.names():
            spec = registry.get(name)
            assert spec.name == name and spec.description and callable(spec.build)


def test_a_taken_name_keeps_its_entry():
    registry: Registry[object] = Registry("thing", "rl_platform.test_no_such_group")
    entry = object()
    assert registry.register("a", entry) is entry and registry.register("a", entry) is entry
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", object())
    with pytest.raises(ConfigError, match="unknown thing 'b'.*Registered: a"):
        registry.get("b", "x.thing")
    with pytest.raises(ConfigError, match="no entry points in group 'rl_platform.test_no_such_group'"):
        Registry("thing", "rl_platform.test_no_such_group").get("a")
    assert AGENTS.get("dqn").name == "dqn"


def test_rlp_list_shows_every_kind_with_options(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for title in ("agents", "encoders", "heads", "world models", "pretraining objectives"):
        assert f"\n{title}" in f"\n{out}", title
    assert "      channels = []: output channels of each conv layer" in out
    assert "      log_std_init = 0.0: initial log standard deviation" in out
    assert "      lr = " in out and "      hidden_sizes = [64, 64]: " in out
    assert cli.main(["list", "--no-options"]) == 0
    assert "channels = []" not in capsys.readouterr().out
