"""DQN from demonstrations (agents/dqn/demos.py): the large-margin loss, the demo n-step targets, the batch mix,
the protected demo replay and the errors for a bad `agent.demos`, against hand-computed numbers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_platform import experiment
from rl_platform.agents.dqn import dqn
from rl_platform.agents.dqn.demos import DemoBatch, DemoReplay, batch_split, demo_nstep_targets, dqfd_loss, margin_loss
from rl_platform.buffers import Batch
from rl_platform.config import ModelConfig
from rl_platform.datasets import Episode, write_episodes
from rl_platform.errors import ConfigError
from tests.unit.test_dqn_math import TableQ

TINY = ["train.total_steps=600", "train.eval_every=600", "train.eval_episodes=2", "agent.learning_starts=100",
        "agent.buffer_size=200", "agent.batch_size=20", "agent.train_freq=2"]


def table_agent(**overrides) -> dqn.DQNAgent:
    cfg = dqn.DQNConfig(**{"gamma": 0.5, "double": False, "loss": "mse", **overrides})
    agent = dqn.DQNAgent(cfg, gym.spaces.Box(0.0, 10.0, (1,), np.float32), gym.spaces.Discrete(2),
                         ModelConfig(encoder={"name": "mlp", "hidden_sizes": [8]}), torch.device("cpu"), seed=0)
    table = [[1.0, 0.0], [0.5, 2.0], [0.0, 0.0]]  # Q(s, a) for s = 0, 1, 2
    agent.q_network, agent.target_network = TableQ(table), TableQ(table).requires_grad_(False)
    return agent


def batch(obs, actions, returns, next_obs, discounts) -> Batch:
    as_obs = lambda values: np.array(values, dtype=np.float32).reshape(-1, 1)  # noqa: E731
    return Batch(obs=as_obs(obs), actions=np.array(actions), returns=np.array(returns, dtype=np.float32),
                 next_obs=as_obs(next_obs), discounts=np.array(discounts, dtype=np.float32),
                 weights=np.ones(len(actions), dtype=np.float32), indices=np.arange(len(actions)))


def test_margin_loss_is_max_of_q_plus_margin_minus_expert_q():
    q_values = torch.tensor([[1.0, 2.0, 0.5], [3.0, 0.0, 2.9], [5.0, 0.0, 0.0]])
    expert_actions = torch.tensor([0, 0, 0])
    # max(1, 2.8, 1.3) - 1 = 1.8; max(3, 0.8, 3.7) - 3 = 0.7; max(5, 0.8, 0.8) - 5 = 0 (expert ahead by > margin)
    torch.testing.assert_close(margin_loss(q_values, expert_actions, 0.8), torch.tensor([1.8, 0.7, 0.0]))


def test_dqfd_loss_of_a_mixed_batch_matches_hand_computed_value():
    agent = table_agent(margin=0.8, margin_weight=2.0, demo_n_step_weight=0.5)
    # Demo rows (s0, a_E=1), (s1, a_E=1). Margins: max(1.8, 0) - 0 = 1.8 and max(1.3, 2) - 2 = 0: mean 0.9.
    # 1-step targets: 1 + 0.5 * max Q(s2) = 1 (q 0: error^2 1), terminated 0 (q 2: 4).
    # 2-step targets: 1.5 + 0.25 * max Q(s1) = 2 (q 0: 4), terminated 0 (q 2: 4). Rows: 1 + 0.5*4 = 3, 4 + 0.5*4 = 6.
    demos = DemoBatch(one_step=batch([0, 1], [1, 1], [1.0, 0.0], [2, 2], [0.5, 0.0]),
                      n_step=batch([0, 1], [1, 1], [1.5, 0.0], [1, 2], [0.25, 0.0]))
    # Online row (s1, a=0): target 1 + 0.5 * max Q(s0) = 1.5, q 0.5: error^2 1.
    online = batch([1], [0], [1.0], [0], [0.5])
    loss, stats = dqfd_loss(agent, online, demos)
    assert loss.item() == pytest.approx((1.0 + 3.0 + 6.0) / 3 + 2.0 * 0.9)
    assert stats["td_loss"] == pytest.approx(1.0)
    assert stats["demo_td_loss"] == pytest.approx(4.5)
    assert stats["margin_loss"] == pytest.approx(0.9)
    loss, stats = dqfd_loss(agent, None, demos)  # pre-training: demo rows only
    assert loss.item() == pytest.approx(9.0 / 2 + 2.0 * 0.9)
    assert "td_loss" not in stats


def test_demo_nstep_targets_stop_at_termination_and_bootstrap_after_truncation():
    # Episode 0: rewards 1, 2, 3, terminated. Episode 1: 4, 5, truncated. Episode 2: 6, terminated.
    rewards = np.array([1, 2, 3, 4, 5, 6], dtype=np.float32)
    terminations = np.array([0, 0, 1, 0, 0, 1], dtype=bool)
    truncations = np.array([0, 0, 0, 0, 1, 0], dtype=bool)
    episode_ids = np.array([0, 0, 0, 1, 1, 2])
    returns, bootstrap_index, discounts = demo_nstep_targets(rewards, terminations, truncations, episode_ids,
                                                             n=2, gamma=0.5)
    np.testing.assert_allclose(returns, [1 + 0.5 * 2, 2 + 0.5 * 3, 3, 4 + 0.5 * 5, 5, 6])
    np.testing.assert_array_equal(bootstrap_index, [1, 2, 2, 4, 4, 5])
    np.testing.assert_allclose(discounts, [0.25, 0.0, 0.0, 0.25, 0.5, 0.0])
    returns, bootstrap_index, discounts = demo_nstep_targets(rewards, terminations, truncations, episode_ids,
                                                             n=3, gamma=0.5)
    np.testing.assert_allclose(returns, [1 + 1 + 0.75, 2 + 1.5, 3, 6.5, 5, 6])
    np.testing.assert_array_equal(bootstrap_index, [2, 2, 2, 4, 4, 5])
    np.testing.assert_allclose(discounts, [0.0, 0.0, 0.0, 0.25, 0.5, 0.0])


def test_episode_ending_without_a_flag_bootstraps_and_never_runs_into_the_next():
    returns, bootstrap_index, discounts = demo_nstep_targets(
        np.array([1, 2, 4], dtype=np.float32), np.zeros(3, bool), np.zeros(3, bool), np.array([0, 0, 1]),
        n=3, gamma=0.5)
    np.testing.assert_allclose(returns, [1 + 0.5 * 2, 2, 4])
    np.testing.assert_array_equal(bootstrap_index, [1, 1, 2])
    np.testing.assert_allclose(discounts, [0.25, 0.5, 0.5])


def test_demo_replay_batches_bootstrap_from_the_true_next_observation():
    obs = np.array([[0.0], [1.0], [2.0]], dtype=np.float32)
    next_obs = np.array([[1.0], [9.0], [7.0]], dtype=np.float32)  # step 1 truncated: its final obs is 9
    replay = DemoReplay(obs, np.array([0, 1, 1]), np.array([1, 2, 4], dtype=np.float32), next_obs,
                        np.array([0, 0, 1], bool), np.array([0, 1, 0], bool), np.array([0, 0, 1]), n_step=3,
                        gamma=0.5)
    demos = replay.sample(64, np.random.default_rng(0))
    assert len(demos) == 64
    by_obs = {float(o[0]): (float(r), float(n[0]), float(d))
              for o, r, n, d in zip(demos.n_step.obs, demos.n_step.returns, demos.n_step.next_obs,
                                    demos.n_step.discounts, strict=True)}
    assert by_obs == {0.0: (2.0, 9.0, 0.25), 1.0: (2.0, 9.0, 0.5), 2.0: (4.0, 7.0, 0.0)}
    np.testing.assert_array_equal(demos.one_step.next_obs, next_obs[demos.one_step.indices])


def test_batch_split_takes_exactly_the_rounded_demo_fraction():
    assert batch_split(64, 0.25) == (48, 16)
    assert batch_split(20, 0.33) == (13, 7)
    assert batch_split(256, 0.0) == (256, 0)
    with pytest.raises(ConfigError, match="agent.demo_fraction.*no online rows"):
        batch_split(4, 0.9)


def cartpole_episodes(count: int, seed: int) -> list[Episode]:
    """Random-policy CartPole episodes, each stepped from a seeded reset."""
    env, rng = gym.make("CartPole-v1"), np.random.default_rng(seed)
    episodes = []
    for index in range(count):
        obs, _ = env.reset(seed=seed + index)
        observations, actions, rewards, terminations, truncations = [obs], [], [], [], []
        while not (terminations and (terminations[-1] or truncations[-1])):
            action = int(rng.integers(2))
            obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated)
        episodes.append(Episode(np.array(observations), np.array(actions), np.array(rewards, dtype=np.float32),
                                np.array(terminations), np.array(truncations), seed + index))
    return episodes


@pytest.fixture
def demo_dataset(tmp_path, monkeypatch):
    """A 5-episode CartPole dataset (`cartpole/test-v0`) under a temporary MINARI_DATASETS_PATH; its episodes."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    episodes = cartpole_episodes(5, seed=100)
    env = gym.make("CartPole-v1")
    write_episodes("cartpole/test-v0", episodes, env.observation_space, env.action_space, "CartPole-v1",
                   {"policy": "random"})
    return episodes


@pytest.fixture
def update_calls(monkeypatch):
    """Every DQNAgent.update call of a run: (replay batch or None, demo batch or None)."""
    calls: list[tuple[Batch | None, DemoBatch | None]] = []
    update = dqn.DQNAgent.update

    def spy(self, batch, demos=None):
        calls.append((batch, demos))
        return update(self, batch, demos)

    monkeypatch.setattr(dqn.DQNAgent, "update", spy)
    return calls


def test_batches_mix_exact_demo_rows_and_online_data_never_overwrites_demos(tmp_path, demo_dataset, update_calls):
    cfg = experiment.load_experiment("dqn_cartpole", [*TINY, "agent.demos=cartpole/test-v0",
                                                      "agent.demo_fraction=0.3", "agent.demo_pretrain_steps=3"])
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    assert metrics["global_step"] == 600
    pretrain, mixed = update_calls[:3], update_calls[3:]
    assert [(batch, len(demos)) for batch, demos in pretrain] == [(None, 20)] * 3
    assert len(mixed) > 20 and {(len(batch.actions), len(demos)) for batch, demos in mixed} == {(14, 6)}
    # 600 steps of 8 envs fill the 200-transition online buffer three times over; the demo rows drawn last
    # are still the dataset's (observation, expert action) pairs.
    expert_action = {tuple(obs): action for episode in demo_dataset
                     for obs, action in zip(episode.observations[:-1], episode.actions, strict=True)}
    for _, demos in mixed[-5:]:
        for obs, action in zip(demos.n_step.obs, demos.n_step.actions, strict=True):
            assert expert_action[tuple(obs)] == action


def test_resume_rebuilds_the_demo_replay_and_does_not_pretrain_again(tmp_path, demo_dataset, update_calls):
    overrides = [*TINY, "agent.demos=cartpole/test-v0", "agent.demo_pretrain_steps=4", "train.total_steps=300"]
    experiment.train(experiment.load_experiment("dqn_cartpole", overrides), tmp_path / "run", quiet=True)
    first_run_calls = len(update_calls)
    cfg = experiment.resume_config(tmp_path / "run", ["train.total_steps=600"])
    experiment.train(cfg, tmp_path / "run", quiet=True, resume=True)
    resumed = update_calls[first_run_calls:]
    assert resumed and all(batch is not None for batch, _ in resumed)  # no demo-only (pre-training) steps
    assert all(len(demos) == 5 for _, demos in resumed)  # round(0.25 * 20) from the rebuilt demo replay


def test_prioritized_replay_weights_the_online_rows_and_demo_rows_are_uniform(tmp_path, demo_dataset,
                                                                               update_calls):
    cfg = experiment.load_experiment("dqn_cartpole", [*TINY, "agent.demos=cartpole/test-v0", "agent.prioritized=true",
                                                      "agent.n_step=3", "agent.dueling=true"])
    assert experiment.train(cfg, tmp_path / "run", quiet=True)["global_step"] == 600
    assert any((batch.weights < 1).any() for batch, _ in update_calls)  # importance weights of the online part
    assert all((demos.n_step.weights == 1).all() for _, demos in update_calls)


@pytest.mark.parametrize(("overrides", "message"), [
    (["agent.demos=cartpole/missing-v0"], "config key 'agent.demos': dataset 'cartpole/missing-v0'.*not found"),
    (["agent.demos=cartpole/test-v0", "env.id=MountainCar-v0", "env.num_envs=1"],
     "config key 'agent.demos': dataset 'cartpole/test-v0'.*space.*does not match"),
])
def test_bad_demos_fail_with_a_clear_message_before_training(tmp_path, demo_dataset, update_calls, overrides,
                                                             message):
    cfg = experiment.load_experiment("dqn_cartpole", [*TINY, *overrides])
    with pytest.raises(ConfigError, match=message):
        experiment.train(cfg, tmp_path / "run", quiet=True)
    assert update_calls == []
    assert not (tmp_path / "run").exists()
