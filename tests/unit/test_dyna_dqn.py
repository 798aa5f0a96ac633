"""Dyna-DQN (agents/dqn/dyna.py): the imagined replay, model rollouts against a hand-built model, the model's
training from replay, checkpoints and resume, and bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_platform import experiment
from rl_platform.agents.dqn.dyna import Imagination, ImaginedReplay, join_batches
from rl_platform.buffers import Batch, PrioritizedReplayBuffer, ReplayBuffer
from rl_platform.checkpoint import load_checkpoint
from rl_platform.errors import ConfigError, TrainingFailed
from rl_platform.world_models import Imagined, WorldModel

OBS_SPACE = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
ACTION_SPACE = gym.spaces.Discrete(2)
TINY = ["train.total_steps=1600", "train.eval_every=0", "train.eval_episodes=2", "agent.learning_starts=400",
        "agent.buffer_size=2000", "agent.model_train_freq=10", "agent.model_gradient_steps=5",
        "agent.rollout_batch_size=32", "agent.imagined_buffer_size=500", "agent.model.hidden_sizes=[16]"]


def test_imagined_replay_wraps_around_and_samples_one_step_targets():
    replay = ImaginedReplay(4, OBS_SPACE, ACTION_SPACE)
    for first in (0, 3):  # 3 rows, then 3 more: rows 3, 4, 5 overwrite the oldest, in ring order
        obs = np.arange(first, first + 3, dtype=np.float32)[:, None].repeat(2, axis=1)
        replay.add(obs, np.array([0, 1, 0]), obs[:, 0] * 10, obs + 1, np.array([False, True, False]))
    assert len(replay) == 4 and replay.next_index == 2
    np.testing.assert_array_equal(replay.obs[:, 0], [4, 5, 2, 3])
    np.testing.assert_array_equal(replay.terminations, [True, False, False, False])
    batch = replay.sample(64, 0.9, np.random.default_rng(0))
    np.testing.assert_allclose(batch.returns, batch.obs[:, 0] * 10)
    np.testing.assert_allclose(batch.next_obs, batch.obs + 1)
    # obs 4 was stored with termination True: no bootstrap; every other row discounts by gamma
    np.testing.assert_allclose(batch.discounts, np.where(batch.obs[:, 0] == 4, 0.0, 0.9), rtol=1e-6)
    np.testing.assert_array_equal(batch.weights, 1.0)


def test_join_batches_puts_real_rows_first():
    real = Batch(obs=np.zeros((2, 2), np.float32), actions=np.array([1, 1]), returns=np.array([1., 2.], np.float32),
                 next_obs=np.zeros((2, 2), np.float32), discounts=np.array([.9, .9], np.float32),
                 weights=np.array([.5, .7], np.float32), indices=np.array([3, 8]))
    imagined = ImaginedReplay(2, OBS_SPACE, ACTION_SPACE)
    imagined.add(np.ones((1, 2), np.float32), np.array([0]), np.array([5.0]), np.ones((1, 2), np.float32),
                 np.array([True]))
    joined = join_batches(real, imagined.sample(1, 0.9, np.random.default_rng(0)))
    np.testing.assert_array_equal(joined.returns, [1, 2, 5])
    np.testing.assert_array_equal(joined.discounts, np.array([.9, .9, 0], np.float32))
    np.testing.assert_array_equal(joined.weights, np.array([.5, .7, 1], np.float32))
    np.testing.assert_array_equal(joined.indices, [3, 8, -1])


class CountingModel(WorldModel):
    """next obs = obs + action + 1 (per dimension), reward = obs[0], terminates once obs[0] >= 3, uncertainty =
    obs[1]."""

    def __init__(self) -> None:
        super().__init__(OBS_SPACE, ACTION_SPACE)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def sample(self, obs, actions, generator=None) -> Imagined:
        next_obs = obs + actions.float().unsqueeze(1) + 1
        return Imagined(next_obs, obs[:, 0].clone(), next_obs[:, 0] >= 3, obs[:, 1].clone())


def imagination_with(model: WorldModel | None = None, **options) -> Imagination:
    """An Imagination of the shipped config's agent section with `options`; `model` replaces its world model."""
    cfg = experiment.load_experiment("dyna_dqn_cartpole", [f"agent.{k}={v}" for k, v in options.items()]).agent
    imagination = Imagination(cfg, OBS_SPACE, ACTION_SPACE, torch.device("cpu"), seed=0)
    if model is not None:
        imagination.model = model
    return imagination


def buffer_of(obs: np.ndarray) -> ReplayBuffer:
    buffer = ReplayBuffer(len(obs), 1, (2,), np.float32)
    for row in obs:
        buffer.add(row[None], np.zeros(1, np.int64), np.zeros(1), row[None] + 1, np.zeros(1, bool), np.zeros(1, bool),
                   np.ones(1, bool))
    return buffer


def test_rollouts_follow_the_model_until_termination_or_the_horizon(one_torch_thread):
    imagination = imagination_with(CountingModel(), rollout_horizon=3, rollout_batch_size=1)
    buffer = buffer_of(np.array([[0.0, 0.0]], np.float32))
    stats = imagination.rollout(buffer, lambda obs: np.zeros(len(obs), np.int64), np.random.default_rng(0))
    replay = imagination.replay
    # 0 -> 1 -> 2 -> 3 (terminates at the third step, which is still stored)
    np.testing.assert_array_equal(replay.obs[:3, 0], [0, 1, 2])
    np.testing.assert_array_equal(replay.next_obs[:3, 0], [1, 2, 3])
    np.testing.assert_array_equal(replay.rewards[:3], [0, 1, 2])
    np.testing.assert_array_equal(replay.terminations[:3], [False, False, True])
    assert len(replay) == 3 and stats["model/rollout_length"] == 3

    imagination = imagination_with(CountingModel(), rollout_horizon=2, rollout_batch_size=1)
    imagination.rollout(buffer, lambda obs: np.ones(len(obs), np.int64), np.random.default_rng(0))
    np.testing.assert_array_equal(imagination.replay.obs[:2, 0], [0, 2])  # cut by the horizon: 0 -> 2 -> 4
    np.testing.assert_array_equal(imagination.replay.terminations[:2], [False, True])


def test_max_disagreement_stops_a_rollout_before_its_uncertain_step():
    imagination = imagination_with(CountingModel(), rollout_horizon=3, rollout_batch_size=1, max_disagreement=1.5)
    buffer = buffer_of(np.array([[-5.0, 0.0]], np.float32))  # uncertainty obs[1]: 0, 1, 2 -> the third is cut
    stats = imagination.rollout(buffer, lambda obs: np.zeros(len(obs), np.int64), np.random.default_rng(0))
    assert len(imagination.replay) == 2
    np.testing.assert_array_equal(imagination.replay.obs[:2, 1], [0, 1])
    assert stats["model/rollout_length"] == 2


def test_model_trains_on_real_one_step_transitions_of_a_prioritized_buffer_too(one_torch_thread):
    rng = np.random.default_rng(0)
    buffer = PrioritizedReplayBuffer(64, 2, (2,), np.float32, n_step=3)
    for _ in range(32):
        obs = rng.normal(size=(2, 2)).astype(np.float32)
        buffer.add(obs, np.array([0, 1]), np.ones(2), obs * 0.5, np.zeros(2, bool), np.zeros(2, bool),
                   np.ones(2, bool))
    steps = buffer.sample_steps(5, np.random.default_rng(1))
    np.testing.assert_allclose(steps.next_obs, steps.obs * 0.5)  # one step, never an n-step bootstrap row
    np.testing.assert_array_equal(steps.rewards, 1.0)
    imagination = imagination_with(model_gradient_steps=20, model_batch_size=64, **{"model.hidden_sizes": "[32]"})
    first = imagination.train(buffer, rng)
    for _ in range(4):
        last = imagination.train(buffer, rng)
    assert imagination.num_updates == 100
    assert last["model/loss"] < 0.5 * first["model/loss"]
    assert {"model/next_obs", "model/reward", "model/termination"} <= set(last)


def test_a_non_finite_model_loss_stops_training_naming_it_and_keeps_the_weights(one_torch_thread):
    buffer = buffer_of(np.array([[0.0, 1.0], [1.0, 0.0]], np.float32))
    buffer.rewards[1, 0] = np.inf
    imagination = imagination_with(model_gradient_steps=3, model_batch_size=8)
    before = {k: v.clone() for k, v in imagination.model.state_dict().items() if "norm" not in k}
    with pytest.raises(TrainingFailed, match=r"agent.model: the reward loss is (inf|nan)"):
        imagination.train(buffer, np.random.default_rng(0))
    for key, value in before.items():
        torch.testing.assert_close(imagination.model.state_dict()[key], value, rtol=0, atol=0)


def test_dyna_run_checkpoints_model_and_optimizers_and_resumes_them(tmp_path):
    cfg = experiment.load_experiment("dyna_dqn_cartpole", TINY)
    experiment.train(cfg, tmp_path / "whole", quiet=True)
    half = experiment.load_experiment("dyna_dqn_cartpole", [*TINY, "train.total_steps=800"])
    experiment.train(half, tmp_path / "split", quiet=True)
    resumed = experiment.resume_config(tmp_path / "split", ["train.total_steps=1600"])
    experiment.train(resumed, tmp_path / "split", quiet=True, resume=True)

    whole = load_checkpoint(tmp_path / "whole" / "checkpoints" / "latest.pt")["agent"]
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")["agent"]
    assert set(whole["optimizers"]) == {"q_network", "world_model"}
    # (1600 - 400) / 8 vector steps of learning, a model round every 10 of them, 5 steps a round
    assert whole["imagination"]["num_updates"] == split["imagination"]["num_updates"] == 75
    assert whole["num_updates"] == split["num_updates"]
    steps = [state["optimizers"]["world_model"]["state"][0]["step"] for state in (whole, split)]
    assert float(steps[0]) == float(steps[1]) == 75
    replay = load_checkpoint(tmp_path / "split" / "checkpoints" / "replay.pt")
    assert 0 < replay["imagined"]["size"] <= 500

    tags = set(EventAccumulator(str(tmp_path / "whole")).Reload().Tags()["scalars"])
    assert {"model/loss", "model/rollout_length", "model/uncertainty", "losses/td_loss"} <= tags


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (["agent.rollout_horizon=0"], "agent.rollout_horizon", "must be at least 1, got 0"),
    (["agent.model=no_such_model"], "agent.model", "unknown world model"),
    (["env.id=rlp/MinAtar-Breakout-v1"], "agent.model", "world model takes 1-D float Box"),
    (["agent.demos=some/dataset-v0"], "agent.model", "do not combine"),
])
def test_bad_dyna_input_names_the_key(tmp_path, overrides, key, message):
    with pytest.raises(ConfigError, match=message) as error:
        cfg = experiment.load_experiment("dyna_dqn_cartpole", [*TINY, *overrides])
        experiment.train(cfg, tmp_path / "run", quiet=True)
    assert error.value.key_path == key
