"""Tabular Q-learning: features, each update rule against hand-computed values, and the fused Numba
loop against the Python loop (same transitions, same Q-table, bit for bit)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.agents.tabular_q import features, rules
from rl_platform.agents.tabular_q.tabular_q import FusedLoop, PythonLoop, TabularQAgent, TabularQConfig
from rl_platform.errors import ConfigError, EnvError
from rl_platform.schedules import linear_schedule

# ---------------------------------------------------------------------------------------------
# Features


def active(spec: features.FeatureSpec, obs) -> list[int]:
    out = np.zeros((1, spec.num_active), dtype=np.int64)
    features.active_features_batch(np.asarray([obs], dtype=np.float64), spec, out)
    return out[0].tolist()


def test_discrete_and_multidiscrete_observations_index_the_table():
    spec = features.feature_spec(gym.spaces.Discrete(5, start=2), "none", [10], 8, None, None)
    assert (spec.num_features, spec.num_active) == (5, 1)
    assert active(spec, [2]) == [0] and active(spec, [6]) == [4]
    spec = features.feature_spec(gym.spaces.MultiDiscrete([3, 4]), "none", [10], 8, None, None)
    assert spec.num_features == 12 and active(spec, [2, 1]) == [9]


def test_uniform_bins_clip_to_the_edges():
    space = gym.spaces.Box(np.array([0.0, -1.0], np.float32), np.array([1.0, 1.0], np.float32), dtype=np.float32)
    spec = features.feature_spec(space, "bins", [4, 2], 8, None, None)
    assert (spec.num_features, spec.num_active) == (8, 1)
    assert active(spec, [0.3, -0.5]) == [1 * 2 + 0]  # bin 1 of 4 (0.25 wide), bin 0 of 2
    assert active(spec, [0.99, 0.5]) == [3 * 2 + 1]
    assert active(spec, [-7.0, 9.0]) == [0 * 2 + 1]  # outside the range: edge bins


def test_tile_coding_offsets_by_hand():
    space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
    spec = features.feature_spec(space, "tiles", [4], 2, None, None)
    # Two tilings of 4 + 1 tiles, 0.25 wide; the second is shifted by half a tile.
    assert (spec.num_features, spec.num_active) == (10, 2)
    assert active(spec, [0.3]) == [1, 5 + 1]  # 0.3 * 4 = 1.2 -> tile 1; 1.2 + 0.5 -> tile 1
    assert active(spec, [0.4]) == [1, 5 + 2]  # 1.6 -> 1; 2.1 -> 2
    assert active(spec, [1.0]) == [4, 5 + 4]


def test_feature_config_errors_name_the_key():
    unbounded = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
    with pytest.raises(ConfigError, match="agent.obs_low"):
        features.feature_spec(unbounded, "bins", [4], 8, None, None)
    with pytest.raises(ConfigError, match="agent.discretization"):
        features.feature_spec(unbounded, "none", [4], 8, [0, 0], [1, 1])
    with pytest.raises(ConfigError, match="agent.discretization"):
        features.feature_spec(gym.spaces.Discrete(3), "tiles", [4], 8, None, None)
    with pytest.raises(ConfigError, match="agent.bins"):
        features.feature_spec(unbounded, "bins", [4, 4, 4], 8, [0], [1])
    with pytest.raises(ConfigError, match="agent.obs_high"):
        features.feature_spec(unbounded, "bins", [4], 8, [0], [0])
    spec = features.feature_spec(unbounded, "bins", [4], 8, [-1.0], [1.0])
    assert spec.num_features == 16
    with pytest.raises(EnvError, match="Discrete action space"):
        TabularQAgent(TabularQConfig(), gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (1,)), 1, 0)
    with pytest.raises(EnvError, match="observation space"):
        TabularQAgent(TabularQConfig(), gym.spaces.Box(0, 1, (2, 2)), gym.spaces.Discrete(2), 1, 0)


# ---------------------------------------------------------------------------------------------
# Update rules on a tiny MDP: 2 states x 3 actions, one transition s=0, a=1, r=1 -> s'=1.

Q0 = np.array([[0.0, 2.0, -1.0], [4.0, 1.0, 3.0]])  # Q[s, a]
GAMMA, LR, EPS = 0.9, 0.5, 0.3
S, S_NEXT = np.array([0]), np.array([1])


def update(rule: int, q: np.ndarray, table: int = 0, terminated: bool = False, next_action: int = -1) -> float:
    return rules.td_update(q, rule, table, S, 1, 1.0, S_NEXT, terminated, next_action, GAMMA, LR, EPS)


@pytest.mark.parametrize(("rule", "next_value"), [
    (rules.Q_LEARNING, 4.0),  # max_b Q(s', b)
    (rules.SARSA, 3.0),  # Q(s', a' = 2)
    (rules.EXPECTED_SARSA, 0.3 * (4 + 1 + 3) / 3 + 0.7 * 4.0),  # eps * mean + (1 - eps) * max
])
def test_single_table_rules(rule, next_value):
    q = Q0[None].copy()
    td_error = update(rule, q, next_action=2)
    expected_td = 1.0 + GAMMA * next_value - 2.0
    assert td_error == pytest.approx(expected_td)
    expected = Q0.copy()
    expected[0, 1] = 2.0 + LR * expected_td
    np.testing.assert_allclose(q[0], expected)
    # Terminated: no bootstrap, target = r.
    q = Q0[None].copy()
    assert update(rule, q, terminated=True, next_action=2) == pytest.approx(1.0 - 2.0)
    assert q[0, 0, 1] == pytest.approx(2.0 + LR * (1.0 - 2.0))


def test_double_q_updates_one_table_from_the_other():
    other = np.array([[0.0, 0.0, 0.0], [1.0, 5.0, -2.0]])
    q = np.stack([Q0, other])
    # Updating table 0: a* = argmax_b Q_0(s', b) = 0, valued by table 1: 1.0.
    td_error = update(rules.DOUBLE_Q, q, table=0)
    assert td_error == pytest.approx(1.0 + GAMMA * 1.0 - 2.0)
    assert q[0, 0, 1] == pytest.approx(2.0 + LR * td_error)
    np.testing.assert_array_equal(q[1], other)
    # Updating table 1: a* = argmax_b Q_1(s', b) = 1, valued by table 0: 1.0; Q_1(s, a) was 0.
    q = np.stack([Q0, other])
    td_error = update(rules.DOUBLE_Q, q, table=1)
    assert td_error == pytest.approx(1.0 + GAMMA * 1.0 - 0.0)
    assert q[1, 0, 1] == pytest.approx(LR * td_error)
    np.testing.assert_array_equal(q[0], Q0)


def test_tile_coded_update_spreads_the_step_over_active_features():
    q = np.zeros((1, 4, 2))
    q[0, 0, 1], q[0, 2, 1] = 1.0, 0.5  # Q(s, 1) = 1.5 with features {0, 2}
    q[0, 1, 0], q[0, 3, 0] = 2.0, 2.0  # Q(s', 0) = 4 with features {1, 3}
    td_error = rules.td_update(q, rules.Q_LEARNING, 0, np.array([0, 2]), 1, 0.0, np.array([1, 3]), False, -1,
                               0.5, 0.2, 0.0)
    assert td_error == pytest.approx(0.5 * 4.0 - 1.5)
    assert (q[0, 0, 1], q[0, 2, 1]) == (pytest.approx(1.0 + 0.1 * 0.5), pytest.approx(0.5 + 0.1 * 0.5))


def test_epsilon_greedy_breaks_ties_at_random_and_greedy_takes_the_lowest():
    q = np.array([[[1.0, 3.0, 3.0, 0.0]]])
    rng = np.arange(1, dtype=np.uint64)
    picks = [rules.epsilon_greedy(q, np.array([0]), 0.0, rng) for _ in range(2000)]
    counts = np.bincount(picks, minlength=4)
    assert counts[0] == counts[3] == 0 and abs(counts[1] - 1000) < 150
    assert rules.greedy_action(q, -1, np.array([0])) == 1
    picks = [rules.epsilon_greedy(q, np.array([0]), 1.0, rng) for _ in range(4000)]
    assert np.all(np.abs(np.bincount(picks, minlength=4) - 1000) < 150)
    assert linear_schedule(1.0, 0.1, 100.0, 50) == pytest.approx(0.55)
    assert linear_schedule(1.0, 0.1, 100.0, 500) == pytest.approx(0.1)


# ---------------------------------------------------------------------------------------------
# Fused kernel == Python loop


def run_loop(loop_cls, env_id: str, cfg: TabularQConfig, num_envs: int, steps: int, chunk: int, **env_kwargs):
    envs = gym.make_vec(env_id, num_envs=num_envs, **env_kwargs)
    agent = TabularQAgent(cfg, envs.single_observation_space, envs.single_action_space, num_envs, seed=7)
    loop = loop_cls(envs, agent, 123, steps)
    step, returns, lengths = 0, [], []
    while step < steps:
        result = loop.run(step, min(chunk, steps - step))
        step += result.env_steps
        returns.append(result.episode_returns)
        lengths.append(result.episode_lengths)
    return agent, np.concatenate(returns), np.concatenate(lengths), envs


@pytest.mark.parametrize("rule", list(rules.RULES))
@pytest.mark.parametrize(("env_id", "cfg_kwargs"), [
    ("rlp/FrozenLake-v1", {}),
    ("rlp/Taxi-v4", {}),
    ("rlp/MountainCar-v0", {"discretization": "tiles", "bins": [6], "num_tilings": 4}),
])
def test_fused_loop_equals_python_loop(rule, env_id, cfg_kwargs):
    cfg = TabularQConfig(rule=rule, lr=0.3, lr_final=0.05, exploration_fraction=0.5, **cfg_kwargs)
    steps = 24_000
    fused = run_loop(FusedLoop, env_id, cfg, 6, steps, 5_000, max_episode_steps=50)
    python = run_loop(PythonLoop, env_id, cfg, 6, steps, 5_000, max_episode_steps=50)
    assert len(fused[1]) > 100  # episodes ended, both by termination and by the 50-step limit
    np.testing.assert_array_equal(fused[0].q, python[0].q)
    np.testing.assert_array_equal(fused[1], python[1])
    np.testing.assert_array_equal(fused[2], python[2])
    np.testing.assert_array_equal(fused[0].rng, python[0].rng)
    np.testing.assert_array_equal(fused[3].get_state()["states"], python[3].get_state()["states"])
    assert np.any(fused[0].q != cfg.q_init)


def test_fused_loop_does_not_depend_on_chunking():
    cfg = TabularQConfig(rule="sarsa", lr=0.2)
    whole = run_loop(FusedLoop, "rlp/FrozenLake8x8-v1", cfg, 4, 40_000, 40_000)
    pieces = run_loop(FusedLoop, "rlp/FrozenLake8x8-v1", cfg, 4, 40_000, 3_001)
    np.testing.assert_array_equal(whole[0].q, pieces[0].q)
    np.testing.assert_array_equal(whole[1], pieces[1])


def test_agent_checkpoint_round_trip_and_shape_check():
    space, actions = gym.spaces.Discrete(5), gym.spaces.Discrete(2)
    agent = TabularQAgent(TabularQConfig(rule="double_q"), space, actions, 3, seed=0)
    agent.q[...] = np.random.default_rng(0).normal(size=agent.q.shape)
    restored = TabularQAgent(TabularQConfig(rule="double_q"), space, actions, 8, seed=1)
    restored.load_state_dict(agent.state_dict())
    np.testing.assert_array_equal(restored.q, agent.q)
    np.testing.assert_array_equal(restored.greedy_policy(), agent.q.sum(0).argmax(1))
    obs = np.arange(5)
    np.testing.assert_array_equal(restored.act(obs, explore=False)[0], agent.q.sum(0).argmax(1))
    with pytest.raises(EnvError, match="shape"):
        TabularQAgent(TabularQConfig(), space, actions, 3, seed=0).load_state_dict(agent.state_dict())
