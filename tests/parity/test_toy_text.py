"""Toy-text Numba envs vs Gymnasium's references: model, spaces, trajectories, outcome frequencies, kwargs.

Deterministic variants are compared step for step (obs, reward, terminated, truncated, final obs,
reset obs) from random states and random elapsed steps; stochastic ones by the frequency of each
outcome over many draws from fixed (state, action) pairs, within 5 binomial standard deviations.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import gymnasium as gym
import numpy as np
import pytest

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs import toy_text
from rl_platform.envs.toy_text import cliff_walking, frozen_lake, tabular, taxi

CUSTOM_MAP = ["SFFHF", "FHFFS", "FFFHF", "HFSFG"]  # non-square: 4 x 5, three start tiles

# (id, kwargs, module whose transition_model takes these kwargs)
DETERMINISTIC = [
    ("FrozenLake-v1", {"is_slippery": False}, frozen_lake),
    ("FrozenLake-v1", {"is_slippery": False, "desc": CUSTOM_MAP}, frozen_lake),
    ("FrozenLake-v1", {"is_slippery": True, "success_rate": 1.0}, frozen_lake),  # zero-probability outcomes
    ("FrozenLake8x8-v1", {"is_slippery": False}, frozen_lake),
    ("CliffWalking-v1", {}, cliff_walking),
    ("Taxi-v4", {}, taxi),
]
STOCHASTIC = [
    ("FrozenLake-v1", {}, frozen_lake),
    ("FrozenLake-v1", {"success_rate": 0.75, "reward_schedule": (2, -1, 0.5), "desc": CUSTOM_MAP}, frozen_lake),
    ("FrozenLake8x8-v1", {}, frozen_lake),
    ("CliffWalking-v1", {"is_slippery": True}, cliff_walking),
    ("CliffWalkingSlippery-v1", {}, cliff_walking),
    ("Taxi-v4", {"is_rainy": True}, taxi),
    ("Taxi-v4", {"is_rainy": True, "rainy_probability": 0.6, "fickle_passenger": True}, taxi),
]
ALL_IDS = ["FrozenLake-v1", "FrozenLake8x8-v1", "Taxi-v4", "CliffWalking-v1", "CliffWalkingSlippery-v1"]


def case_id(case) -> str:
    env_id, kwargs, _ = case
    return env_id + "".join(f"-{k}={'custom' if k == 'desc' else v}" for k, v in kwargs.items())


def reference_kwargs(env_id: str, kwargs: dict) -> dict:
    """Our transition_model kwargs for the reference registration (its spec kwargs included)."""
    return {**gym.spec(env_id).kwargs, **kwargs}


def time_limit(env: gym.Env) -> gym.wrappers.TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def within_5_sigma(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 5 * np.sqrt(n * p * (1 - p)) + 1


# -- model ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", DETERMINISTIC + STOCHASTIC, ids=case_id)
def test_transition_model_is_the_reference_P(case):
    env_id, kwargs, module = case
    reference = gym.make(env_id, **kwargs).unwrapped
    model = module.transition_model(**reference_kwargs(env_id, kwargs))
    assert model.num_states == reference.observation_space.n and model.num_actions == reference.action_space.n
    np.testing.assert_array_equal(model.initial, reference.initial_state_distrib)
    as_dict = model.as_dict()
    for s, per_action in reference.P.items():
        for a, outcomes in per_action.items():
            k = len(outcomes)
            assert model.num_outcomes[s, a] == k
            assert model.probs[s, a, k:].sum() == 0  # only padding beyond Gymnasium's outcomes
            assert model.probs[s, a, :k].tolist() == [o[0] for o in outcomes]
            assert model.next_state[s, a, :k].tolist() == [o[1] for o in outcomes]
            assert model.reward[s, a, :k].tolist() == [o[2] for o in outcomes]
            assert model.terminated[s, a, :k].tolist() == [o[3] for o in outcomes]
            assert as_dict[s][a] == [(float(p), int(n), float(r), bool(t)) for p, n, r, t in outcomes]


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "FrozenLake8x8-v1", "Taxi-v4", "CliffWalking-v1",
                                    "CliffWalkingSlippery-v1"])
def test_transition_model_by_env_id(env_id):
    kwargs = {"is_slippery": False} if env_id.startswith("FrozenLake") else {}
    reference = gym.make(env_id, **kwargs).unwrapped
    model = toy_text.transition_model(f"rlp/{env_id}", **kwargs)
    assert model.as_dict() == {s: {a: [(float(p), int(n), float(r), bool(t)) for p, n, r, t in outcomes]
                                   for a, outcomes in per_action.items()} for s, per_action in reference.P.items()}
    np.testing.assert_array_equal(model.initial, reference.initial_state_distrib)


# -- spaces and registration ---------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_spaces_and_time_limit_match_the_reference(env_id):
    ours, reference = gym.make(f"rlp/{env_id}"), gym.make(env_id)
    assert ours.observation_space == reference.observation_space
    assert ours.action_space == reference.action_space
    assert ours.spec.max_episode_steps == reference.spec.max_episode_steps
    assert (time_limit(ours) is None) == (time_limit(reference) is None)
    assert ours.unwrapped.env_def.name == env_id


def test_kwargs_reach_the_env_through_make_and_make_vec():
    envs = gym.make_vec("rlp/FrozenLake-v1", num_envs=8, map_name="8x8")
    assert envs.single_observation_space == gym.spaces.Discrete(64) and envs.observation_space.shape == (8,)
    assert envs.max_episode_steps == 100  # FrozenLake-v1's limit, whatever the map (as in Gymnasium)
    np.testing.assert_array_equal(envs.env_def.params,
                                  tabular.pack_params(frozen_lake.transition_model(map_name="8x8")))
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (8,) and obs.dtype == np.int64 and (obs == 0).all()

    envs = gym.make_vec("rlp/FrozenLake8x8-v1", num_envs=2, is_slippery=False)
    assert envs.max_episode_steps == 200
    np.testing.assert_array_equal(
        envs.env_def.params, tabular.pack_params(frozen_lake.transition_model(map_name="8x8", is_slippery=False)))

    env = gym.make("rlp/FrozenLake-v1", desc=CUSTOM_MAP, is_slippery=False)
    assert env.observation_space == gym.spaces.Discrete(20)
    np.testing.assert_array_equal(
        env.unwrapped.env_def.params,
        tabular.pack_params(frozen_lake.transition_model(desc=CUSTOM_MAP, is_slippery=False)))

    envs = gym.make_vec("rlp/Taxi-v4", num_envs=2, is_rainy=True, fickle_passenger=True, fickle_probability=0.5)
    params = envs.env_def.params
    assert params[taxi.FICKLE] == 1.0 and params[taxi.FICKLE_PROBABILITY] == 0.5
    assert params[tabular.MAX_OUTCOMES] == 3  # rainy moves have three outcomes

    envs = gym.make_vec("rlp/CliffWalking-v1", num_envs=2, is_slippery=True)
    assert envs.env_def.params[tabular.MAX_OUTCOMES] == 3
    assert gym.make_vec("rlp/CliffWalking-v1", num_envs=2).env_def.params[tabular.MAX_OUTCOMES] == 1


# -- deterministic variants: step for step ----------------------------------------------------
def teleport(rng, reference, n_states: int, limit: int | None) -> tuple[int, int]:
    """Put a reference env in a random state with a random elapsed-step count; returns both."""
    s = int(rng.integers(n_states))
    elapsed = int(rng.integers(limit)) if limit else 0
    reference.unwrapped.s = s
    if limit:
        time_limit(reference)._elapsed_steps = elapsed
    return s, elapsed


@pytest.mark.parametrize("case", DETERMINISTIC, ids=case_id)
def test_vector_env_matches_reference_step_for_step(case):
    env_id, kwargs, _ = case
    num_envs, steps = 8, 1500
    rng = np.random.default_rng(0)
    envs = gym.make_vec(f"rlp/{env_id}", num_envs=num_envs, **kwargs)
    references = [gym.make(env_id, **kwargs) for _ in range(num_envs)]
    limit = references[0].spec.max_episode_steps
    n_states, n_actions = references[0].observation_space.n, references[0].action_space.n
    deterministic_reset = references[0].unwrapped.initial_state_distrib.max() == 1.0

    envs.reset(seed=0)
    state = envs.get_state()
    for i, reference in enumerate(references):
        reference.reset(seed=i)
        state["states"][i] = 0.0
        state["states"][i, 0], state["elapsed"][i] = teleport(rng, reference, n_states, limit)
    envs.set_state(state)

    counts = Counter()
    for _ in range(steps):
        actions = rng.integers(n_actions, size=num_envs)
        obs, rewards, terminations, truncations, info = envs.step(actions)
        state = envs.get_state()
        for i, reference in enumerate(references):
            ref_obs, ref_reward, ref_terminated, ref_truncated, _ = reference.step(int(actions[i]))
            assert (rewards[i], terminations[i], truncations[i]) == (ref_reward, ref_terminated, ref_truncated)
            if not (ref_terminated or ref_truncated):
                assert obs[i] == ref_obs and not (info and info["_final_obs"][i])
                if rng.random() < 0.05:  # now and then, jump both to a random state (and elapsed count)
                    state["states"][i, 0], state["elapsed"][i] = teleport(rng, reference, n_states, limit)
                continue
            counts["terminated"] += ref_terminated
            counts["truncated"] += ref_truncated
            assert info["_final_obs"][i] and info["final_obs"][i] == ref_obs
            ref_obs, _ = reference.reset()
            if deterministic_reset:
                assert obs[i] == ref_obs and state["elapsed"][i] == 0
            # next episode: from a random state again, in both
            state["states"][i, 0], state["elapsed"][i] = teleport(rng, reference, n_states, limit)
        envs.set_state(state)
    assert counts["terminated"] > 10
    assert counts["truncated"] > 10 if limit else counts["truncated"] == 0


@pytest.mark.parametrize("env_id, kwargs", [("FrozenLake-v1", {"is_slippery": False, "desc": CUSTOM_MAP}),
                                            ("Taxi-v4", {})])
def test_single_env_matches_reference_including_time_limit(env_id, kwargs):
    rng = np.random.default_rng(1)
    ours, reference = gym.make(f"rlp/{env_id}", **kwargs), gym.make(env_id, **kwargs)
    limit = reference.spec.max_episode_steps
    ours.reset(seed=0)
    reference.reset(seed=0)
    truncations = 0
    for episode in range(60):  # each from a random state and elapsed count (every other one near the limit)
        s, elapsed = teleport(rng, reference, reference.observation_space.n, limit)
        if episode % 2:
            elapsed = time_limit(reference)._elapsed_steps = limit - int(rng.integers(1, 4))
        ours.unwrapped.set_state({"states": np.array([s] + [0.0] * (ours.unwrapped.env_def.state_size - 1))})
        time_limit(ours)._elapsed_steps = elapsed
        while True:
            action = int(rng.integers(reference.action_space.n))
            result, expected = ours.step(action), reference.step(action)
            assert result[:4] == expected[:4] and type(result[0]) is int
            if expected[2] or expected[3]:
                truncations += expected[3]
                break
    assert truncations > 0


# -- stochastic variants: outcome frequencies ---------------------------------------------------
def step_from(envs, starts: np.ndarray, actions: np.ndarray, fickle: bool = False) -> tuple[np.ndarray, ...]:
    """One step of every env from state `starts[i]` with `actions[i]`: (next_obs, rewards, terminations)."""
    state = envs.get_state()
    state["states"][:] = 0.0
    state["states"][:, 0] = starts
    if fickle:
        state["states"][:, 1] = 1.0
    state["elapsed"][:] = 0
    envs.set_state(state)
    obs, rewards, terminations, _, info = envs.step(actions)
    next_obs = np.where(info["_final_obs"], info["final_obs"], obs) if info else obs
    return next_obs.copy(), rewards.copy(), terminations.copy()


def outcome_counts(outcomes: tuple[np.ndarray, ...], block: slice) -> Counter:
    next_obs, rewards, terminations = (array[block].tolist() for array in outcomes)
    return Counter(zip(next_obs, rewards, terminations, strict=True))


def expected_outcomes(P, s: int, a: int) -> dict[tuple[int, float, bool], float]:
    expected: dict[tuple[int, float, bool], float] = defaultdict(float)
    for p, s_next, r, t in P[s][a]:
        if p > 0:
            expected[(int(s_next), float(r), bool(t))] += p
    return expected


def assert_frequencies(counts: Counter, n: int, expected: dict, context) -> None:
    assert set(counts) <= set(expected), (context, counts, expected)
    for outcome, p in expected.items():
        assert within_5_sigma(counts[outcome], n, p), (context, outcome, counts[outcome], n * p)


@pytest.mark.parametrize("case", STOCHASTIC, ids=case_id)
def test_outcome_frequencies_match_reference_P(case):
    env_id, kwargs, _ = case
    reference = gym.make(env_id, **kwargs).unwrapped
    n_states, n_actions = reference.observation_space.n, reference.action_space.n
    rng = np.random.default_rng(2)
    pairs = [(s, a) for s in range(n_states) for a in range(n_actions)]
    if len(pairs) > 300:
        pairs = [pairs[j] for j in rng.choice(len(pairs), 300, replace=False)]
    draws = 1500
    starts = np.repeat([s for s, _ in pairs], draws)
    actions = np.repeat([a for _, a in pairs], draws)
    envs = gym.make_vec(f"rlp/{env_id}", num_envs=len(starts), num_threads=1, **kwargs)
    envs.reset(seed=3)
    outcomes = step_from(envs, starts, actions)  # fickle passenger not pending: P alone
    for j, (s, a) in enumerate(pairs):
        counts = outcome_counts(outcomes, slice(j * draws, (j + 1) * draws))
        assert_frequencies(counts, draws, expected_outcomes(reference.P, s, a), (s, a))


@pytest.mark.parametrize("case", STOCHASTIC + [DETERMINISTIC[1]], ids=case_id)
def test_reset_distribution_matches_reference(case):
    env_id, kwargs, _ = case
    reference = gym.make(env_id, **kwargs).unwrapped
    n = 30000
    envs = gym.make_vec(f"rlp/{env_id}", num_envs=n, num_threads=1, **kwargs)
    obs, _ = envs.reset(seed=4)
    counts = np.bincount(obs, minlength=reference.observation_space.n)
    for s, p in enumerate(reference.initial_state_distrib):
        assert within_5_sigma(counts[s], n, p), (s, counts[s], n * p)


def test_fickle_passenger_matches_reference():
    """The destination changes (uniformly to another one) on the first move with the passenger aboard."""
    kwargs = {"fickle_passenger": True, "is_rainy": True}
    reference = gym.make("Taxi-v4", **kwargs).unwrapped
    reference.reset(seed=5)
    draws = 3000
    # aboard heading for B (lateral drift possible); at R, not aboard; aboard, blocked by a wall;
    # aboard, moving west; aboard, dropped off at the wrong pad (no move, no termination)
    cases = [(taxi.encode(2, 2, 4, 3), 0), (taxi.encode(2, 2, 0, 3), 1), (taxi.encode(0, 1, 4, 2), 2),
             (taxi.encode(1, 1, 4, 1), 3), (taxi.encode(0, 4, 4, 0), 5)]
    envs = gym.make_vec("rlp/Taxi-v4", num_envs=draws * len(cases), num_threads=1, **kwargs)
    envs.reset(seed=6)
    starts = np.repeat([s for s, _ in cases], draws)
    actions = np.repeat([a for _, a in cases], draws)
    outcomes = step_from(envs, starts, actions, fickle=True)
    pending = envs.get_state()["states"][:, 1]
    for j, (s, a) in enumerate(cases):
        block = slice(j * draws, (j + 1) * draws)
        # expected: P's outcome, then a new destination among the other three if the taxi moved with them aboard
        expected: dict = defaultdict(float)
        row, col, pass_loc, dest = taxi.decode(s)
        for (s_next, r, t), p in expected_outcomes(reference.P, s, a).items():
            if pass_loc == 4 and taxi.decode(s_next)[:2] != (row, col):
                for new_dest in {0, 1, 2, 3} - {dest}:
                    expected[(s_next - dest + new_dest, r, t)] += p / 3
            else:
                expected[(s_next, r, t)] += p
        assert not any(t for _, _, t in expected)  # no episode ends here, so `pending` is this step's
        assert_frequencies(outcome_counts(outcomes, block), draws, expected, ("ours", s, a))
        reference_counts = Counter()
        for _ in range(draws // 3):
            reference.s, reference.fickle_step = s, True
            s_next, r, t, _, _ = reference.step(a)
            reference_counts[(int(s_next), float(r), bool(t))] += 1
        assert_frequencies(reference_counts, draws // 3, expected, ("reference", s, a))
        # the change happens once: no longer pending exactly where the taxi moved with the passenger aboard
        next_obs = outcomes[0][block]
        moved = (next_obs // 20 != s // 20) & (pass_loc == 4)
        assert (pending[block] == np.where(moved, 0.0, 1.0)).all()
        assert ((next_obs % 4 != dest) == moved).all()  # and a move with them aboard always changes it


def test_fickle_flag_drawn_at_reset_with_fickle_probability():
    n = 20000
    for kwargs, p in [({"fickle_passenger": True}, 0.3), ({"fickle_passenger": True, "fickle_probability": 0.8}, 0.8),
                      ({}, 0.0)]:
        envs = gym.make_vec("rlp/Taxi-v4", num_envs=n, num_threads=1, **kwargs)
        envs.reset(seed=7)
        pending = int(envs.get_state()["states"][:, 1].sum())
        assert within_5_sigma(pending, n, p), (kwargs, pending)
