"""The update rules and epsilon-greedy action choice, compiled with Numba; shared by the fused kernel and
the Python loop, so both give the same numbers.

Kernels that allocate nothing are compiled with `_nrt=False` (no reference counting): the per-env array
views they make (`rng[i:i + 1]`, `features[i]`) would otherwise cost atomic increments and decrements
worth several times a whole tabular update.

Q-values live in `q[table, feature, action]`; Q_j(s, a) sums `q[j, f, a]` over the active features f
of s (one for a plain table). Double Q-learning keeps two tables; the others use `q[0]`. Each env
has its own SplitMix64 random stream (`rng`, a one-element uint64 view), so the draws an env makes do
not depend on how many envs there are or in which order they are processed.

For a transition (s, a, r, s', terminated), the rule's target is `r` if terminated, else
`r + gamma * V(s')`, and the learning step is `Q(s, a) += lr * (target - Q(s, a))` (spread evenly over
the active features). A truncated transition is not terminated: it bootstraps from the true final
observation s'.

| rule | V(s') |
|------|-------|
| `q_learning` (Watkins, 1989) | max_b Q(s', b) |
| `double_q` (van Hasselt, 2010) | Q_{1-j}(s', argmax_b Q_j(s', b)), j the table drawn (1/2 each) and updated |
| `sarsa` | Q(s', a'), a' the epsilon-greedy action actually taken next (drawn here, before the update) |
| `expected_sarsa` | expectation under the epsilon-greedy policy: eps * mean_b Q(s', b) + (1 - eps) * max_b Q(s', b) |
"""

from __future__ import annotations

import numba

from rl_platform.agents.tabular_q.dyna import dyna_step
from rl_platform.envs.rng import next_uniform

Q_LEARNING, DOUBLE_Q, SARSA, EXPECTED_SARSA = 0, 1, 2, 3
RULES = {"q_learning": Q_LEARNING, "double_q": DOUBLE_Q, "sarsa": SARSA, "expected_sarsa": EXPECTED_SARSA}


@numba.njit(inline="always")
def q_value(q, table, features, action):
    total = 0.0
    for t in range(features.shape[0]):
        total += q[table, features[t], action]
    return total


@numba.njit(inline="always")
def behaviour_value(q, features, action):
    """What the policy ranks actions by: the sum of all tables (double Q: Q_A + Q_B)."""
    total = 0.0
    for table in range(q.shape[0]):
        total += q_value(q, table, features, action)
    return total


@numba.njit(inline="always")
def greedy_action(q, table, features):
    """argmax_a Q_table(s, a); the lowest index among ties (table -1: the behaviour values)."""
    best_action, best = 0, -1e300
    for a in range(q.shape[2]):
        value = behaviour_value(q, features, a) if table < 0 else q_value(q, table, features, a)
        if value > best:
            best_action, best = a, value
    return best_action


@numba.njit(inline="always")
def epsilon_greedy(q, features, eps, rng):
    """A uniformly random action with probability eps, else a greedy one with ties broken at random."""
    num_actions = q.shape[2]
    if next_uniform(rng) < eps:
        return min(int(next_uniform(rng) * num_actions), num_actions - 1)
    best, ties = -1e300, 0
    for a in range(num_actions):
        value = behaviour_value(q, features, a)
        if value > best:
            best, ties = value, 1
        elif value == best:
            ties += 1
    pick = 0 if ties == 1 else min(int(next_uniform(rng) * ties), ties - 1)
    for a in range(num_actions):
        if behaviour_value(q, features, a) == best:
            if pick == 0:
                return a
            pick -= 1
    return num_actions - 1  # not reached


@numba.njit(inline="always")
def next_state_value(q, rule, table, next_features, next_action, eps):
    """V(s') of the module docstring's table, for an update of `table`."""
    num_actions = q.shape[2]
    if rule == SARSA:
        return q_value(q, table, next_features, next_action)
    if rule == DOUBLE_Q:
        return q_value(q, 1 - table, next_features, greedy_action(q, table, next_features))
    best, total = -1e300, 0.0
    for a in range(num_actions):
        value = q_value(q, table, next_features, a)
        best = max(best, value)
        total += value
    if rule == EXPECTED_SARSA:
        return eps * total / num_actions + (1.0 - eps) * best
    return best


@numba.njit(inline="always")
def td_update(q, rule, table, features, action, reward, next_features, terminated, next_action, gamma, lr, eps):
    """Move Q_table(s, a) towards the rule's target; returns the TD error (target - Q(s, a) before the step)."""
    target = reward
    if not terminated:
        target += gamma * next_state_value(q, rule, table, next_features, next_action, eps)
    td_error = target - q_value(q, table, features, action)
    step = lr * td_error / features.shape[0]
    for t in range(features.shape[0]):
        q[table, features[t], action] += step
    return td_error


@numba.njit(inline="always")
def learn_one(q, rule, features, action, reward, next_features, terminated, gamma, lr, eps, rng):
    """One transition of one env: the random draws it needs (table for double Q, a' for SARSA), then the
    update. Returns (TD error, a' or -1)."""
    table = 0
    if rule == DOUBLE_Q and next_uniform(rng) >= 0.5:
        table = 1
    next_action = -1
    if rule == SARSA:
        next_action = epsilon_greedy(q, next_features, eps, rng)
    td_error = td_update(q, rule, table, features, action, reward, next_features, terminated, next_action,
                         gamma, lr, eps)
    return td_error, next_action


@numba.njit(_nrt=False)
def learn_batch(q, rule, features, actions, rewards, next_features, terminations, dones, valid, current_features,
                gamma, lr, eps, rng, pending, model, planning):
    """One vector step of transitions, env by env (the order the fused kernel uses): each env's update, then
    Dyna-Q's model update and planning (:func:`~rl_platform.agents.tabular_q.dyna.dyna_step`). For SARSA,
    `pending` receives the next action of each env: a' where the episode goes on, a fresh draw for the new
    episode's first observation (`current_features`) where it ended. Returns the sum of |TD error|."""
    abs_td = 0.0
    for i in range(features.shape[0]):
        if valid[i]:
            td_error, next_action = learn_one(q, rule, features[i], actions[i], rewards[i], next_features[i],
                                              terminations[i], gamma, lr, eps, rng[i:i + 1])
            abs_td += abs(td_error)
            pending[i] = next_action
            dyna_step(q, model, planning, features[i, 0], actions[i], rewards[i], next_features[i, 0],
                      terminations[i], gamma, lr, rng[i:i + 1])
        if rule == SARSA and (dones[i] or not valid[i]):
            pending[i] = epsilon_greedy(q, current_features[i], eps, rng[i:i + 1])
    return abs_td


@numba.njit(_nrt=False)
def act_batch(q, features, explore, eps, rng, out):
    """Epsilon-greedy (explore) or greedy actions for each row of `features`."""
    for i in range(features.shape[0]):
        out[i] = epsilon_greedy(q, features[i], eps, rng[i:i + 1]) if explore else greedy_action(q, -1, features[i])
