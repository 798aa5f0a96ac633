"""DQN's TD target, loss, target-network updates and schedules, against hand-computed numbers.

The networks are swapped for lookup tables: observation s (a single float) -> a fixed row of
Q-values, so every target below can be worked out on paper.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rl_platform.agents.dqn.dqn import DQNAgent, DQNConfig
from rl_platform.buffers import Batch, ReplayBuffer
from rl_platform.config import ModelConfig
from rl_platform.schedules import linear_schedule

# Q-values per observation (rows) and action (columns).
ONLINE = [
    [1.0, 5.0, 2.0],     # s=0: online argmax 1
    [0.0, 0.0, 9.0],     # s=1: online argmax 2
    [0.0, 0.0, 0.0],     # s=2
    [0.0, 1.0, 0.0],     # s=3 (a reset observation): online argmax 1
    [7.0, 0.0, 0.0],     # s=4 (a terminal observation): online argmax 0
]
TARGET = [
    [10.0, 3.0, 7.0],    # s=0: target max 10 (action 0); double DQN rates action 1 -> 3
    [4.0, 8.0, 6.0],     # s=1: target max 8 (action 1); double DQN rates action 2 -> 6
    [0.0, 0.0, 0.0],
    [50.0, 50.0, 50.0],  # s=3: bootstrapping from the reset obs would add 50 * discount
    [-100.0, 0.0, 0.0],  # s=4: bootstrapping through a termination would add -100 * discount
]


class TableQ(nn.Module):
    """Q(s, .) = table[s] for integer-valued observations of shape (1,)."""

    def __init__(self, rows: list[list[float]]) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.tensor(rows, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.table[obs.reshape(obs.shape[0], -1)[:, 0].long()]


OBS_SPACE = gym.spaces.Box(0.0, 10.0, (1,), np.float32)


def make_agent(**overrides) -> DQNAgent:
    cfg = DQNConfig(**{"lr": 0.01, "gamma": 0.9, **overrides})
    return DQNAgent(cfg, OBS_SPACE, gym.spaces.Discrete(3), ModelConfig(encoder={"name": "mlp", "hidden_sizes": [8]}),
                    torch.device("cpu"), seed=0)


def make_table_agent(**overrides) -> DQNAgent:
    agent = make_agent(**overrides)
    agent.q_network = TableQ(ONLINE)
    agent.target_network = TableQ(TARGET).requires_grad_(False)
    agent.optimizers["q_network"] = torch.optim.SGD(agent.q_network.parameters(), lr=0.0)
    return agent


def make_batch(next_obs, returns, discounts, obs=None, actions=None, weights=None) -> Batch:
    size = len(returns)
    return Batch(
        obs=np.asarray(obs if obs is not None else [0] * size, dtype=np.float32).reshape(size, 1),
        actions=np.asarray(actions if actions is not None else [0] * size, dtype=np.int64),
        returns=np.asarray(returns, dtype=np.float32),
        next_obs=np.asarray(next_obs, dtype=np.float32).reshape(size, 1),
        discounts=np.asarray(discounts, dtype=np.float32),
        weights=np.asarray(weights if weights is not None else [1.0] * size, dtype=np.float32),
        indices=np.arange(size),
    )


# ---------------------------------------------------------------------------------------------
# TD target


def test_double_dqn_target_rates_online_argmax_with_target_net():
    agent = make_table_agent(double=True)
    batch = make_batch(next_obs=[0, 1], returns=[1.0, 2.0], discounts=[0.9, 0.5])
    # s'=0: online argmax 1, Q_target(0, 1) = 3 -> 1 + 0.9 * 3 = 3.7
    # s'=1: online argmax 2, Q_target(1, 2) = 6 -> 2 + 0.5 * 6 = 5.0
    target = agent.td_target(batch)
    np.testing.assert_allclose(target.numpy(), [3.7, 5.0], rtol=1e-6)


def test_plain_dqn_target_is_max_of_target_net():
    agent = make_table_agent(double=False)
    batch = make_batch(next_obs=[0, 1], returns=[1.0, 2.0], discounts=[0.9, 0.5])
    # s'=0: max Q_target = 10 -> 1 + 0.9 * 10 = 10.0; s'=1: max 8 -> 2 + 0.5 * 8 = 6.0
    target = agent.td_target(batch)
    np.testing.assert_allclose(target.numpy(), [10.0, 6.0], rtol=1e-6)


def test_truncated_transition_bootstraps_and_terminated_one_does_not():
    agent = make_table_agent(double=True)
    # Truncated: discount gamma = 0.9 -> 1 + 0.9 * Q_target(0, 1) = 1 + 2.7 = 3.7.
    # Terminated: discount 0 -> just the return 1 (Q_target(4, 0) = -100 must not leak in).
    batch = make_batch(next_obs=[0, 4], returns=[1.0, 1.0], discounts=[0.9, 0.0])
    np.testing.assert_allclose(agent.td_target(batch).numpy(), [3.7, 1.0], rtol=1e-6)


def test_truncated_episode_bootstraps_from_final_obs():
    # One env, 2-step returns, gamma 0.9. Episode: s=2 -> s=1 -> s=0 (time limit: truncated,
    # final obs 0); the vector env then spends a step resetting to s=3 (invalid), and the next
    # episode s=3 -> s=4 terminates.
    agent = make_table_agent(double=True)
    buf = ReplayBuffer(8, 1, (1,), np.float32, n_step=2, gamma=0.9)
    rows = [  # obs, action, reward, next_obs, terminated, truncated, valid
        (2, 0, 1.0, 1, False, False, True),
        (1, 1, 1.0, 0, False, True, True),
        (0, 0, 0.0, 3, False, False, False),
        (3, 2, 2.0, 4, True, False, True),
    ]
    for obs, action, reward, next_obs, term, trunc, valid in rows:
        buf.add(np.array([[obs]], np.float32), np.array([action]), np.array([reward], np.float32),
                np.array([[next_obs]], np.float32), np.array([term]), np.array([trunc]),
                np.array([valid]))
    expected = {
        # index: (next_obs, return, discount, TD target)
        # row 0: 1 + 0.9 * 1 = 1.9, window ends in the truncation: discount 0.81, s' = 0;
        #        target 1.9 + 0.81 * Q_target(0, 1) = 1.9 + 0.81 * 3 = 4.33
        0: (0.0, 1.9, 0.81, 4.33),
        # row 1: 1, discount 0.9, s' = 0 (the final obs, not the reset obs 3):
        #        target 1 + 0.9 * 3 = 3.7 (from s' = 3 it would be 1 + 0.9 * 50 = 46)
        1: (0.0, 1.0, 0.9, 3.7),
        # row 3: terminated: 2 + 0 = 2
        3: (4.0, 2.0, 0.0, 2.0),
    }
    batch = buf.sample(64, np.random.default_rng(0))
    targets = agent.td_target(batch).numpy()
    assert set(batch.indices.tolist()) == set(expected)   # the reset step (row 2) never appears
    for i, index in enumerate(batch.indices.tolist()):
        next_obs, ret, discount, target = expected[index]
        assert batch.next_obs[i, 0] == next_obs
        assert batch.returns[i] == pytest.approx(ret, rel=1e-6)
        assert batch.discounts[i] == pytest.approx(discount, rel=1e-6)
        assert targets[i] == pytest.approx(target, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# Loss


@pytest.mark.parametrize(("loss", "expected_loss"), [
    # TD errors 5.4 and -7 (below), weights 1 and 0.5.
    # mse: (1 * 5.4**2 + 0.5 * 7**2) / 2 = (29.16 + 24.5) / 2 = 26.83
    ("mse", 26.83),
    # huber (delta 1): |x| - 0.5 = 4.9 and 6.5 -> (4.9 + 0.5 * 6.5) / 2 = (4.9 + 3.25) / 2 = 4.075
    ("huber", 4.075),
])
def test_update_computes_weighted_loss_and_td_errors_by_hand(loss, expected_loss):
    agent = make_table_agent(double=True, loss=loss, target_update_interval=1000)
    batch = make_batch(obs=[0, 1], actions=[0, 2], next_obs=[1, 0], returns=[1.0, 2.0],
                       discounts=[0.9, 0.0], weights=[1.0, 0.5])
    # targets: 1 + 0.9 * Q_target(1, argmax online = 2) = 1 + 0.9 * 6 = 6.4; 2 + 0 = 2.
    # Q(s, a): ONLINE[0][0] = 1, ONLINE[1][2] = 9 -> TD errors 6.4 - 1 = 5.4, 2 - 9 = -7.
    stats = agent.update(batch)
    np.testing.assert_allclose(agent.last_td_errors, [5.4, -7.0], rtol=1e-6)
    assert stats["td_loss"] == pytest.approx(expected_loss, rel=1e-6)
    assert stats["q_values"] == pytest.approx(5.0)   # mean(1, 9)
    assert agent.num_updates == 1


# ---------------------------------------------------------------------------------------------
# Target network


def _params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def _random_batch(seed: int) -> Batch:
    rng = np.random.default_rng(seed)
    return make_batch(obs=rng.uniform(0, 10, 16), actions=rng.integers(0, 3, 16),
                      next_obs=rng.uniform(0, 10, 16), returns=rng.uniform(1, 5, 16),
                      discounts=np.full(16, 0.9))


def test_hard_target_update_copies_only_every_target_update_interval_steps():
    torch.manual_seed(0)
    agent = make_agent(tau=1.0, target_update_interval=3, lr=0.01)
    initial = _params(agent.q_network)
    assert _same(_params(agent.target_network), initial)
    for step in (1, 2):
        agent.update(_random_batch(step))
        assert not _same(_params(agent.q_network), initial), "the online net must learn"
        assert _same(_params(agent.target_network), initial), f"target moved after {step} steps"
    agent.update(_random_batch(3))
    after_three = _params(agent.q_network)
    assert _same(_params(agent.target_network), after_three)   # exact copy on step 3
    agent.update(_random_batch(4))
    assert not _same(_params(agent.q_network), after_three)
    assert _same(_params(agent.target_network), after_three)   # held until step 6


def test_polyak_update_with_tau_half_averages_online_and_target():
    agent = make_agent(tau=0.5)
    with torch.no_grad():
        for p in agent.q_network.parameters():
            p.fill_(2.0)
        for p in agent.target_network.parameters():
            p.fill_(0.0)
    agent.update_target()
    # 0 + 0.5 * (2 - 0) = 1
    for p in agent.target_network.parameters():
        assert torch.all(p == 1.0)
    agent.update_target()
    # 1 + 0.5 * (2 - 1) = 1.5
    for p in agent.target_network.parameters():
        assert torch.all(p == 1.5)
    for p in agent.q_network.parameters():
        assert torch.all(p == 2.0)   # the online net is untouched


def test_polyak_update_runs_after_each_gradient_step_with_interval_one():
    torch.manual_seed(0)
    agent = make_agent(tau=0.5, target_update_interval=1)
    with torch.no_grad():
        for p in agent.target_network.parameters():
            p.zero_()
    agent.update(_random_batch(0))
    # target = 0 + 0.5 * (online_after_step - 0) = online_after_step / 2
    for target, online in zip(agent.target_network.parameters(), agent.q_network.parameters(),
                              strict=True):
        torch.testing.assert_close(target, online.detach() / 2)


# ---------------------------------------------------------------------------------------------
# Schedules


@pytest.mark.parametrize(("t", "expected"), [
    (0, 1.0),          # start
    (50, 0.525),       # halfway: 0.05 + 0.95 * 0.5
    (75, 0.2875),      # 0.05 + 0.95 * 0.25
    (100, 0.05),       # end
    (250, 0.05),       # beyond the end: held at the final value
])
def test_linear_epsilon_schedule(t, expected):
    assert linear_schedule(1.0, 0.05, 100, t) == pytest.approx(expected)


def test_linear_schedule_can_increase_like_the_per_beta_anneal():
    # beta from 0.4 to 1 over 1000 steps: 1 + (0.4 - 1) * (1 - t / 1000)
    assert linear_schedule(0.4, 1.0, 1000, 0) == pytest.approx(0.4)
    assert linear_schedule(0.4, 1.0, 1000, 250) == pytest.approx(0.55)   # 1 - 0.6 * 0.75
    assert linear_schedule(0.4, 1.0, 1000, 1000) == pytest.approx(1.0)
    assert linear_schedule(0.4, 1.0, 1000, 5000) == pytest.approx(1.0)
