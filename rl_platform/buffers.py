"""Preallocated replay buffers: uniform and prioritized (sum-tree), with n-step returns at sampling.

Storage is laid out `[row, env]`: one row per vector step, so each env's transitions stay in order
and n-step returns are computed when a batch is sampled (never crossing an episode end or the
newest row). Rows a vector env spends on its auto-reset step are stored as invalid and never sampled.
`sample_sequences` draws time-ordered windows of one env's column for recurrent / world-model agents.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np


@numba.njit(cache=True)
def nstep_targets(rewards, terminations, dones, rows, cols, newest_row, n, gamma):
    """n-step discounted returns starting at (rows[b], cols[b]).

    Returns `(returns, bootstrap_rows, discounts)`: the target is
    `returns + discounts * max_a Q(next_obs[bootstrap_rows, cols])`, where `discounts` is
    `gamma**k` after k rewards and 0 if the window ended in a termination. A truncation ends the
    window but still bootstraps (from the stored final observation).
    """
    capacity = rewards.shape[0]
    batch = rows.shape[0]
    returns = np.zeros(batch, dtype=np.float32)
    bootstrap_rows = np.empty(batch, dtype=np.int64)
    discounts = np.empty(batch, dtype=np.float32)
    for b in range(batch):
        col = cols[b]
        discount = 1.0
        total = 0.0
        row = rows[b]
        for k in range(n):
            row = (rows[b] + k) % capacity
            total += discount * rewards[row, col]
            discount *= gamma
            if dones[row, col] or row == newest_row:
                break
        returns[b] = total
        bootstrap_rows[b] = row
        discounts[b] = 0.0 if terminations[row, col] else discount
    return returns, bootstrap_rows, discounts


@numba.njit(cache=True)
def sumtree_update(tree, leaves, priorities):
    """Set leaf priorities and fix the partial sums above them. `tree[1]` holds the total."""
    num_leaves = tree.shape[0] // 2
    for i in range(leaves.shape[0]):
        node = leaves[i] + num_leaves
        tree[node] = priorities[i]
        node //= 2
        while node >= 1:
            tree[node] = tree[2 * node] + tree[2 * node + 1]
            node //= 2


@numba.njit(cache=True)
def sumtree_find(tree, values):
    """For each value in [0, total), the leaf whose cumulative-priority interval contains it."""
    num_leaves = tree.shape[0] // 2
    leaves = np.empty(values.shape[0], dtype=np.int64)
    for i in range(values.shape[0]):
        value = values[i]
        node = 1
        while node < num_leaves:
            left = 2 * node
            if value < tree[left] or tree[left + 1] <= 0.0:
                node = left
            else:
                value -= tree[left]
                node = left + 1
        leaves[i] = node - num_leaves
    return leaves


@dataclass
class Batch:
    """A sampled batch: `target = returns + discounts * bootstrap_value(next_obs)`."""

    obs: np.ndarray
    actions: np.ndarray
    returns: np.ndarray
    next_obs: np.ndarray
    discounts: np.ndarray
    weights: np.ndarray  # importance-sampling weights (ones for uniform replay)
    indices: np.ndarray  # flat indices, to update priorities


def restore_fields(target: object, state: dict) -> None:
    """Load a buffer's `state_dict` into it: arrays copied into the preallocated ones, counters set as ints."""
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            getattr(target, key)[...] = value
        else:
            setattr(target, key, int(value))


class Steps(NamedTuple):
    """Single real steps (what a world model learns from): obs, actions, rewards, next_obs (the true final
    observation where an episode ended), terminations."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminations: np.ndarray


@dataclass
class SequenceBatch:
    """Windows of `L` consecutive rows of one env column each; every array is `(B, L, ...)`.

    `mask` is False on auto-reset rows (not transitions; their other fields are whatever was stored,
    with the flags and `episode_starts` forced False). `episode_starts` is True on the first step of an
    episode: after a done or an auto-reset row, and at position 0 when the row before it is not stored.
    `truncations` are `dones & ~terminations` (a step both terminated and truncated counts as terminated).
    `rows` / `cols` are the buffer positions of each element.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    episode_starts: np.ndarray
    mask: np.ndarray
    rows: np.ndarray
    cols: np.ndarray


class ReplayBuffer:
    """Uniform replay over `capacity` transitions from `num_envs` parallel envs."""

    def __init__(self, capacity: int, num_envs: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype,
                 action_shape: tuple[int, ...] = (), action_dtype: np.dtype = np.int64,
                 n_step: int = 1, gamma: float = 0.99) -> None:
        self.rows = max(1, -(-capacity // num_envs))
        self.num_envs = num_envs
        self.n_step = n_step
        self.gamma = gamma
        shape = (self.rows, num_envs)
        self.obs = np.zeros(shape + obs_shape, dtype=obs_dtype)
        self.next_obs = np.zeros(shape + obs_shape, dtype=obs_dtype)
        self.actions = np.zeros(shape + action_shape, dtype=action_dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminations = np.zeros(shape, dtype=np.bool_)
        self.dones = np.zeros(shape, dtype=np.bool_)
        self.valid = np.zeros(shape, dtype=np.bool_)
        self.next_row = 0
        self.filled_rows = 0

    def __len__(self) -> int:
        return int(self.valid.sum())

    @property
    def newest_row(self) -> int:
        return (self.next_row - 1) % self.rows

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
            terminations: np.ndarray, truncations: np.ndarray, valid: np.ndarray) -> None:
        """Store one vector step. `next_obs` must be the true final observation for ended episodes."""
        row = self.next_row
        self.obs[row] = obs
        self.actions[row] = actions
        self.rewards[row] = rewards
        self.next_obs[row] = next_obs
        self.terminations[row] = terminations
        self.dones[row] = terminations | truncations
        self.valid[row] = valid
        self._on_add(row, valid)
        self.next_row = (row + 1) % self.rows
        self.filled_rows = min(self.filled_rows + 1, self.rows)

    def _on_add(self, row: int, valid: np.ndarray) -> None:
        pass

    def _sample_indices(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        limit = self.filled_rows * self.num_envs
        flat_valid = self.valid.reshape(-1)
        indices = rng.integers(0, limit, size=batch_size)
        bad = ~flat_valid[indices]
        while bad.any():  # auto-reset rows are rare: resample them
            indices[bad] = rng.integers(0, limit, size=int(bad.sum()))
            bad = ~flat_valid[indices]
        return indices, np.ones(batch_size, dtype=np.float32)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        indices, weights = self._sample_indices(batch_size, rng)
        rows, cols = np.divmod(indices, self.num_envs)
        returns, boot_rows, discounts = nstep_targets(
            self.rewards, self.terminations, self.dones, rows, cols, self.newest_row,
            self.n_step, self.gamma)
        return Batch(obs=self.obs[rows, cols], actions=self.actions[rows, cols], returns=returns,
                     next_obs=self.next_obs[boot_rows, cols], discounts=discounts,
                     weights=weights, indices=indices)

    def sample_steps(self, batch_size: int, rng: np.random.Generator) -> Steps:
        """`batch_size` stored one-step transitions, drawn uniformly (in a prioritized buffer too)."""
        indices, _ = ReplayBuffer._sample_indices(self, batch_size, rng)
        rows, cols = np.divmod(indices, self.num_envs)
        return Steps(self.obs[rows, cols], self.actions[rows, cols], self.rewards[rows, cols],
                     self.next_obs[rows, cols], self.terminations[rows, cols])

    def sample_batches(self, batch_size: int, count: int, rng: np.random.Generator) -> Iterator[Batch]:
        """`count` batches for consecutive gradient steps, drawn in one call (uniform replay)."""
        big = self.sample(batch_size * count, rng)
        for start in range(0, batch_size * count, batch_size):
            part = slice(start, start + batch_size)
            yield Batch(**{name: getattr(big, name)[part] for name in Batch.__dataclass_fields__})

    def _sequence_starts(self, batch_size: int, length: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Uniform start ages (rows after the oldest stored one) and columns whose start row is valid."""
        if not 1 <= length <= self.filled_rows:
            raise ValueError(f"sequence length {length} must be between 1 and the {self.filled_rows} "
                             f"rows stored per env (buffer holds at most {self.rows} rows)")
        oldest = (self.next_row - self.filled_rows) % self.rows
        limit = (self.filled_rows - length + 1) * self.num_envs  # windows ending at or before the newest row
        flat = rng.integers(0, limit, size=batch_size)
        for _ in range(16):  # auto-reset rows are rare: resample the starts that hit one
            ages, cols = np.divmod(flat, self.num_envs)
            bad = ~self.valid[(oldest + ages) % self.rows, cols]
            if not bad.any():
                return ages, cols
            flat[bad] = rng.integers(0, limit, size=int(bad.sum()))
        ages, cols = np.divmod(np.arange(limit), self.num_envs)
        candidates = np.flatnonzero(self.valid[(oldest + ages) % self.rows, cols])
        if candidates.size == 0:
            raise ValueError(f"no window of {length} rows starts at a valid (non auto-reset) row")
        return np.divmod(rng.choice(candidates, size=batch_size), self.num_envs)

    def sample_sequences(self, batch_size: int, length: int, rng: np.random.Generator) -> SequenceBatch:
        """`batch_size` windows of `length` consecutive rows of one env column, uniform over valid starts.

        Windows never run past the newest row into the oldest (they may wrap the array's physical end) and may
        span episode ends, which `episode_starts` marks. Raises ValueError if `length` exceeds the stored rows.
        """
        ages, cols = self._sequence_starts(batch_size, length, rng)
        oldest = (self.next_row - self.filled_rows) % self.rows
        offsets = ages[:, None] + np.arange(length)
        rows = (oldest + offsets) % self.rows
        cols = np.broadcast_to(cols[:, None], rows.shape).copy()
        mask = self.valid[rows, cols]
        prev = (rows - 1) % self.rows
        after_end = self.dones[prev, cols] | ~self.valid[prev, cols] | (offsets == 0)  # age 0: oldest stored row
        dones = self.dones[rows, cols] & mask
        terminations = self.terminations[rows, cols] & mask
        return SequenceBatch(obs=self.obs[rows, cols], actions=self.actions[rows, cols],
                             rewards=self.rewards[rows, cols], next_obs=self.next_obs[rows, cols],
                             terminations=terminations, truncations=dones & ~terminations,
                             episode_starts=after_end & mask, mask=mask, rows=rows, cols=cols)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Uniform replay ignores priorities."""

    def state_dict(self) -> dict[str, np.ndarray | int]:
        fields = ("obs", "next_obs", "actions", "rewards", "terminations", "dones", "valid")
        return {**{k: getattr(self, k) for k in fields},
                "next_row": self.next_row, "filled_rows": self.filled_rows}

    def load_state_dict(self, state: dict) -> None:
        restore_fields(self, state)


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al., 2016) on a Numba sum-tree.

    P(i) = p_i^alpha / sum_k p_k^alpha; weights w_i = (N P(i))^-beta, divided by the batch's largest.
    New transitions get the largest priority seen so far.
    """

    def __init__(self, *args, alpha: float = 0.6, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.alpha = alpha
        self.eps = eps
        self.beta = 0.4
        leaves = 1
        while leaves < self.rows * self.num_envs:
            leaves *= 2
        self.tree = np.zeros(2 * leaves, dtype=np.float64)
        self.max_priority = 1.0

    def _on_add(self, row: int, valid: np.ndarray) -> None:
        leaves = row * self.num_envs + np.arange(self.num_envs)
        sumtree_update(self.tree, leaves, np.where(valid, self.max_priority ** self.alpha, 0.0))

    def _sample_indices(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        total = self.tree[1]
        # Stratified: one draw from each of batch_size equal slices of the total mass.
        values = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        indices = sumtree_find(self.tree, np.minimum(values, np.nextafter(total, 0)))
        num_leaves = self.tree.shape[0] // 2
        probs = self.tree[indices + num_leaves] / total
        count = len(self)
        weights = (count * probs) ** (-self.beta)
        return indices, (weights / weights.max()).astype(np.float32)

    def sample_batches(self, batch_size: int, count: int, rng: np.random.Generator) -> Iterator[Batch]:
        """One draw per gradient step: priorities change between steps."""
        for _ in range(count):
            yield self.sample(batch_size, rng)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        priorities = np.abs(td_errors).astype(np.float64) + self.eps
        self.max_priority = max(self.max_priority, float(priorities.max()))
        sumtree_update(self.tree, indices.astype(np.int64), priorities ** self.alpha)

    def state_dict(self) -> dict[str, np.ndarray | int]:
        return {**super().state_dict(), "tree": self.tree, "max_priority": self.max_priority}

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        self.max_priority = float(state.pop("max_priority"))
        super().load_state_dict(state)
