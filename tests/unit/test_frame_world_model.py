"""The `frame` world model (MinAtar's bool frames) and the next-state distribution distances: the loss on a
hand-built batch against hand-computed values, samples and point predictions, the TV estimator on hand-built
samples, exact env replicas, and a tiny `rlp pretrain` + `rlp model-eval` run through the CLI."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform import cli
from rl_platform.checkpoint import load_checkpoint
from rl_platform.config import EnvConfig
from rl_platform.distribution_eval import (
    Visited,
    distribution_distances,
    empirical_tv,
    pooled_starts,
    replicated_steps,
)
from rl_platform.errors import ConfigError
from rl_platform.options import parse_dataclass
from rl_platform.registry import WORLD_MODELS
from rl_platform.world_models import Imagined, Transition
from rl_platform.world_models.frame import FrameModelConfig, FrameNetwork, FrameWorldModel

TINY = {"encoder": {"name": "mlp", "hidden_sizes": [8]}, "channels": [4], "global_channels": 2, "hidden_sizes": [8]}
FRAMES = gym.spaces.Box(0, 1, (1, 2, 2), dtype=bool)
ACTIONS = gym.spaces.Discrete(3)
LN2, LN3 = math.log(2.0), math.log(3.0)


def tiny_config(**changes) -> FrameModelConfig:
    return parse_dataclass(FrameModelConfig, {**TINY, **changes}, "model")


class FixedOutputs(nn.Module):
    """Stands in for a FrameNetwork: the same (cell logits, reward, termination logit) for any batch."""

    def __init__(self, cell_logits: torch.Tensor, reward: torch.Tensor, termination_logit: torch.Tensor) -> None:
        super().__init__()
        self.outputs = (cell_logits, reward, termination_logit)

    def forward(self, frames, actions, extra=None):
        return self.outputs


def model_with_outputs(cell_logits, reward=None, termination_logit=None, **changes) -> FrameWorldModel:
    model = FrameWorldModel(FRAMES, ACTIONS, tiny_config(**changes))
    rows = cell_logits.shape[0]
    model.network = FixedOutputs(cell_logits, torch.zeros(rows) if reward is None else reward,
                                 torch.zeros(rows) if termination_logit is None else termination_logit)
    return model


def test_frame_loss_by_hand():
    # logit ln 3 is p = 3/4, -ln 3 is p = 1/4, 0 is p = 1/2.
    logits = torch.tensor([[0.0, 0.0, LN3, LN3], [-LN3, -LN3, 0.0, 0.0]]).reshape(2, 1, 2, 2)
    model = model_with_outputs(logits, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]),
                               reward_weight=0.5, termination_weight=2.0)
    next_obs = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0]], dtype=torch.bool).reshape(2, 1, 2, 2)
    batch = Transition(torch.zeros(2, 1, 2, 2, dtype=torch.bool), torch.tensor([0, 2]), torch.tensor([0.0, 2.0]),
                       next_obs, torch.tensor([False, True]))
    loss, figures = model.loss(batch)
    # Row 0: ln2 + ln2 + ln(4/3) + ln4 = 6 ln2 - ln3; row 1: 2 ln(4/3) + 2 ln2 = 6 ln2 - 2 ln3; mean of 8 cells.
    cells = (12 * LN2 - 3 * LN3) / 8
    reward = (1.0 ** 2 + 2.0 ** 2) / 2
    termination = LN2  # logit 0 for both rows
    assert figures["cells"] == pytest.approx(cells)
    assert figures["reward"] == pytest.approx(reward)
    assert figures["termination"] == pytest.approx(termination)
    assert loss.item() == pytest.approx(cells + 0.5 * reward + 2.0 * termination)
    # Thresholded: row 0 predicts [0, 0, 1, 1] for [1, 0, 1, 0] (2 of 4 right), row 1 [0, 0, 0, 0] exactly.
    assert figures["cell_accuracy"] == pytest.approx(6 / 8)
    assert figures["frame_match"] == pytest.approx(0.5)


def test_point_prediction_thresholds_at_one_half_in_the_observation_dtype():
    model = model_with_outputs(torch.tensor([[20.0, -20.0, 0.1, -0.1]]).reshape(1, 1, 2, 2))
    prediction = model.point_prediction(torch.zeros(1, 1, 2, 2, dtype=torch.bool), torch.tensor([1]))
    assert prediction.dtype == torch.bool and prediction.shape == (1, 1, 2, 2)
    assert prediction.reshape(-1).tolist() == [True, False, True, False]


def test_samples_draw_each_cell_from_its_bernoulli():
    rows = 4000
    logits = torch.tensor([[LN3, -LN3, 30.0, -30.0]]).reshape(1, 1, 2, 2).expand(rows, -1, -1, -1)
    model = model_with_outputs(logits, torch.full((rows,), 0.5), torch.full((rows,), -LN3))
    obs, actions = torch.zeros(rows, 1, 2, 2, dtype=torch.bool), torch.zeros(rows, dtype=torch.long)
    step = model.sample(obs, actions, torch.Generator().manual_seed(0))
    assert step.next_obs.dtype == torch.bool and step.next_obs.shape == (rows, 1, 2, 2)
    shares = step.next_obs.reshape(rows, 4).float().mean(0)
    # binomial standard error at p = 3/4 and 4000 draws: 0.007
    torch.testing.assert_close(shares, torch.tensor([0.75, 0.25, 1.0, 0.0]), atol=0.03, rtol=0)
    assert step.terminations.dtype == torch.bool and step.terminations.float().mean().item() == pytest.approx(0.25,
                                                                                                            abs=0.03)
    torch.testing.assert_close(step.rewards, torch.full((rows,), 0.5))
    torch.testing.assert_close(step.uncertainty, torch.zeros(rows))
    again = model.sample(obs, actions, torch.Generator().manual_seed(0))
    assert torch.equal(again.next_obs, step.next_obs)  # the generator decides the draws


def test_frame_network_maps_minatar_frames_to_per_cell_logits():
    envs = gym.make_vec("rlp/MinAtar-Breakout-v1", num_envs=5)
    obs, _ = envs.reset(seed=0)
    space, actions = envs.single_observation_space, envs.single_action_space
    envs.close()
    torch.manual_seed(0)
    network = FrameNetwork(space, actions, 3, tiny_config(encoder="cnn"))
    frames, chosen = torch.as_tensor(obs), torch.tensor([0, 1, 2, 0, 1])
    cell_logits, reward, termination_logit = network(frames, chosen, torch.randn(5, 3))
    assert cell_logits.shape == (5, 4, 10, 10) and reward.shape == (5,) and termination_logit.shape == (5,)
    with pytest.raises(ValueError, match=r"extra must have shape \(5, 3\), got None"):
        network(frames, chosen)
    model = WORLD_MODELS.get("frame", "model").build(space, actions, tiny_config())
    assert model.point_prediction(frames, chosen).shape == (5, 4, 10, 10)


def test_frame_model_refuses_spaces_it_cannot_model():
    with pytest.raises(ConfigError, match="takes bool image frames"):
        FrameWorldModel(gym.spaces.Box(-1.0, 1.0, (4,)), ACTIONS, tiny_config())
    with pytest.raises(ConfigError, match="takes bool image frames"):
        FrameWorldModel(gym.spaces.Box(0, 255, (1, 4, 4), dtype=np.uint8), ACTIONS, tiny_config())
    with pytest.raises(ConfigError, match="takes Discrete actions"):
        FrameWorldModel(FRAMES, gym.spaces.Box(-1.0, 1.0, (2,)), tiny_config())
    with pytest.raises(ConfigError, match="at least one conv layer"):
        tiny_config(channels=[])


def frames(*patterns: str) -> np.ndarray:
    """Bool 2x2 frames from strings such as '1001'."""
    return np.array([[c == "1" for c in pattern] for pattern in patterns]).reshape(len(patterns), 1, 2, 2)


def test_total_variation_of_empirical_distributions_by_hand():
    assert empirical_tv(frames("1000", "0110"), frames("0110", "1000")) == 0.0  # identical distributions
    assert empirical_tv(frames("1000", "1000"), frames("0001", "0110")) == 1.0  # disjoint supports
    # shares (1/2, 1/2) vs (1/4, 3/4): 0.5 * (1/4 + 1/4)
    assert empirical_tv(frames("1000", "1000", "0110", "0110"),
                        frames("1000", "0110", "0110", "0110")) == pytest.approx(0.25)
    # unequal sizes, a point mass vs (1/4, 1/2, 1/4): 0.5 * (3/4 + 1/2 + 1/4)
    assert empirical_tv(frames("1111"), frames("1111", "0000", "0000", "0101")) == pytest.approx(0.75)


def test_replicas_differ_only_by_the_envs_random_draws():
    """Breakout is deterministic between resets except for sticky actions: without them every replica of a
    state steps to the same frame; with them (0.1) some states (those whose sticky action differs) have two
    outcomes, never more."""
    envs = gym.make_vec("rlp/MinAtar-Breakout-v1", num_envs=16, sticky_action_prob=0.0)
    envs.reset(seed=3)
    rng = np.random.default_rng(3)
    for _ in range(3):
        envs.step(rng.integers(0, 3, 16))
    state = envs.get_state()
    envs.close()
    actions = rng.integers(0, 3, 16)
    still = replicated_steps(EnvConfig(id="rlp/MinAtar-Breakout-v1", kwargs={"sticky_action_prob": 0.0}), state,
                             actions, 40, seed=1)
    assert still.shape == (16, 40, 4, 10, 10)
    assert all(empirical_tv(still[m, :20], still[m, 20:]) == 0.0 for m in range(16))
    assert all(len(np.unique(still[m].reshape(40, -1), axis=0)) == 1 for m in range(16))
    sticky = replicated_steps(EnvConfig(id="rlp/MinAtar-Breakout-v1"), state, actions, 40, seed=1)
    outcomes = [len(np.unique(sticky[m].reshape(40, -1), axis=0)) for m in range(16)]
    assert max(outcomes) == 2 and min(outcomes) == 1, outcomes


class NoChange(nn.Module):
    """A 'model' whose every sample and point prediction is the frame it is given."""

    def sample(self, obs, actions, generator=None):
        zeros = torch.zeros(obs.shape[0])
        return Imagined(obs.bool(), zeros, zeros.bool(), zeros)

    def point_prediction(self, obs, actions):
        return obs.bool()


def test_distribution_distances_of_a_point_mass_in_a_deterministic_env():
    """Without sticky actions the true next frame is one frame (noise floor 0); a model that predicts 'no change'
    is a point mass, so its sample and point distances agree and count the states where the frame changes."""
    env_cfg = EnvConfig(id="rlp/MinAtar-Breakout-v1", kwargs={"sticky_action_prob": 0.0})
    result = distribution_distances(NoChange(), env_cfg, states=12, samples=8, seed=2, warmup=4)
    assert result["noise_floor"] == 0.0 and result["true_distinct"] == 1.0 and result["stochastic_states"] == 0.0
    assert result["sample_tv"] == result["point_tv"]
    assert result["point_tv"] * 12 == pytest.approx(round(result["point_tv"] * 12))  # each state's TV is 0 or 1
    assert result["point_tv"] > 0.5  # the ball moves every step
    given_frames = distribution_distances(NoChange(), env_cfg, states=12, samples=8, seed=2, condition="observation")
    assert given_frames["condition"] == "observation" and 1 <= given_frames["states"] <= 12
    assert given_frames["sample_tv"] == given_frames["point_tv"] > 0.5


def test_pooled_starts_draw_states_that_share_a_recurring_observation():
    """Visited: '1000' three times (states 0, 1, 3), '0110' twice (2, 5), '0001' once (4). With at least 3 visits
    needed only '1000' qualifies, whatever the count asked for; its replicas are drawn from its own states."""
    visited = Visited([(frames("1000", "1000", "0110"), {"states": np.array([[0.0], [1.0], [2.0]]),
                                                         "elapsed": np.array([0, 0, 0])}),
                       (frames("1000", "0001", "0110"), {"states": np.array([[3.0], [4.0], [5.0]]),
                                                         "elapsed": np.array([1, 1, 1])})],
                      FRAMES, ACTIONS)
    obs, state = pooled_starts(visited, 5, 30, 3, np.random.default_rng(0))
    assert np.array_equal(obs, frames("1000"))
    assert state["states"].shape == (30, 1) and set(state["states"][:, 0]) == {0.0, 1.0, 3.0}
    assert np.array_equal(state["elapsed"], (state["states"][:, 0] == 3.0).astype(int))  # rows stay whole
    obs, state = pooled_starts(visited, 5, 4, 2, np.random.default_rng(0))
    assert len(obs) == 2 and len(state["states"]) == 8  # '1000' and '0110', four replicas each


def test_frame_pretrain_and_model_eval_through_the_cli(tmp_path, monkeypatch, capsys, one_torch_thread):
    from rl_platform.collect import collect

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    collect("test/breakout-random-v0", policy="random", env_id="rlp/MinAtar-Breakout-v1", num_envs=16, steps=2000,
            seed=0)
    run_dir = tmp_path / "run"
    tiny = ["pretrain.objective.model.encoder.features_dim=16", "pretrain.objective.model.channels=[8]",
            "pretrain.objective.model.hidden_sizes=[16]", "pretrain.objective.model.global_channels=2"]
    assert cli.main(["pretrain", "world_model_frame_breakout", "pretrain.dataset=test/breakout-random-v0", *tiny,
                     "pretrain.steps=60", "pretrain.batch_size=64", "pretrain.lr=3e-3", "pretrain.validate_every=30",
                     "train.checkpoint_every=0", "--run-dir", str(run_dir), "--quiet"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    final = metrics["pretrain"]["final_val"]
    assert final["cell_accuracy"] > 0.95, final  # most cells are empty: learned in a few steps
    assert "model.network.cell_head.weight" in load_checkpoint(run_dir / "checkpoints" / "best.pt")["objective"]
    capsys.readouterr()
    assert cli.main(["model-eval", str(run_dir), "--horizon", "2", "--num-envs", "8", "--distribution", "6",
                     "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "frame" and len(result["cell_accuracy"]) == 2
    assert result["cell_accuracy"][0] == pytest.approx(1.0 - result["mse"][0])
    assert 0.0 <= result["frame_match"][0] <= 1.0 and result["no_change_frame_match"][0] <= 1.0
    distances = result["distribution"]
    assert distances["states"] == 8 and distances["samples"] == 6
    assert all(0.0 <= distances[key] <= 1.0 for key in ("sample_tv", "point_tv", "noise_floor"))
    assert cli.main(["model-eval", str(run_dir), "--horizon", "1", "--num-envs", "4"]) == 0
    assert "step | cell accuracy | no-change | exact frames" in capsys.readouterr().out
