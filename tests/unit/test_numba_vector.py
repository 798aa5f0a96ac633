"""NumbaVectorEnv semantics: same-step autoreset, truncation, seeding, thread independence, bad actions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs.classic_control.cartpole import CARTPOLE
from rl_platform.envs.vector import NumbaVectorEnv


def rollout(envs: gym.vector.VectorEnv, seed: int, steps: int) -> list[tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(123)
    obs, _ = envs.reset(seed=seed)
    out = [(obs.copy(),)]
    for _ in range(steps):
        obs, rewards, terminations, truncations, info = envs.step(rng.integers(0, 2, envs.num_envs))
        final = info["final_obs"][info["_final_obs"]].copy() if info else np.zeros((0, 4))
        out.append((obs.copy(), rewards.copy(), terminations.copy(), truncations.copy(), final))
    return out


def test_declares_and_honours_same_step_autoreset():
    envs = NumbaVectorEnv(CARTPOLE, 3)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    envs.reset(seed=0)
    # env 0 about to fall over (pole angle just inside the limit, falling fast)
    states = envs.get_state()
    states["states"][0] = [0.0, 0.0, 0.2094, 2.0]
    envs.set_state(states)
    obs, rewards, terminations, truncations, info = envs.step(np.array([1, 1, 1]))
    assert terminations.tolist() == [True, False, False] and not truncations.any()
    assert rewards.tolist() == [1.0, 1.0, 1.0]
    assert info["_final_obs"].tolist() == [True, False, False]
    final = info["final_obs"][0]
    assert final[2] > 0.2094  # the true last observation: past the limit
    assert np.all(np.abs(obs[0]) <= 0.05)  # and the returned obs already starts the next episode
    assert envs.elapsed[0] == 0 and envs.elapsed[1] == 1


def test_truncates_at_the_time_limit_and_resets():
    envs = NumbaVectorEnv(CARTPOLE, 2)
    envs.reset(seed=0)
    state = envs.get_state()
    state["elapsed"][:] = [499, 10]
    envs.set_state(state)
    _, _, terminations, truncations, info = envs.step(np.array([0, 0]))
    assert truncations.tolist() == [True, False] and not terminations.any()
    assert info["_final_obs"].tolist() == [True, False]
    assert envs.elapsed.tolist() == [0, 11]


def test_returned_arrays_stay_valid_through_the_next_step():
    envs = NumbaVectorEnv(CARTPOLE, 4)
    obs, _ = envs.reset(seed=0)
    first = obs.copy()
    next_obs, *_ = envs.step(np.zeros(4, dtype=np.int64))
    np.testing.assert_array_equal(obs, first)  # not overwritten by the step that followed
    assert not np.shares_memory(obs, next_obs)


def test_same_seed_same_trajectory_and_different_seed_differs():
    a = rollout(NumbaVectorEnv(CARTPOLE, 16), seed=5, steps=300)
    b = rollout(NumbaVectorEnv(CARTPOLE, 16), seed=5, steps=300)
    c = rollout(NumbaVectorEnv(CARTPOLE, 16), seed=6, steps=300)
    for step_a, step_b in zip(a, b, strict=True):
        for x, y in zip(step_a, step_b, strict=True):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0][0], c[0][0])


def test_results_do_not_depend_on_thread_count():
    serial = rollout(NumbaVectorEnv(CARTPOLE, 1024, num_threads=1), seed=9, steps=200)
    threaded = rollout(NumbaVectorEnv(CARTPOLE, 1024, num_threads=2), seed=9, steps=200)
    for step_a, step_b in zip(serial, threaded, strict=True):
        for x, y in zip(step_a, step_b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_env_streams_do_not_depend_on_num_envs():
    """Env i's stream comes from SeedSequence(seed) alone: the first 4 envs of 4 and of 64 agree."""
    small = NumbaVectorEnv(CARTPOLE, 4).reset(seed=3)[0]
    large = NumbaVectorEnv(CARTPOLE, 64).reset(seed=3)[0]
    np.testing.assert_array_equal(small, large[:4])


def test_reset_mask_resets_only_chosen_envs():
    envs = NumbaVectorEnv(CARTPOLE, 3)
    envs.reset(seed=0)
    for _ in range(5):
        envs.step(np.ones(3, dtype=np.int64))
    before = envs.get_state()
    obs, _ = envs.reset(options={"reset_mask": np.array([False, True, False])})
    after = envs.get_state()
    assert after["elapsed"].tolist() == [5, 0, 5]
    np.testing.assert_array_equal(after["states"][[0, 2]], before["states"][[0, 2]])
    assert not np.array_equal(after["states"][1], before["states"][1])


@pytest.mark.parametrize(("actions", "message"), [
    (np.zeros(3, dtype=np.int64), "shape"),
    (np.zeros((4, 1), dtype=np.int64), "shape"),
    (np.zeros(4, dtype=np.float32), "integers"),
    (np.array([0, 1, 2, 0]), r"\[0, 1\]"),
    (np.array([0, -1, 0, 0]), r"\[0, 1\]"),
])
def test_bad_actions_raise_clear_errors_and_leave_state_untouched(actions, message):
    envs = NumbaVectorEnv(CARTPOLE, 4)
    envs.reset(seed=0)
    before = envs.get_state()
    with pytest.raises(ValueError, match=message):
        envs.step(actions)
    after = envs.get_state()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])


def test_step_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match="reset"):
        NumbaVectorEnv(CARTPOLE, 2).step(np.zeros(2, dtype=np.int64))


def test_unchecked_actions_give_the_same_transitions():
    checked = rollout(NumbaVectorEnv(CARTPOLE, 8), seed=1, steps=50)
    unchecked = rollout(NumbaVectorEnv(CARTPOLE, 8, check_actions=False), seed=1, steps=50)
    np.testing.assert_array_equal(checked[-1][0], unchecked[-1][0])


def test_a_loop_of_its_own_on_kernel_state_steps_the_env_as_step_does():
    """`kernel_state()` hands out the env's own arrays; a compiled loop running the shared per-env body
    (`compiled_bodies`) on them leaves the env where `step()` leaves an identical env."""
    import numba

    from rl_platform.envs.kernel import compiled_bodies

    _, step_env = compiled_bodies(CARTPOLE)

    @numba.njit
    def run(states, actions, params, rng, elapsed, max_steps, obs, rewards, terminations, truncations, final_obs):
        ended = 0
        for t in range(actions.shape[0]):
            for i in range(states.shape[0]):
                ended += step_env(i, states, actions[t], params, rng, elapsed, max_steps, obs, rewards, terminations,
                                  truncations, final_obs)
        return ended

    actions = np.random.default_rng(4).integers(0, 2, (300, 6))
    fused = NumbaVectorEnv(CARTPOLE, 6, max_episode_steps=40)
    reference = NumbaVectorEnv(CARTPOLE, 6, max_episode_steps=40)
    fused.reset(seed=2)
    reference.reset(seed=2)
    state = fused.kernel_state()
    assert state.states is fused.states and state.rng is fused.rng and state.elapsed is fused.elapsed
    assert state.max_episode_steps == 40 and state.env_def is CARTPOLE
    obs, final_obs = np.zeros((6, 4), np.float32), np.zeros((6, 4), np.float32)
    flags = np.zeros(6), np.zeros(6, np.bool_), np.zeros(6, np.bool_)
    ended = run(state.states, actions, state.params, state.rng, state.elapsed, state.max_episode_steps, obs, *flags,
                final_obs)
    reference_ended = 0
    for step_actions in actions:
        reference_obs, *_, info = reference.step(step_actions)
        reference_ended += int(info["_final_obs"].sum()) if info else 0
    assert ended == reference_ended > 0
    np.testing.assert_array_equal(obs, reference_obs)
    for key, value in reference.get_state().items():
        np.testing.assert_array_equal(fused.get_state()[key], value)


def test_make_vec_builds_the_numba_env_with_options():
    envs = gym.make_vec("rlp/CartPole-v1", num_envs=32, num_threads=1, check_actions=False)
    assert isinstance(envs, NumbaVectorEnv) and envs.num_envs == 32
    assert envs.max_episode_steps == 500 and not envs.check_actions
    assert envs.observation_space.shape == (32, 4)
    single = gym.make("rlp/CartPole-v1")
    assert single.spec.max_episode_steps == 500


def test_dqn_trains_on_the_numba_cartpole(tmp_path):
    from rl_platform import experiment

    cfg = experiment.load_experiment("dqn_cartpole", ["env.id=rlp/CartPole-v1", "train.total_steps=2000",
                                                      "train.eval_every=1000", "train.eval_episodes=4"])
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    assert metrics["global_step"] == 2000 and metrics["mean_return"] > 0
