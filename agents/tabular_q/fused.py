"""The whole act -> step -> learn loop of tabular Q-learning over a Numba vector env, in one compiled kernel.

No Python runs between steps: the kernel steps each env with the same per-env body as the env's own
batched kernels (:func:`rl_platform.envs.kernel.env_bodies`: `step_one`, time limit, same-step reset) on the
env's state arrays (:meth:`rl_platform.envs.vector.NumbaVectorEnv.kernel_state`), so the env is left exactly
as its vector env would have left it. Each vector step does what the Python loop does with the same numbers:
every env picks its action from the Q-values at the start of the step, then env by env: step (and reset if
the episode ended; truncation at the env's time limit bootstraps), then learn from the transition.
"""

from __future__ import annotations

from collections.abc import Callable

import numba

from rl_platform.agents.tabular_q.dyna import dyna_step
from rl_platform.agents.tabular_q.features import active_features
from rl_platform.agents.tabular_q.rules import SARSA, epsilon_greedy, learn_one
from rl_platform.envs.kernel import NumbaEnvDef, compiled_bodies
from rl_platform.schedules import linear_schedule

_cache: dict[tuple[Callable, ...], Callable] = {}


def fused_kernel(env_def: NumbaEnvDef) -> Callable:
    """`train_steps(...)` for `env_def`'s functions, compiled once per process (see its docstring)."""
    key = env_def.functions
    if key in _cache:
        return _cache[key]
    _, step_env = compiled_bodies(env_def)

    def train_steps(states, env_rng, elapsed, max_steps, params, q, spec, rule, gamma, schedule, start_step,
                    num_vector_steps, agent_rng, actions, features, obs, final_obs, rewards, terminations,
                    truncations, next_features, running_returns, running_lengths, episode_returns, episode_lengths,
                    model, planning):
        """Run `num_vector_steps` vector steps from global step `start_step`. `schedule` holds (eps start,
        eps end, eps steps, lr start, lr end, lr steps). `actions` holds SARSA's next actions between
        calls, `features` each env's current features. `obs`, `final_obs` (num_envs, *observation row),
        `rewards`, `terminations`, `truncations` (num_envs,) and `next_features` are scratch. Finished
        episodes go to `episode_returns` / `episode_lengths`. `model` and `planning` (steps, expected):
        Dyna-Q's (:mod:`.dyna`). Returns (episodes finished, sum of |TD error|)."""
        num_envs = states.shape[0]
        step = start_step
        finished = 0
        abs_td = 0.0
        for _ in range(num_vector_steps):
            eps = linear_schedule(schedule[0], schedule[1], schedule[2], step)
            lr = linear_schedule(schedule[3], schedule[4], schedule[5], step)
            if rule != SARSA:
                for i in range(num_envs):
                    actions[i] = epsilon_greedy(q, features[i], eps, agent_rng[i:i + 1])
            for i in range(num_envs):
                done = step_env(i, states, actions, params, env_rng, elapsed, max_steps, obs, rewards, terminations,
                                truncations, final_obs)
                reward = rewards[i]
                # The transition's next observation: the episode's last one where it ended (the env has reset).
                active_features(final_obs[i] if done else obs[i], spec, next_features)
                td_error, next_action = learn_one(q, rule, features[i], actions[i], reward, next_features,
                                                  terminations[i], gamma, lr, eps, agent_rng[i:i + 1])
                abs_td += abs(td_error)
                dyna_step(q, model, planning, features[i, 0], actions[i], reward, next_features[0],
                          terminations[i], gamma, lr, agent_rng[i:i + 1])
                running_returns[i] += reward
                running_lengths[i] += 1
                if done:
                    episode_returns[finished] = running_returns[i]
                    episode_lengths[finished] = running_lengths[i]
                    finished += 1
                    running_returns[i] = 0.0
                    running_lengths[i] = 0
                    active_features(obs[i], spec, features[i])
                    if rule == SARSA:
                        actions[i] = epsilon_greedy(q, features[i], eps, agent_rng[i:i + 1])
                else:
                    for t in range(next_features.shape[0]):
                        features[i, t] = next_features[t]
                    if rule == SARSA:
                        actions[i] = next_action
            step += num_envs
        return finished, abs_td

    kernel = numba.njit(_nrt=False)(train_steps)  # allocates nothing; see rules.py on `_nrt=False`
    _cache[key] = kernel
    return kernel
