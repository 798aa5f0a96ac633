"""Replay buffers, n-step returns and the sum tree, checked against hand-computed numbers.

Every expected value below is worked out by hand in the comments (gamma = 0.9 throughout unless
stated: 0.9**2 = 0.81, 0.9**3 = 0.729). Observations are single floats whose value names the
state, so a wrong bootstrap row shows up as a wrong `next_obs`.
"""

from __future__ import annotations

import numpy as np
import pytest

from rl_platform.buffers import (
    PrioritizedReplayBuffer,
    ReplayBuffer,
    nstep_targets,
    sumtree_find,
    sumtree_update,
)
from rl_platform.checkpoint import load_checkpoint, save_checkpoint

GAMMA = 0.9


def make_buffer(capacity: int, n_step: int = 1, num_envs: int = 1, cls=ReplayBuffer, **kwargs):
    return cls(capacity, num_envs, (1,), np.float32, n_step=n_step, gamma=GAMMA, **kwargs)


def add_row(buf, obs, rewards, next_obs, term=None, trunc=None, valid=None, actions=None):
    """Add one vector step; every argument is a list with one entry per env."""
    n = buf.num_envs
    buf.add(
        obs=np.asarray(obs, dtype=np.float32).reshape(n, 1),
        actions=np.asarray(actions if actions is not None else [0] * n, dtype=np.int64),
        rewards=np.asarray(rewards, dtype=np.float32),
        next_obs=np.asarray(next_obs, dtype=np.float32).reshape(n, 1),
        terminations=np.asarray(term if term is not None else [False] * n, dtype=bool),
        truncations=np.asarray(trunc if trunc is not None else [False] * n, dtype=bool),
        valid=np.asarray(valid if valid is not None else [True] * n, dtype=bool),
    )


def add_single(buf, obs, reward, next_obs, term=False, trunc=False, valid=True):
    add_row(buf, [obs], [reward], [next_obs], [term], [trunc], [valid])


def assert_samples_match(buf, expected: dict, draws: int = 400, seed: int = 0) -> None:
    """Sample `draws` transitions; each must be in `expected` (flat index -> (obs, return,
    discount, next_obs)) with exactly those values, and every expected index must show up."""
    batch = buf.sample(draws, np.random.default_rng(seed))
    seen = set()
    for i, index in enumerate(batch.indices.tolist()):
        assert index in expected, f"sampled flat index {index}, which must never be sampled"
        obs, ret, discount, next_obs = expected[index]
        assert batch.obs[i, 0] == pytest.approx(obs), f"obs of index {index}"
        assert batch.returns[i] == pytest.approx(ret, rel=1e-6), f"return of index {index}"
        assert batch.discounts[i] == pytest.approx(discount, rel=1e-6), f"discount of {index}"
        assert batch.next_obs[i, 0] == pytest.approx(next_obs), f"next_obs of index {index}"
        seen.add(index)
    assert seen == set(expected)


def windows(buf, rows, cols=None):
    """nstep_targets for explicit start rows of a buffer."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.zeros_like(rows) if cols is None else np.asarray(cols, dtype=np.int64)
    return nstep_targets(buf.rewards, buf.terminations, buf.dones, rows, cols, buf.newest_row,
                         buf.n_step, buf.gamma)


# ---------------------------------------------------------------------------------------------
# n-step returns


def test_nstep_window_stops_at_termination_with_zero_discount():
    buf = make_buffer(8, n_step=3)
    add_single(buf, 0, 1.0, 1)               # row 0
    add_single(buf, 1, 2.0, 2, term=True)    # row 1: episode terminates, final obs 2
    add_single(buf, 10, 3.0, 11)             # row 2: next episode
    add_single(buf, 11, 4.0, 12)             # row 3 (newest)

    returns, boot_rows, discounts = windows(buf, [0])
    # 1 + 0.9*2 = 2.8; the window ends on the terminal row 1 and has no future value.
    assert returns[0] == pytest.approx(2.8, rel=1e-6)
    assert boot_rows[0] == 1
    assert discounts[0] == 0.0

    assert_samples_match(buf, {
        0: (0, 2.8, 0.0, 2),
        1: (1, 2.0, 0.0, 2),
        2: (10, 3.0 + 0.9 * 4.0, 0.81, 12),   # 3 + 3.6 = 6.6, stops at the newest row 3
        3: (11, 4.0, 0.9, 12),
    })


def test_truncated_episode_bootstraps_from_final_obs():
    buf = make_buffer(8, n_step=3)
    add_single(buf, 0, 1.0, 1)                      # row 0
    add_single(buf, 1, 2.0, 2, trunc=True)          # row 1: time limit, final obs 2
    add_single(buf, 2, 0.0, 20, valid=False)        # row 2: next-step auto-reset to obs 20
    add_single(buf, 20, 3.0, 21)                    # row 3
    add_single(buf, 21, 4.0, 22)                    # row 4
    add_single(buf, 22, 5.0, 23)                    # row 5 (newest)

    returns, boot_rows, discounts = windows(buf, [0])
    # 1 + 0.9*2 = 2.8 after k = 2 rewards; a truncation still bootstraps: discount 0.9**2.
    assert returns[0] == pytest.approx(2.8, rel=1e-6)
    assert boot_rows[0] == 1
    assert discounts[0] == pytest.approx(0.81, rel=1e-6)
    assert buf.next_obs[boot_rows[0], 0, 0] == 2.0  # the final obs, not the reset obs 20

    assert_samples_match(buf, {
        0: (0, 2.8, 0.81, 2),
        1: (1, 2.0, 0.9, 2),
        # row 2 is the auto-reset step: never sampled
        3: (20, 3.0 + 0.9 * 4.0 + 0.81 * 5.0, 0.729, 23),   # 3 + 3.6 + 4.05 = 10.65
        4: (21, 4.0 + 0.9 * 5.0, 0.81, 23),                 # 8.5
        5: (22, 5.0, 0.9, 23),
    })


def test_nstep_window_stops_at_newest_row_with_partial_discount():
    buf = make_buffer(8, n_step=3)
    add_single(buf, 0, 1.0, 1)   # row 0
    add_single(buf, 1, 2.0, 2)   # row 1 (newest)
    returns, boot_rows, discounts = windows(buf, [0, 1])
    # row 0: only rows 0,1 exist: 1 + 0.9*2 = 2.8, discount 0.81, bootstrap next_obs[1] = 2.
    # row 1: 2, discount 0.9.
    np.testing.assert_allclose(returns, [2.8, 2.0], rtol=1e-6)
    np.testing.assert_array_equal(boot_rows, [1, 1])
    np.testing.assert_allclose(discounts, [0.81, 0.9], rtol=1e-6)

    # Once row 2 is written the same start row gets the full window:
    # 1 + 0.9*2 + 0.81*3 = 1 + 1.8 + 2.43 = 5.23, discount 0.729.
    add_single(buf, 2, 3.0, 3)
    returns, boot_rows, discounts = windows(buf, [0])
    assert returns[0] == pytest.approx(5.23, rel=1e-6)
    assert boot_rows[0] == 2
    assert discounts[0] == pytest.approx(0.729, rel=1e-6)


def test_full_nstep_window_without_episode_end_discounts_gamma_to_the_n():
    buf = make_buffer(8, n_step=3)
    for i in range(5):   # rows 0..4, rewards 1..5, obs i -> next obs i + 1
        add_single(buf, i, float(i + 1), i + 1)
    assert_samples_match(buf, {
        0: (0, 1 + 0.9 * 2 + 0.81 * 3, 0.729, 3),   # 1 + 1.8 + 2.43 = 5.23, bootstrap row 2
        1: (1, 2 + 0.9 * 3 + 0.81 * 4, 0.729, 4),   # 2 + 2.7 + 3.24 = 7.94, bootstrap row 3
        2: (2, 3 + 0.9 * 4 + 0.81 * 5, 0.729, 5),   # 3 + 3.6 + 4.05 = 10.65, row 4
        3: (3, 4 + 0.9 * 5, 0.81, 5),               # 8.5 (newest row reached)
        4: (4, 5.0, 0.9, 5),
    })


def test_nstep_windows_stay_in_their_env_column():
    # Two envs, n = 3: env 0 terminates on row 0, env 1 runs on. Env 0's window must not pick up
    # env 1's rewards and vice versa.
    buf = make_buffer(8, n_step=3, num_envs=2)
    add_row(buf, [0, 50], [1.0, 10.0], [1, 51], term=[True, False])
    add_row(buf, [1, 51], [2.0, 20.0], [2, 52])
    add_row(buf, [2, 52], [3.0, 30.0], [3, 53])
    returns, boot_rows, discounts = windows(buf, [0, 0], cols=[0, 1])
    # env 0: 1, terminated. env 1: 10 + 0.9*20 + 0.81*30 = 10 + 18 + 24.3 = 52.3.
    np.testing.assert_allclose(returns, [1.0, 52.3], rtol=1e-6)
    np.testing.assert_array_equal(boot_rows, [0, 2])
    np.testing.assert_allclose(discounts, [0.0, 0.729], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Ring buffer


def test_ring_overwrites_oldest_rows_in_order_and_windows_wrap_but_stop_at_newest():
    buf = make_buffer(4, n_step=3)
    assert buf.rows == 4
    for step in range(3):
        add_single(buf, step, 10.0 + step, step + 1)
    assert (buf.filled_rows, buf.next_row, buf.newest_row) == (3, 3, 2)
    add_single(buf, 3, 13.0, 4)
    assert (buf.filled_rows, buf.next_row, buf.newest_row) == (4, 0, 3)
    add_single(buf, 4, 14.0, 5)   # overwrites step 0 in row 0
    add_single(buf, 5, 15.0, 6)   # overwrites step 1 in row 1
    assert (buf.filled_rows, buf.next_row, buf.newest_row) == (4, 2, 1)
    assert len(buf) == 4
    # Row r holds the newest step with step % 4 == r.
    np.testing.assert_array_equal(buf.obs[:, 0, 0], [4, 5, 2, 3])
    np.testing.assert_array_equal(buf.rewards[:, 0], [14, 15, 12, 13])

    # Oldest step 2 sits in row 2; its window runs rows 2, 3, 0 (wrapping):
    #   12 + 0.9*13 + 0.81*14 = 12 + 11.7 + 11.34 = 35.04, discount 0.729, bootstrap row 0.
    # Step 3 (row 3): rows 3, 0, 1: 13 + 0.9*14 + 0.81*15 = 13 + 12.6 + 12.15 = 37.75, row 1.
    # Step 4 (row 0): rows 0, 1, then stops at the newest row 1: 14 + 0.9*15 = 27.5, 0.81.
    # Step 5 (row 1) is the newest: 15, 0.9 -- it must not run on into row 2 (old step 2).
    returns, boot_rows, discounts = windows(buf, [2, 3, 0, 1])
    np.testing.assert_allclose(returns, [35.04, 37.75, 27.5, 15.0], rtol=1e-6)
    np.testing.assert_array_equal(boot_rows, [0, 1, 1, 1])
    np.testing.assert_allclose(discounts, [0.729, 0.729, 0.81, 0.9], rtol=1e-6)
    assert_samples_match(buf, {
        2: (2, 35.04, 0.729, 5),
        3: (3, 37.75, 0.729, 6),
        0: (4, 27.5, 0.81, 6),
        1: (5, 15.0, 0.9, 6),
    })


def test_capacity_is_rounded_up_to_whole_rows_of_envs():
    # 5 transitions over 2 envs need ceil(5 / 2) = 3 rows.
    assert make_buffer(5, num_envs=2).rows == 3
    assert make_buffer(6, num_envs=2).rows == 3
    assert make_buffer(1, num_envs=4).rows == 1


@pytest.mark.parametrize("cls", [ReplayBuffer, PrioritizedReplayBuffer])
def test_auto_reset_entries_and_unwritten_rows_are_never_sampled(cls):
    buf = make_buffer(8, n_step=2, num_envs=2, cls=cls)   # 4 rows x 2 envs
    # row 0: env 0 terminates (final obs 100); env 1 runs on.
    add_row(buf, [0, 10], [1.0, 10.0], [100, 11], term=[True, False])
    # row 1: env 0 auto-resets (invalid); env 1 truncates (final obs 21).
    add_row(buf, [100, 11], [0.0, 20.0], [200, 21], trunc=[False, True], valid=[False, True])
    # row 2: env 0 runs on from its reset obs 200; env 1 auto-resets (invalid).
    add_row(buf, [200, 21], [3.0, 0.0], [201, 300], valid=[True, False])
    assert len(buf) == 4
    # Flat index = row * num_envs + env. Indices 2 and 5 are invalid, 6 and 7 never written.
    assert_samples_match(buf, {
        0: (0, 1.0, 0.0, 100),                   # terminated at once
        1: (10, 10.0 + 0.9 * 20.0, 0.81, 21),     # 10 + 18 = 28, ends in the truncation
        3: (11, 20.0, 0.9, 21),                   # truncated: bootstraps from final obs 21
        4: (200, 3.0, 0.9, 201),                  # newest row
    }, draws=2000)


# ---------------------------------------------------------------------------------------------
# Sum tree


def test_sumtree_partial_sums_after_updates():
    tree = np.zeros(8, dtype=np.float64)   # 4 leaves at tree[4..7]
    sumtree_update(tree, np.array([0, 1, 2, 3]), np.array([1.0, 2.0, 3.0, 4.0]))
    # tree[2] = 1 + 2 = 3, tree[3] = 3 + 4 = 7, total tree[1] = 10.
    np.testing.assert_array_equal(tree[1:], [10, 3, 7, 1, 2, 3, 4])
    sumtree_update(tree, np.array([1]), np.array([0.5]))
    # tree[2] = 1 + 0.5 = 1.5, total = 1.5 + 7 = 8.5; the right half is untouched.
    np.testing.assert_array_equal(tree[1:], [8.5, 1.5, 7, 1, 0.5, 3, 4])
    sumtree_update(tree, np.array([3, 0]), np.array([0.0, 6.0]))
    # tree[2] = 6 + 0.5 = 6.5, tree[3] = 3 + 0 = 3, total 9.5.
    np.testing.assert_array_equal(tree[1:], [9.5, 6.5, 3, 6, 0.5, 3, 0])


def test_sumtree_find_maps_interval_boundaries_to_the_right_leaf():
    tree = np.zeros(8, dtype=np.float64)
    sumtree_update(tree, np.array([0, 1, 2, 3]), np.array([1.0, 2.0, 3.0, 4.0]))
    # Cumulative intervals: leaf 0 [0, 1), leaf 1 [1, 3), leaf 2 [3, 6), leaf 3 [6, 10).
    values = np.array([0.0, 0.5, 0.999, 1.0, 2.999, 3.0, 5.5, 5.999, 6.0, 9.999])
    expected = [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    np.testing.assert_array_equal(sumtree_find(tree, values), expected)


def test_sumtree_find_never_returns_zero_priority_leaves():
    tree = np.zeros(16, dtype=np.float64)   # 8 leaves at tree[8..15]
    sumtree_update(tree, np.arange(8), np.array([0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 3.0, 0.0]))
    # Pairs: tree[4] = 0 + 2 = 2, tree[5] = 0, tree[6] = 1 + 0 = 1, tree[7] = 3 + 0 = 3;
    # tree[2] = 2, tree[3] = 4; total 6.
    np.testing.assert_array_equal(tree[1:8], [6, 2, 4, 2, 0, 1, 3])
    # Non-empty intervals: leaf 1 [0, 2), leaf 4 [2, 3), leaf 6 [3, 6).
    values = np.array([0.0, 1.999, 2.0, 2.999, 3.0, 5.999])
    np.testing.assert_array_equal(sumtree_find(tree, values), [1, 1, 4, 4, 6, 6])
    # A value at (or rounded up to) the total still lands on the last non-empty leaf, not on the
    # empty leaf 7 to its right.
    np.testing.assert_array_equal(sumtree_find(tree, np.array([6.0])), [6])
    dense = np.linspace(0.0, 6.0, 10_001)
    leaves = sumtree_find(tree, dense)
    assert set(leaves.tolist()) == {1, 4, 6}

    # Zeroing a leaf makes its interval vanish: leaf 4 [2, 3) goes, leaf 6 becomes [2, 5).
    sumtree_update(tree, np.array([4]), np.array([0.0]))
    assert tree[1] == 5.0
    np.testing.assert_array_equal(sumtree_find(tree, np.array([2.0, 2.5, 4.999])), [6, 6, 6])


# ---------------------------------------------------------------------------------------------
# Prioritized replay


def test_per_new_transitions_get_max_priority_and_updates_use_abs_td_plus_eps():
    buf = make_buffer(4, cls=PrioritizedReplayBuffer, alpha=0.5, eps=0.25)
    leaf = buf.tree.shape[0] // 2   # index of leaf 0 in the tree array
    add_single(buf, 0, 0.0, 1)
    # Initial max priority 1: leaf 0 = 1**0.5 = 1.
    assert buf.tree[leaf] == 1.0
    buf.update_priorities(np.array([0]), np.array([-3.75], dtype=np.float32))
    # priority |-3.75| + 0.25 = 4, stored as 4**0.5 = 2; max priority is now 4.
    assert buf.tree[leaf] == 2.0
    assert buf.max_priority == 4.0
    add_single(buf, 1, 0.0, 2)
    # A new transition gets the max priority: 4**0.5 = 2.
    assert buf.tree[leaf + 1] == 2.0
    buf.update_priorities(np.array([1]), np.array([0.75], dtype=np.float32))
    # 0.75 + 0.25 = 1 -> 1**0.5 = 1; the max priority stays 4.
    assert buf.tree[leaf + 1] == 1.0
    assert buf.max_priority == 4.0
    add_single(buf, 2, 0.0, 3)
    add_single(buf, 3, 0.0, 4, valid=False)   # invalid: priority 0
    np.testing.assert_array_equal(buf.tree[leaf:leaf + 4], [2.0, 1.0, 2.0, 0.0])
    assert buf.tree[1] == 5.0   # 2 + 1 + 2 + 0


def _tiny_per_buffer(beta: float) -> PrioritizedReplayBuffer:
    """Leaves (priority**alpha) 2, 1, 2, 0 -> total 5; 3 valid transitions."""
    buf = make_buffer(4, cls=PrioritizedReplayBuffer, alpha=0.5, eps=0.25)
    for i in range(3):
        add_single(buf, i, 0.0, i + 1)
    add_single(buf, 3, 0.0, 4, valid=False)
    # |td| + eps = 4, 1, 4 -> sqrt: 2, 1, 2.
    buf.update_priorities(np.array([0, 1, 2]), np.array([3.75, -0.75, 3.75]))
    buf.beta = beta
    return buf


@pytest.mark.parametrize(("beta", "low_weight"), [
    # P = (0.4, 0.2, 0.4), N = 3, so N*P = (1.2, 0.6, 1.2); leaf 1 has the largest weight.
    # beta 0.5: (1.2)**-0.5 / (0.6)**-0.5 = (0.6 / 1.2)**0.5 = sqrt(0.5) = 0.70710678
    (0.5, 0.70710678),
    # beta 1: 0.6 / 1.2 = 0.5
    (1.0, 0.5),
    # beta 0: no correction, all weights 1
    (0.0, 1.0),
])
def test_per_importance_weights_match_hand_values(beta, low_weight):
    buf = _tiny_per_buffer(beta)
    assert len(buf) == 3
    # Stratified sampling with batch 5 over total 5 draws one value from each of [0,1), [1,2),
    # [2,3), [3,4), [4,5); leaf intervals are leaf 0 [0,2), leaf 1 [2,3), leaf 2 [3,5).
    for seed in range(5):
        batch = buf.sample(5, np.random.default_rng(seed))
        np.testing.assert_array_equal(batch.indices, [0, 0, 1, 2, 2])
        np.testing.assert_allclose(
            batch.weights, [low_weight, low_weight, 1.0, low_weight, low_weight], rtol=1e-6)


def test_per_weights_are_normalized_by_the_batch_maximum():
    buf = _tiny_per_buffer(beta=1.0)
    # Batch of 1 from slice [0, 5): whatever leaf is drawn, it is the batch max -> weight 1.
    for seed in range(20):
        batch = buf.sample(1, np.random.default_rng(seed))
        assert batch.weights[0] == 1.0
        assert batch.indices[0] != 3


def test_per_sampling_frequency_is_proportional_to_priority_to_the_alpha():
    buf = make_buffer(4, cls=PrioritizedReplayBuffer, alpha=0.5, eps=0.5)
    for i in range(4):
        add_single(buf, i, 0.0, i + 1)
    # |td| + eps = 1, 4, 9, 16 -> **0.5 = 1, 2, 3, 4 -> P = 0.1, 0.2, 0.3, 0.4.
    # (Proportional to the raw priority it would be 1/30, 4/30, 9/30, 16/30 instead.)
    buf.update_priorities(np.arange(4), np.array([0.5, -3.5, 8.5, -15.5]))
    expected = np.array([0.1, 0.2, 0.3, 0.4])
    rng = np.random.default_rng(123)
    draws = 40_000
    counts = np.zeros(4)
    for _ in range(draws // 8):
        counts += np.bincount(buf.sample(8, rng).indices, minlength=4)
    assert counts.sum() == draws
    # Binomial standard deviation of each frequency: sqrt(p (1 - p) / draws), e.g. for p = 0.1
    # sqrt(0.09 / 40000) = 0.0015. Stratified sampling only lowers the variance.
    sigma = np.sqrt(expected * (1 - expected) / draws)
    np.testing.assert_array_less(np.abs(counts / draws - expected), 5 * sigma)


# ---------------------------------------------------------------------------------------------
# Checkpointing


def _filled_per_buffer() -> PrioritizedReplayBuffer:
    buf = make_buffer(6, n_step=2, num_envs=2, cls=PrioritizedReplayBuffer, alpha=0.6)
    add_row(buf, [0, 10], [1.0, 2.0], [1, 11], term=[True, False], actions=[1, 2])
    add_row(buf, [1, 11], [0.0, 3.0], [2, 12], valid=[False, True], actions=[0, 1])
    add_row(buf, [2, 12], [4.0, 5.0], [3, 13], trunc=[False, True], actions=[2, 0])
    add_row(buf, [3, 13], [6.0, 0.0], [4, 14], valid=[True, False], actions=[1, 1])  # wraps
    buf.update_priorities(np.array([3, 4]), np.array([2.0, -0.5]))
    return buf


def _assert_same_buffer(a, b) -> None:
    for key in ("obs", "next_obs", "actions", "rewards", "terminations", "dones", "valid", "tree"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    assert (a.next_row, a.filled_rows, a.max_priority) == (b.next_row, b.filled_rows,
                                                            b.max_priority)
    assert isinstance(b.next_row, int) and isinstance(b.filled_rows, int)
    batch_a = a.sample(16, np.random.default_rng(7))
    batch_b = b.sample(16, np.random.default_rng(7))
    for key in ("obs", "actions", "returns", "next_obs", "discounts", "weights", "indices"):
        np.testing.assert_array_equal(getattr(batch_a, key), getattr(batch_b, key), err_msg=key)


def test_state_dict_round_trip_restores_storage_ring_position_and_priorities():
    original = _filled_per_buffer()
    assert (original.next_row, original.filled_rows) == (1, 3)
    assert original.max_priority == pytest.approx(2.0 + 1e-6)   # |2.0| + eps
    restored = make_buffer(6, n_step=2, num_envs=2, cls=PrioritizedReplayBuffer, alpha=0.6)
    restored.load_state_dict(original.state_dict())
    _assert_same_buffer(original, restored)
    # Both continue identically: the next add goes to row 1 with the max priority.
    for buf in (original, restored):
        add_row(buf, [4, 14], [7.0, 8.0], [5, 15])
    _assert_same_buffer(original, restored)
    assert restored.next_row == 2


def test_state_dict_survives_a_checkpoint_file(tmp_path):
    original = _filled_per_buffer()
    save_checkpoint(tmp_path / "replay.pt", original.state_dict())
    restored = make_buffer(6, n_step=2, num_envs=2, cls=PrioritizedReplayBuffer, alpha=0.6)
    restored.load_state_dict(load_checkpoint(tmp_path / "replay.pt"))
    _assert_same_buffer(original, restored)

    uniform = make_buffer(4, n_step=3)
    for i in range(6):
        add_single(uniform, i, float(i), i + 1, term=(i == 2))
    save_checkpoint(tmp_path / "uniform.pt", uniform.state_dict())
    copy = make_buffer(4, n_step=3)
    copy.load_state_dict(load_checkpoint(tmp_path / "uniform.pt"))
    assert (copy.next_row, copy.filled_rows) == (2, 4)
    np.testing.assert_array_equal(copy.obs[:, 0, 0], [4, 5, 2, 3])
    batch_a = uniform.sample(32, np.random.default_rng(1))
    batch_b = copy.sample(32, np.random.default_rng(1))
    np.testing.assert_array_equal(batch_a.returns, batch_b.returns)
    np.testing.assert_array_equal(batch_a.indices, batch_b.indices)
