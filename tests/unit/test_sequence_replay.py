"""Sequence sampling from the replay buffer, checked against hand-built buffers.

Observations are single floats that name the step: `10 * time + env` for the ring tests (so a window
is contiguous in time exactly when its obs go up by 10 per position), or a per-row label elsewhere.
Per-row expectations (episode start, mask, flags) do not depend on where a window starts, so every
element of every sampled window is checked against them.
"""

from __future__ import annotations

import numpy as np
import pytest

from rl_platform.buffers import PrioritizedReplayBuffer, ReplayBuffer, SequenceBatch


def make_buffer(rows: int, num_envs: int = 1, cls=ReplayBuffer) -> ReplayBuffer:
    return cls(rows * num_envs, num_envs, (1,), np.float32)


def add_row(buf, obs, term=None, trunc=None, valid=None, next_obs=None):
    """Add one vector step; every argument is a list with one entry per env."""
    n = buf.num_envs
    obs = np.asarray(obs, dtype=np.float32)
    buf.add(obs=obs.reshape(n, 1), actions=obs.astype(np.int64), rewards=obs + 0.5,
            next_obs=(np.asarray(next_obs, dtype=np.float32) if next_obs is not None else obs + 1).reshape(n, 1),
            terminations=np.asarray(term if term is not None else [False] * n, dtype=bool),
            truncations=np.asarray(trunc if trunc is not None else [False] * n, dtype=bool),
            valid=np.asarray(valid if valid is not None else [True] * n, dtype=bool))


def fill_ring(rows: int, num_envs: int, steps: int) -> ReplayBuffer:
    """One endless episode per env, obs = 10 * time + env, for `steps` vector steps."""
    buf = make_buffer(rows, num_envs)
    for t in range(steps):
        add_row(buf, [10 * t + e for e in range(num_envs)])
    return buf


def check_against_rows(batch: SequenceBatch, expected: dict[str, np.ndarray]) -> None:
    """Every element must carry its row's expected value (`expected[name]` indexed by row)."""
    for name, per_row in expected.items():
        got = getattr(batch, name)
        want = per_row[batch.rows]
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"{name} wrong at (b, t) {bad[:5].tolist()}: rows {batch.rows[tuple(bad[0])]}"


# ---------------------------------------------------------------------------------------------
# layout: wrap-around, seam, shapes


def test_full_ring_windows_wrap_the_array_end_but_never_the_newest_oldest_seam():
    # 5 rows x 2 envs, 13 steps: times 8..12 are stored, time t in row t % 5. Oldest row 3 (time 8),
    # newest row 2 (time 12). Length 3 starts at times 8, 9, 10; the one at 9 uses rows 4, 0, 1.
    buf = fill_ring(5, 2, 13)
    assert (buf.next_row, buf.newest_row, buf.filled_rows) == (3, 2, 5)
    batch = buf.sample_sequences(600, 3, np.random.default_rng(0))
    assert batch.obs.shape == (600, 3, 1) and batch.rows.shape == (600, 3) and batch.mask.shape == (600, 3)
    obs = batch.obs[..., 0]
    times, envs = np.divmod(obs.astype(np.int64), 10)
    assert (envs == batch.cols).all(), "a window left its env column"
    assert (np.diff(obs, axis=1) == 10).all(), "a window is not contiguous in time (crossed the seam?)"
    assert times.min() == 8 and times.max() == 12
    assert (batch.rows == times % 5).all()
    assert (batch.next_obs[..., 0] == obs + 1).all() and (batch.actions == obs).all()
    assert (batch.rewards == obs + 0.5).all() and batch.mask.all()
    starts = set(zip(times[:, 0].tolist(), batch.cols[:, 0].tolist(), strict=True))
    assert starts == {(t, e) for t in (8, 9, 10) for e in (0, 1)}, "every legal start must be drawn"
    assert any(r[0] == 4 and r[1] == 0 for r in batch.rows.tolist()), "no window wrapped the array end"


def test_full_length_window_is_the_whole_ring_in_time_order():
    buf = fill_ring(5, 1, 13)
    batch = buf.sample_sequences(20, 5, np.random.default_rng(1))
    assert (batch.rows == [3, 4, 0, 1, 2]).all()
    assert (batch.obs[..., 0] == [80, 90, 100, 110, 120]).all()


def test_partly_filled_buffer_never_reads_unwritten_rows():
    buf = fill_ring(8, 2, 5)  # rows 0..4 written, 5..7 empty (obs 0 there, which would break the diff check)
    batch = buf.sample_sequences(400, 3, np.random.default_rng(2))
    assert batch.rows.max() == 4 and set(batch.rows[:, 0].tolist()) == {0, 1, 2}
    assert (np.diff(batch.obs[..., 0], axis=1) == 10).all()


def test_starts_are_uniform_over_positions_and_envs():
    buf = fill_ring(6, 2, 6)  # 4 starts x 2 envs for length 3
    batch = buf.sample_sequences(8000, 3, np.random.default_rng(3))
    counts = np.bincount(batch.rows[:, 0] * 2 + batch.cols[:, 0], minlength=8)
    assert counts.shape == (8,) and np.all(np.abs(counts - 1000) < 120), counts


# ---------------------------------------------------------------------------------------------
# episode boundaries


def episode_buffer(cls=ReplayBuffer) -> tuple[ReplayBuffer, dict[str, np.ndarray]]:
    """Terminated, truncated (same-step reset) and next-step auto-reset episode ends in one env.

    row: 0    1     2    3      4    5     6        7    8
    obs: 0    1     10   11     20   21    22       30   31
         old  term  ^    trunc  ^    term  invalid  ^
    (^ = first step of a new episode)
    """
    buf = make_buffer(12, cls=cls)
    rows = [dict(obs=0), dict(obs=1, term=True), dict(obs=10), dict(obs=11, trunc=True), dict(obs=20),
            dict(obs=21, term=True), dict(obs=22, valid=False), dict(obs=30), dict(obs=31)]
    for r in rows:
        add_row(buf, [r["obs"]], term=[r.get("term", False)], trunc=[r.get("trunc", False)],
                valid=[r.get("valid", True)])
    expected = {
        "episode_starts": np.array([1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0], dtype=bool),
        "mask": np.array([1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0], dtype=bool),
        "terminations": np.array([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=bool),
        "truncations": np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=bool),
    }
    return buf, expected


@pytest.mark.parametrize("cls", [ReplayBuffer, PrioritizedReplayBuffer])
def test_episode_starts_after_termination_truncation_and_auto_reset_row(cls):
    buf, expected = episode_buffer(cls)
    whole = buf.sample_sequences(3, 9, np.random.default_rng(4))
    assert whole.episode_starts[0].tolist() == expected["episode_starts"][:9].tolist()
    assert whole.mask[0].tolist() == expected["mask"][:9].tolist()
    for length in (2, 3, 4):
        batch = buf.sample_sequences(500, length, np.random.default_rng(length))
        check_against_rows(batch, expected)
        assert batch.mask[:, 0].all(), "a window started on the auto-reset row"
        assert set(batch.rows[:, 0].tolist()) == set(range(10 - length)) - {6}
        assert batch.rows.max() <= 8


def test_episode_start_at_position_zero_oldest_row_and_after_a_done():
    # One long episode in a 4-row ring: times 2..5 stored, oldest row 2 (time 2) follows the newest row 1,
    # which is valid and not done, so only "older than the oldest stored row" marks time 2 as a start.
    ring = fill_ring(4, 1, 6)
    batch = ring.sample_sequences(300, 2, np.random.default_rng(5))
    first_time = batch.obs[:, 0, 0] // 10
    assert set(first_time.tolist()) == {2, 3, 4}
    assert (batch.episode_starts[:, 0] == (first_time == 2)).all()
    assert not batch.episode_starts[:, 1].any()

    # Not full: row 0 is the oldest stored row; row 2 follows a done, row 1 and 3 do not start episodes.
    buf = make_buffer(8)
    for obs, term in ((0, False), (1, True), (10, False), (11, False)):
        add_row(buf, [obs], term=[term])
    batch = buf.sample_sequences(300, 1, np.random.default_rng(6))
    assert set(batch.rows[:, 0].tolist()) == {0, 1, 2, 3}
    assert (batch.episode_starts[:, 0] == np.isin(batch.rows[:, 0], [0, 2])).all()


def test_truncation_and_termination_flags_per_env_and_through_state_dict():
    # Row 1: env 0 truncated, env 1 terminated, env 2 both (termination wins: no bootstrap).
    buf = make_buffer(4, num_envs=3)
    add_row(buf, [0, 1, 2])
    add_row(buf, [10, 11, 12], term=[False, True, True], trunc=[True, False, True])
    add_row(buf, [20, 21, 22])
    want_term = np.array([[0, 1, 1]], dtype=bool)
    want_trunc = np.array([[1, 0, 0]], dtype=bool)
    for source in (buf, None):
        if source is None:  # a buffer restored from a saved state (no truncations stored)
            source = make_buffer(4, num_envs=3)
            source.load_state_dict(buf.state_dict())
        batch = source.sample_sequences(200, 3, np.random.default_rng(7))
        assert (batch.rows == [0, 1, 2]).all()
        assert (batch.terminations[:, 1] == want_term[0][batch.cols[:, 1]]).all()
        assert (batch.truncations[:, 1] == want_trunc[0][batch.cols[:, 1]]).all()
        assert not batch.terminations[:, [0, 2]].any() and not batch.truncations[:, [0, 2]].any()
        assert batch.episode_starts[:, 2].all()  # every env's episode ended on row 1
        assert set(batch.cols[:, 0].tolist()) == {0, 1, 2}


# ---------------------------------------------------------------------------------------------
# errors and the rare-start fallback


def test_too_long_or_empty_windows_raise_value_error():
    buf = fill_ring(6, 2, 4)
    assert buf.sample_sequences(4, 4, np.random.default_rng(8)).obs.shape == (4, 4, 1)
    for length in (5, 0):
        with pytest.raises(ValueError, match=r"sequence length .* 4 rows stored"):
            buf.sample_sequences(4, length, np.random.default_rng(8))
    with pytest.raises(ValueError, match="sequence length"):
        make_buffer(6).sample_sequences(1, 1, np.random.default_rng(8))
    full = fill_ring(6, 2, 20)
    assert full.sample_sequences(2, 6, np.random.default_rng(8)).rows.shape == (2, 6)
    with pytest.raises(ValueError, match="sequence length 7"):
        full.sample_sequences(2, 7, np.random.default_rng(8))


def test_mostly_invalid_rows_still_sample_only_valid_starts_or_raise():
    buf = make_buffer(64)
    for row in range(64):
        add_row(buf, [row], valid=[row == 40])
    batch = buf.sample_sequences(50, 3, np.random.default_rng(9))
    assert (batch.rows[:, 0] == 40).all() and (batch.mask == [True, False, False]).all()
    assert (batch.episode_starts == [True, False, False]).all()
    with pytest.raises(ValueError, match="valid"):
        buf.sample_sequences(5, 30, np.random.default_rng(9))  # starts 0..34 contain no valid row
