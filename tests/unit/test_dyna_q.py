"""Dyna-Q: the count model against hand-counted transitions, planning updates against hand-computed values, the
fused loop against the Python loop with planning on, and the config errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.agents.tabular_q import dyna, rules
from rl_platform.agents.tabular_q.tabular_q import FusedLoop, PythonLoop, TabularQAgent, TabularQConfig
from rl_platform.envs.rng import seed_streams
from rl_platform.errors import ConfigError
from tests.unit.test_tabular_q import run_loop

GAMMA = 0.9


def three_outcome_model() -> dyna.CountModel:
    """(s=0, a=1): twice to s'=2 with rewards 1 and 0.5 (no termination), once to s'=3 with reward 0 and
    termination; (s=2, a=0): once to s'=1 with reward -1, truncated (not terminated)."""
    model = dyna.CountModel.allocate(4, 2)
    dyna.observe(model, 0, 1, 1.0, 2, False)
    dyna.observe(model, 0, 1, 0.0, 3, True)
    dyna.observe(model, 0, 1, 0.5, 2, False)
    dyna.observe(model, 2, 0, -1.0, 1, False)
    return model


def test_count_model_holds_the_counts():
    model = three_outcome_model()
    assert model.totals[0, 1] == 3 and model.totals[2, 0] == 1 and model.totals.sum() == 4
    assert model.counts[0, 1, 2] == 2 and model.counts[0, 1, 3] == 1
    assert model.terminal_counts[0, 1, 3] == 1 and model.terminal_counts.sum() == 1
    assert model.reward_sums[0, 1, 2] == 1.5
    assert list(model.successors[0, 1, :model.num_successors[0, 1]]) == [2, 3]
    assert model.num_pairs[0] == 2 and list(model.pairs[:2]) == [0 * 2 + 1, 2 * 2 + 0]
    assert model.probabilities(0, 1) == pytest.approx({2: 2 / 3, 3: 1 / 3})
    assert model.probabilities(1, 0) == {}


def test_samples_follow_the_counts():
    model, rng = three_outcome_model(), seed_streams(0, 1)
    draws = [dyna.sample(model, rng) for _ in range(30_000)]
    from_pair = [d for d in draws if (d[0], d[1]) == (0, 1)]
    assert len(from_pair) / len(draws) == pytest.approx(0.5, abs=0.01)  # two pairs seen, drawn uniformly
    to_two = [d for d in from_pair if d[3] == 2]
    assert len(to_two) / len(from_pair) == pytest.approx(2 / 3, abs=0.01)
    assert all(d[2] == 0.75 and not d[4] for d in to_two)  # mean reward of (0, 1, 2); never terminated
    assert all(d[2] == 0.0 and d[4] for d in from_pair if d[3] == 3)
    assert all(d[3] == 1 and d[2] == -1.0 and not d[4] for d in draws if d[0] == 2)  # truncation bootstraps


def test_expected_target_by_hand():
    model = three_outcome_model()
    q = np.zeros((1, 4, 2))
    q[0, 2] = [0.5, 1.5]
    q[0, 3] = [7.0, 9.0]  # terminal successor: never bootstrapped
    # 2/3 * (0.75 + 0.9 * 1.5) + 1/3 * 0 = (1.5 + 2 * 0.9 * 1.5) / 3
    assert dyna.expected_target(model, q, 0, 1, GAMMA) == pytest.approx((1.5 + 2.7) / 3)


def test_sample_planning_on_a_deterministic_model_by_hand():
    """One pair seen, one outcome: n updates at step size lr move Q(s, a) to target + (q0 - target)(1 - lr)^n."""
    model = dyna.CountModel.allocate(3, 2)
    dyna.observe(model, 0, 1, 2.0, 1, False)
    q = np.zeros((1, 3, 2))
    q[0, 0, 1] = 1.0
    q[0, 1] = [3.0, 4.0]
    dyna.plan(q, model, 3, False, GAMMA, 0.5, seed_streams(0, 1))
    target = 2.0 + GAMMA * 4.0
    assert q[0, 0, 1] == pytest.approx(target + (1.0 - target) * 0.5**3)
    assert q[0, 1].tolist() == [3.0, 4.0] and q[0, 0, 0] == 0.0 and np.all(q[0, 2] == 0.0)


def test_planning_carries_the_goal_back_within_one_episode():
    """Sutton & Barto's observation (Figure 8.3): after a first episode down a corridor, plain Q-learning has
    moved only the value of the step next to the goal; Dyna-Q's planning has carried it back to the start."""
    length = 6
    outcomes = [(s, 1, 1.0 if s == length - 2 else 0.0, s + 1, s == length - 2) for s in range(length - 1)]
    for planning_steps, start_value_is_nonzero in [(0, False), (200, True)]:
        agent = TabularQAgent(TabularQConfig(lr=0.5, gamma=GAMMA, planning_steps=planning_steps),
                              gym.spaces.Discrete(length), gym.spaces.Discrete(2), 1, seed=0)
        for s, a, r, s2, term in outcomes:
            rules.learn_batch(agent.q, rules.Q_LEARNING, np.array([[s]]), np.array([a]), np.array([r]),
                              np.array([[s2]]), np.array([term]), np.array([term]), np.array([True]),
                              np.array([[s2]]), GAMMA, 0.5, 0.0, agent.rng, agent.pending, agent.model,
                              agent.planning)
        assert agent.q[0, length - 2, 1] >= 0.5  # the direct update of the goal step, in both
        assert (agent.q[0, 0, 1] > 0) == start_value_is_nonzero
    assert agent.q[0, 0, 1] == pytest.approx(GAMMA ** (length - 2), rel=0.05)  # planning reached the fixed point


@pytest.mark.parametrize("update", ["sample", "expected"])
@pytest.mark.parametrize("env_id", ["rlp/FrozenLake-v1", "rlp/Taxi-v4"])
def test_fused_loop_equals_python_loop_with_planning(env_id, update):
    cfg = TabularQConfig(lr=0.3, lr_final=0.05, exploration_fraction=0.5, planning_steps=7, planning_update=update)
    fused = run_loop(FusedLoop, env_id, cfg, 6, 12_000, 5_000, max_episode_steps=50)
    python = run_loop(PythonLoop, env_id, cfg, 6, 12_000, 5_000, max_episode_steps=50)
    np.testing.assert_array_equal(fused[0].q, python[0].q)
    np.testing.assert_array_equal(fused[0].rng, python[0].rng)
    np.testing.assert_array_equal(fused[1], python[1])
    for name, array in fused[0].model.state_dict().items():
        np.testing.assert_array_equal(array, python[0].model.state_dict()[name], err_msg=name)
    assert fused[0].model.totals.sum() == 12_000  # every real step counted once


def test_planning_off_leaves_plain_q_learning_unchanged():
    """planning_steps 0 allocates no model and gives the numbers of Q-learning without Dyna."""
    cfg = TabularQConfig(lr=0.3)
    agent = run_loop(FusedLoop, "rlp/FrozenLake-v1", cfg, 4, 8_000, 8_000)[0]
    assert agent.model.counts.size == 0
    planned = run_loop(FusedLoop, "rlp/FrozenLake-v1", TabularQConfig(lr=0.3, planning_steps=3), 4, 8_000, 8_000)[0]
    assert not np.array_equal(agent.q, planned.q)


def test_model_is_checkpointed():
    cfg = TabularQConfig(planning_steps=2)
    space, actions = gym.spaces.Discrete(4), gym.spaces.Discrete(2)
    agent = TabularQAgent(cfg, space, actions, 1, seed=0)
    dyna.observe(agent.model, 3, 1, 0.5, 2, True)
    restored = TabularQAgent(cfg, space, actions, 1, seed=1)
    restored.load_state_dict(agent.state_dict())
    assert restored.model.probabilities(3, 1) == {2: 1.0} and restored.model.terminal_counts[3, 1, 2] == 1


@pytest.mark.parametrize(("cfg_kwargs", "space", "message"), [
    ({"rule": "sarsa"}, gym.spaces.Discrete(4), "agent.rule: q_learning"),
    ({"discretization": "bins", "bins": [4]}, gym.spaces.Box(-1.0, 1.0, (2,)), "discrete observation space"),
])
def test_planning_config_errors_name_the_key(cfg_kwargs, space, message):
    with pytest.raises(ConfigError, match=message) as error:
        TabularQAgent(TabularQConfig(planning_steps=5, **cfg_kwargs), space, gym.spaces.Discrete(2), 1, seed=0)
    assert error.value.key_path == "agent.planning_steps"


def test_model_too_large_is_a_config_error():
    with pytest.raises(ConfigError, match="count model would have"):
        TabularQAgent(TabularQConfig(planning_steps=1), gym.spaces.Discrete(10_000), gym.spaces.Discrete(4), 1,
                      seed=0)
