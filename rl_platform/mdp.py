"""Finite MDPs with a known model: the model as arrays, value iteration and exact policy evaluation.

The reference that tabular agents are checked against. Gymnasium's toy-text envs describe their
dynamics as `P[s][a] = [(probability, next_state, reward, terminated), ...]` plus an initial-state
distribution; :class:`TransitionModel` holds the same as dense arrays, which makes a Bellman backup
one vectorized expression.

Time limits matter: Gymnasium truncates FrozenLake8x8 at 200 steps, and the policy that is optimal
for the infinite-horizon discounted problem need not be the best one under the limit.
:func:`evaluate_policy` therefore evaluates a stationary policy exactly *under the time limit*, and
:func:`best_stationary_policy` picks, among the value-iteration policies of several discounts, the
one that does best there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


class TransitionModel(NamedTuple):
    """The exact finite-MDP model of an env, for tabular agents and value iteration.

    `probs[s, a, k]`, `next_state[s, a, k]`, `reward[s, a, k]`, `terminated[s, a, k]`: outcome `k` of
    action `a` in state `s` (shape (S, A, K)); `num_outcomes[s, a]` of them are Gymnasium's (some may
    have probability 0), the rest padding (probability 0, next state `s`, reward 0, not terminated).
    `initial[s]`: probability that an episode starts in `s`.
    Expected reward of (s, a): `(probs * reward).sum(-1)`; outcomes are listed in Gymnasium's order.
    """

    probs: np.ndarray  # float64 (S, A, K)
    next_state: np.ndarray  # int64 (S, A, K)
    reward: np.ndarray  # float64 (S, A, K)
    terminated: np.ndarray  # bool (S, A, K)
    initial: np.ndarray  # float64 (S,)
    num_outcomes: np.ndarray  # int64 (S, A)

    @property
    def num_states(self) -> int:
        return self.probs.shape[0]

    @property
    def num_actions(self) -> int:
        return self.probs.shape[1]

    def as_dict(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        """The model in Gymnasium's `env.unwrapped.P` format: `P[s][a] = [(p, next_state, reward, terminated), ...]`."""
        table: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {}
        for s in range(self.num_states):
            table[s] = {}
            for a in range(self.num_actions):
                table[s][a] = [(float(self.probs[s, a, k]), int(self.next_state[s, a, k]), float(self.reward[s, a, k]),
                                bool(self.terminated[s, a, k]))
                               for k in range(self.num_outcomes[s, a])]
        return table


def model_from_outcomes(outcomes: Sequence[Sequence[Sequence[tuple[float, int, float, bool]]]],
                        initial: np.ndarray) -> TransitionModel:
    """Dense arrays from `outcomes[s][a] = [(probability, next_state, reward, terminated), ...]`."""
    num_states, num_actions = len(outcomes), len(outcomes[0])
    k_max = max(len(row) for per_state in outcomes for row in per_state)
    probs = np.zeros((num_states, num_actions, k_max))
    next_state = np.tile(np.arange(num_states)[:, None, None], (1, num_actions, k_max))
    reward = np.zeros((num_states, num_actions, k_max))
    terminated = np.zeros((num_states, num_actions, k_max), dtype=bool)
    num_outcomes = np.array([[len(row) for row in per_state] for per_state in outcomes], dtype=np.int64)
    for s, per_state in enumerate(outcomes):
        for a, row in enumerate(per_state):
            for k, (p, s_next, r, done) in enumerate(row):
                probs[s, a, k], next_state[s, a, k], reward[s, a, k], terminated[s, a, k] = p, s_next, r, done
    return TransitionModel(probs, next_state, reward, terminated, np.asarray(initial, dtype=np.float64), num_outcomes)


def model_from_gymnasium(env: Any) -> TransitionModel | None:
    """The model of a Gymnasium-style tabular env (`P` and `initial_state_distrib` on `env.unwrapped`),
    or None if the env does not publish one."""
    inner = getattr(env, "unwrapped", env)
    table, initial = getattr(inner, "P", None), getattr(inner, "initial_state_distrib", None)
    if not isinstance(table, dict) or initial is None:
        return None
    outcomes = [[list(table[s][a]) for a in sorted(table[s])] for s in sorted(table)]
    return model_from_outcomes(outcomes, np.asarray(initial, dtype=np.float64))


def q_backup(model: TransitionModel, values: np.ndarray, gamma: float) -> np.ndarray:
    """Q[s, a] = sum_k p (r + gamma * V(s'_k)), with no future value after a terminating outcome."""
    future = np.where(model.terminated, 0.0, values[model.next_state])
    return (model.probs * (model.reward + gamma * future)).sum(axis=-1)


class Solution(NamedTuple):
    values: np.ndarray  # V*(s), float64 (S,)
    q_values: np.ndarray  # Q*(s, a), float64 (S, A)
    policy: np.ndarray  # greedy action per state (lowest index among ties), int64 (S,)
    iterations: int


def value_iteration(model: TransitionModel, gamma: float, tol: float = 1e-12, max_iterations: int = 100_000
                    ) -> Solution:
    """Optimal discounted values and a greedy optimal policy; stops once no value moves more than `tol`."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
    values = np.zeros(model.num_states)
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        new_values = q_backup(model, values, gamma).max(axis=1)
        change = np.abs(new_values - values).max()
        values = new_values
        if change <= tol:
            break
    q_values = q_backup(model, values, gamma)
    return Solution(values, q_values, q_values.argmax(axis=1), iterations)


def evaluate_policy(model: TransitionModel, policy: np.ndarray, horizon: int | None,
                    tol: float = 1e-12, max_steps: int = 100_000) -> float:
    """Exact expected undiscounted return of a stationary `policy` from the initial distribution,
    for episodes cut off after `horizon` steps (None: no limit; then until values settle, at most
    `max_steps` steps)."""
    states = np.arange(model.num_states)
    probs, reward = model.probs[states, policy], model.reward[states, policy]
    next_state, terminated = model.next_state[states, policy], model.terminated[states, policy]
    expected_reward = (probs * reward).sum(axis=-1)
    values = np.zeros(model.num_states)  # expected return with t steps left
    for _ in range(horizon if horizon is not None else max_steps):
        new_values = expected_reward + (probs * np.where(terminated, 0.0, values[next_state])).sum(axis=-1)
        change = np.abs(new_values - values).max()
        values = new_values
        if horizon is None and change <= tol:
            break
    return float(model.initial @ values)


def finite_horizon_optimum(model: TransitionModel, horizon: int) -> float:
    """The best expected return of any policy, time-dependent ones included, within `horizon` steps
    (backward induction): an upper bound on what a stationary policy can reach."""
    values = np.zeros(model.num_states)
    for _ in range(horizon):
        values = q_backup(model, values, 1.0).max(axis=1)
    return float(model.initial @ values)


DEFAULT_GAMMAS = (0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0)


class Reference(NamedTuple):
    """The best stationary policy found and its exact return under the time limit."""

    expected_return: float
    policy: np.ndarray
    gamma: float


def best_stationary_policy(model: TransitionModel, horizon: int | None,
                           gammas: Sequence[float] = DEFAULT_GAMMAS) -> Reference:
    """Among the value-iteration policies for each discount in `gammas`, the one with the highest
    exact return under `horizon` (see :func:`evaluate_policy`)."""
    best: Reference | None = None
    for gamma in gammas:
        policy = value_iteration(model, gamma, max_iterations=20_000).policy
        expected = evaluate_policy(model, policy, horizon)
        if best is None or expected > best.expected_return + 1e-12:
            best = Reference(expected, policy, gamma)
    assert best is not None, "gammas must not be empty"
    return best
