"""Pretrained weights: whole-model and per-module loads, the errors for sources that do not fit, and freezing."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import torch
from torch import nn

from rl_platform.checkpoint import save_checkpoint
from rl_platform.config import ModelConfig, parse_dataclass
from rl_platform.errors import ConfigError
from rl_platform.nn import build_actor_critic, build_q_network
from rl_platform.nn.pretrained import initialize, source_state, trainable_parameters

OBS = gym.spaces.Box(-1.0, 1.0, shape=(4,))
ACTIONS = gym.spaces.Discrete(3)


def model_cfg(**values) -> ModelConfig:
    return parse_dataclass(ModelConfig, values, "model")


def q_network(seed: int, hidden_sizes: tuple[int, ...] = (8, 8), dueling: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    return build_q_network(OBS, ACTIONS, model_cfg(hidden_sizes=list(hidden_sizes)), dueling)


def actor_critic(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_actor_critic(OBS, ACTIONS, model_cfg(hidden_sizes=[8, 8]))


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def equal_under(model: nn.Module, reference: dict[str, torch.Tensor], prefix: str = "") -> bool:
    keys = [key for key in model.state_dict() if key.startswith(prefix)]
    assert keys, f"no tensors under {prefix!r}"
    return all(torch.equal(model.state_dict()[key], reference[key]) for key in keys)


def differs_everywhere(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(not torch.equal(a[key], b[key]) for key in a if a[key].abs().sum() > 0)


def agent_checkpoint(path: Path, model: nn.Module) -> Path:
    save_checkpoint(path, {"model": model.state_dict(), "optimizer": {"state": {}, "param_groups": []},
                           "num_updates": 7, "target_network": model.state_dict()})
    return path


def test_whole_model_loads_exactly_from_a_checkpoint_file(tmp_path):
    source, model = q_network(0), q_network(1)
    assert differs_everywhere(snapshot(source), snapshot(model))
    path = agent_checkpoint(tmp_path / "ckpt.pt", source)
    report = initialize(model, str(path), [], [])
    assert equal_under(model, source.state_dict())
    assert report["source"] == str(path)
    assert report["loaded"] == list(source.state_dict())
    assert report["frozen"] == []


def test_run_directory_prefers_best_over_latest(tmp_path):
    best, latest = q_network(0), q_network(1)
    agent_checkpoint(tmp_path / "checkpoints" / "latest.pt", latest)
    agent_checkpoint(tmp_path / "checkpoints" / "best.pt", best)
    model = q_network(2)
    report = initialize(model, str(tmp_path), [], [])
    assert equal_under(model, best.state_dict()) and not equal_under(model, latest.state_dict())
    assert report["source"] == str(tmp_path / "checkpoints" / "best.pt")

    (tmp_path / "checkpoints" / "best.pt").unlink()
    state, path = source_state(tmp_path)
    assert path == tmp_path / "checkpoints" / "latest.pt"
    initialize(model, str(tmp_path), [], [])
    assert equal_under(model, latest.state_dict())


def test_run_directory_without_a_checkpoint_names_both_files(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(ConfigError, match="best.pt.*latest.pt") as info:
        initialize(q_network(0), str(tmp_path), [], [])
    assert info.value.key_path == "model.init_from"


def test_init_modules_encoder_loads_the_encoder_and_leaves_the_head_as_initialised(tmp_path):
    source, model = q_network(0), q_network(1)
    fresh = snapshot(model)
    path = agent_checkpoint(tmp_path / "ckpt.pt", source)
    report = initialize(model, str(path), ["encoder"], [])
    assert equal_under(model, source.state_dict(), "encoder.")
    assert equal_under(model, fresh, "head.") and not equal_under(model, source.state_dict(), "head.")
    assert report["loaded"] == [key for key in source.state_dict() if key.startswith("encoder.")]


def test_dotted_module_path_loads_only_that_submodule(tmp_path):
    source, model = q_network(0), q_network(1)
    fresh = snapshot(model)
    initialize(model, str(agent_checkpoint(tmp_path / "ckpt.pt", source)), ["encoder.layers.0"], [])
    assert equal_under(model, source.state_dict(), "encoder.layers.0.")
    assert equal_under(model, fresh, "encoder.layers.2.") and equal_under(model, fresh, "head.")


def test_actor_critic_modules_load_from_an_actor_critic_checkpoint(tmp_path):
    source, model = actor_critic(0), actor_critic(1)
    fresh = snapshot(model)
    path = agent_checkpoint(tmp_path / "ckpt.pt", source)
    initialize(model, str(path), ["actor_encoder", "policy_head"], [])
    assert equal_under(model, source.state_dict(), "actor_encoder.")
    assert equal_under(model, source.state_dict(), "policy_head.")
    assert equal_under(model, fresh, "critic_encoder.") and equal_under(model, fresh, "value_head.")


def test_shape_mismatch_names_the_tensor_and_both_shapes_and_loads_nothing(tmp_path):
    source, model = q_network(0, hidden_sizes=(16, 16)), q_network(1, hidden_sizes=(8, 8))
    fresh = snapshot(model)
    path = agent_checkpoint(tmp_path / "ckpt.pt", source)
    with pytest.raises(ConfigError) as info:
        initialize(model, str(path), [], [])
    message = str(info.value)
    assert info.value.key_path == "model.init_from"
    assert "encoder.layers.0.weight: model (8, 4) vs checkpoint (16, 4)" in message
    assert "5 with another shape" in message and str(path) in message
    assert equal_under(model, fresh)


def test_missing_tensor_is_named(tmp_path):
    source, model = q_network(0), q_network(1)
    state = source.state_dict()
    del state["head.linear.bias"]
    torch.save(state, tmp_path / "plain.pt")
    with pytest.raises(ConfigError, match=r"1 tensor\(s\) missing from it \(head.linear.bias\)") as info:
        initialize(model, str(tmp_path / "plain.pt"), ["head"], [])
    assert info.value.key_path == "model.init_modules"
    initialize(model, str(tmp_path / "plain.pt"), ["encoder"], [])  # the encoder is all there
    assert equal_under(model, source.state_dict(), "encoder.")


def test_other_head_architecture_is_reported_as_missing_tensors(tmp_path):
    path = agent_checkpoint(tmp_path / "ckpt.pt", q_network(0, dueling=True))
    with pytest.raises(ConfigError, match="head.linear.weight, head.linear.bias"):
        initialize(q_network(1, dueling=False), str(path), [], [])


def test_buffers_are_loaded_and_required(tmp_path):
    def model_with_buffers(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
        model[1].running_mean.normal_()
        return model

    source, model = model_with_buffers(0), model_with_buffers(1)
    torch.save(source.state_dict(), tmp_path / "plain.pt")
    initialize(model, str(tmp_path / "plain.pt"), [], [])
    assert torch.equal(model[1].running_mean, source[1].running_mean)
    state = source.state_dict()
    del state["1.running_var"]
    torch.save(state, tmp_path / "no_var.pt")
    with pytest.raises(ConfigError, match="1.running_var"):
        initialize(model_with_buffers(2), str(tmp_path / "no_var.pt"), ["1"], [])


def test_unknown_module_names_are_config_errors_listing_the_modules(tmp_path):
    path = agent_checkpoint(tmp_path / "ckpt.pt", q_network(0))
    with pytest.raises(ConfigError, match=r"'encodr' is not a module.*encoder, head") as info:
        initialize(q_network(1), str(path), ["encodr"], [])
    assert info.value.key_path == "model.init_modules"
    with pytest.raises(ConfigError, match=r"'tail' is not a module.*encoder, head") as info:
        initialize(q_network(1), None, [], ["tail"])
    assert info.value.key_path == "model.freeze"
    with pytest.raises(ConfigError, match="'head.linear.weight' is not a module"):  # a parameter, not a module
        initialize(q_network(1), None, [], ["head.linear.weight"])


def test_init_modules_without_init_from_is_an_error():
    with pytest.raises(ConfigError, match="model.init_from is not set") as info:
        initialize(q_network(0), None, ["encoder"], [])
    assert info.value.key_path == "model.init_modules"


def test_frozen_parameters_stay_bit_identical_under_adam(tmp_path):
    model = actor_critic(0)
    path = agent_checkpoint(tmp_path / "ckpt.pt", actor_critic(1))
    report = initialize(model, str(path), ["actor_encoder"], ["actor_encoder", "value_head"])
    assert report["frozen"] == [name for name, _ in model.named_parameters()
                                if name.startswith(("actor_encoder.", "value_head."))]
    before = snapshot(model)
    trainable = trainable_parameters(model)
    assert len(trainable) == len(list(model.parameters())) - len(report["frozen"])
    optimizer = torch.optim.Adam(trainable, lr=1e-2)
    obs = torch.randn(16, 4)
    for _ in range(3):
        dist, value = model(obs)
        loss = -dist.log_prob(torch.zeros(16, dtype=torch.long)).mean() + (value - 1.0).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model.state_dict()
    for name in before:
        frozen = name.startswith(("actor_encoder.", "value_head."))
        assert torch.equal(after[name], before[name]) == frozen, name


def test_freeze_without_init_from():
    model = q_network(0)
    report = initialize(model, None, [], ["encoder"])
    assert report["source"] is None and report["loaded"] == []
    assert all(not p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    assert {id(p) for p in trainable_parameters(model)} == {id(p) for p in model.head.parameters()}


def test_plain_state_dict_file_loads(tmp_path):
    source, model = q_network(0), q_network(1)
    torch.save(source.state_dict(), tmp_path / "plain.pt")
    state, path = source_state(tmp_path / "plain.pt")
    assert path == tmp_path / "plain.pt" and list(state) == list(source.state_dict())
    initialize(model, str(path), [], [])
    assert equal_under(model, source.state_dict())


def test_nonexistent_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as info:
        initialize(q_network(0), str(tmp_path / "nope.pt"), [], [])
    assert info.value.key_path == "model.init_from"


def test_checkpoint_without_model_weights_is_a_config_error(tmp_path):
    save_checkpoint(tmp_path / "old.pt", {"q_network": q_network(0).state_dict(), "num_updates": 3})
    with pytest.raises(ConfigError, match="no 'model' entry.*num_updates, q_network") as info:
        source_state(tmp_path / "old.pt")
    assert info.value.key_path == "model.init_from"
    save_checkpoint(tmp_path / "bad.pt", {"model": {"weight": 3}})
    with pytest.raises(ConfigError, match="'model' entry is not a state dict"):
        source_state(tmp_path / "bad.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read"):
        source_state(tmp_path / "junk.pt")
