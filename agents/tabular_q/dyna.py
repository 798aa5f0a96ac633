"""Dyna-Q (Sutton & Barto, 2018, section 8.2): a count-based model of a discrete env, learned from the real
transitions, and `planning_steps` simulated Q-learning updates from it after every real one.

The model counts, for each (s, a) seen, the next states s' that followed, how many of those steps terminated and
the rewards' sum. That is the maximum-likelihood model of a stochastic tabular env (slippery FrozenLake) and the
exact one after a single visit in a deterministic env (Taxi). A planning update draws a previously seen (s, a)
uniformly, then updates Q(s, a) in one of two ways (section 8.5):

- `sample` (Dyna-Q as published): s' with probability n(s, a, s') / n(s, a), a termination with probability
  n_term(s, a, s') / n(s, a, s') and the mean reward of (s, a, s'); the Q-learning update at the agent's lr.
- `expected`: Q(s, a) <- sum over s' of n(s, a, s') / n(s, a) * (r(s, a, s') + gamma * (1 - p_term(s, a, s')) *
  max_b Q(s', b)), the model's whole distribution at once and no step size (the counts already average): no
  sampling noise, at the cost of one term per distinct s' seen (three on slippery FrozenLake, one on Taxi).

A truncated step (time limit) is no termination: it records the true next state and bootstraps in planning too.

Everything here is compiled with Numba and allocates nothing, so the fused kernel and the Python loop call the
same functions in the same order (`rules.learn_batch`) and give the same numbers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np

from rl_platform.envs.rng import next_uniform

MAX_MODEL_ENTRIES = 50_000_000  # S * A * S


class CountModel(NamedTuple):
    """The model's arrays (a NamedTuple, so Numba takes it as one argument); S states, A actions."""

    counts: np.ndarray  # int64 (S, A, S): n(s, a, s')
    terminal_counts: np.ndarray  # int64 (S, A, S): how many of those steps terminated
    reward_sums: np.ndarray  # float64 (S, A, S): sum of their rewards
    totals: np.ndarray  # int64 (S, A): n(s, a)
    successors: np.ndarray  # int64 (S, A, S): the distinct s' seen after (s, a), the first num_successors[s, a]
    num_successors: np.ndarray  # int64 (S, A)
    pairs: np.ndarray  # int64 (S * A,): the (s, a) seen, as s * A + a, the first num_pairs[0] of them
    num_pairs: np.ndarray  # int64 (1,)

    @classmethod
    def allocate(cls, num_states: int, num_actions: int) -> CountModel:
        """An empty model of `num_states` x `num_actions` (0 x 0: none, when planning is off)."""
        s, a = num_states, num_actions
        return cls(np.zeros((s, a, s), np.int64), np.zeros((s, a, s), np.int64), np.zeros((s, a, s)),
                   np.zeros((s, a), np.int64), np.zeros((s, a, s), np.int64), np.zeros((s, a), np.int64),
                   np.zeros(s * a, np.int64), np.zeros(1, np.int64))

    def state_dict(self) -> dict[str, np.ndarray]:
        return self._asdict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, array in self._asdict().items():
            if state[name].shape != array.shape:
                raise ValueError(f"checkpoint model array {name!r} has shape {state[name].shape}, this agent's "
                                 f"{array.shape}")
            array[...] = state[name]

    def probabilities(self, state: int, action: int) -> dict[int, float]:
        """The model's next-state distribution of (state, action): {s': probability} (empty if never seen)."""
        total = int(self.totals[state, action])
        seen = self.successors[state, action, :self.num_successors[state, action]]
        return {int(s): float(self.counts[state, action, s]) / total for s in seen}


@numba.njit(inline="always")
def observe(model, state, action, reward, next_state, terminated):
    """Count one real transition."""
    if model.totals[state, action] == 0:
        model.pairs[model.num_pairs[0]] = state * model.totals.shape[1] + action
        model.num_pairs[0] += 1
    if model.counts[state, action, next_state] == 0:
        model.successors[state, action, model.num_successors[state, action]] = next_state
        model.num_successors[state, action] += 1
    model.counts[state, action, next_state] += 1
    model.totals[state, action] += 1
    model.reward_sums[state, action, next_state] += reward
    if terminated:
        model.terminal_counts[state, action, next_state] += 1


@numba.njit(inline="always")
def seen_pair(model, rng):
    """A (state, action) drawn uniformly from those seen."""
    num_pairs = model.num_pairs[0]
    pair = model.pairs[min(int(next_uniform(rng) * num_pairs), num_pairs - 1)]
    num_actions = model.totals.shape[1]
    return pair // num_actions, pair % num_actions


@numba.njit(inline="always")
def sample(model, rng):
    """(s, a, reward, s', terminated): a seen (s, a) drawn uniformly, then an outcome from its counts."""
    state, action = seen_pair(model, rng)
    target = next_uniform(rng) * model.totals[state, action]
    seen = model.num_successors[state, action]
    next_state = model.successors[state, action, seen - 1]
    cumulative = 0
    for j in range(seen):
        cumulative += model.counts[state, action, model.successors[state, action, j]]
        if target < cumulative:
            next_state = model.successors[state, action, j]
            break
    n = model.counts[state, action, next_state]
    terminated = next_uniform(rng) * n < model.terminal_counts[state, action, next_state]
    return state, action, model.reward_sums[state, action, next_state] / n, next_state, terminated


@numba.njit(inline="always")
def best_value(q, state):
    best = q[0, state, 0]
    for b in range(1, q.shape[2]):
        best = max(best, q[0, state, b])
    return best


@numba.njit(inline="always")
def expected_target(model, q, state, action, gamma):
    """sum_s' p(s' | s, a) * (r(s, a, s') + gamma * (1 - p_term(s, a, s')) * max_b Q(s', b)) under the counts."""
    total = 0.0
    for j in range(model.num_successors[state, action]):
        next_state = model.successors[state, action, j]
        n = model.counts[state, action, next_state]
        continuing = n - model.terminal_counts[state, action, next_state]
        total += model.reward_sums[state, action, next_state] + gamma * continuing * best_value(q, next_state)
    return total / model.totals[state, action]


@numba.njit(inline="always")
def plan(q, model, planning_steps, expected, gamma, lr, rng):
    """`planning_steps` updates of the plain table `q[0]` at (s, a) drawn from the model: Q-learning on a
    sampled outcome at step size `lr`, or (`expected`) the expected update."""
    for _ in range(planning_steps):
        if expected:
            state, action = seen_pair(model, rng)
            q[0, state, action] = expected_target(model, q, state, action, gamma)
        else:
            state, action, reward, next_state, terminated = sample(model, rng)
            target = reward
            if not terminated:
                target += gamma * best_value(q, next_state)
            q[0, state, action] += lr * (target - q[0, state, action])


@numba.njit(inline="always")
def dyna_step(q, model, planning, state, action, reward, next_state, terminated, gamma, lr, rng):
    """After the direct update of one real transition: count it, then plan. `planning` = (steps, expected);
    nothing happens when steps is 0."""
    if planning[0] > 0:
        observe(model, state, action, reward, next_state, terminated)
        plan(q, model, planning[0], planning[1] != 0, gamma, lr, rng)
