"""Next-state distribution distances: how far a world model's distribution of next observations is from the true
env's, from the same states (for stochastic envs with exact replicas: our Numba envs, MinAtar's spawns and sticky
actions in particular).

The estimator. From `states` (M) states reached by a random policy (the env reset with `seed`, then `warmup` random
steps; the envs start together, so a warmup of a few episode lengths is needed to mix their episode clocks, which
MinAtar's hidden timers follow), each with one random action, the true env is replicated 2K times through
`get_state` / `set_state` (same physics and hidden state, the same action, K = `samples`; each replica gets its own
RNG stream, so the replicas differ only in the env's random draws) and stepped once: two independent sets of K true
next observations, A and B (a step that ends the episode contributes its final observation). The model draws K
samples (`WorldModel.sample`) from the same observation and action; its point prediction
(`WorldModel.point_prediction`) is a point mass. For each state, the total-variation distance between two empirical
distributions over exact observations (every cell equal, :func:`empirical_tv`) is computed for model samples vs A
(`sample_tv`), point mass vs A (`point_tv`) and B vs A (`noise_floor`); the figures are the means over the M states.

Its bias. The plug-in TV of K-sample empirical distributions overestimates the TV of the distributions: even
two sample sets of one distribution are apart, by about the noise floor, which is the estimator's value for a
perfect model at this K (it grows with the support of the true distribution and shrinks as K grows). A model
figure at the noise floor is indistinguishable from the env at this K; only the excess over it is evidence
against the model. For a point mass at x the estimate is 1 - (fraction of A equal to x), which is unbiased.
With `condition="state"` (the default) the truth is conditioned on the env's full state, while a model sees only
the observation
(MinAtar hides the sticky action's previous action and the games' timers): a model that is exact given the
observation still has a TV above the floor wherever the hidden state matters. Where the full state fixes the
next observation (a point mass at x), a model q's expected figure is 1 - sum_x q(x) p(x | o), at best
1 - max_x p(x | o), which the point mass at the most likely observation reaches: there no stochastic model
beats a deterministic argmax model.

`condition="observation"` measures against p(s' | o, a) instead, the distribution a model trained on
random-policy data can learn: a pool of states visited by the random policy (`states` envs for `pool_steps`
steps from the reset) is grouped by exact observation; the M observations are drawn uniformly among the
distinct ones seen at least `min_pool` times (fewer if fewer qualify: `states` in the result says how many), and
each true replica starts from a state drawn uniformly from its observation's group (so the hidden variables vary
as they do under the policy) with its own RNG stream. It only reaches observations that recur exactly, which
favours the first steps of episodes.

Also reported: standard errors of the two model figures over the states, `true_distinct` (distinct observations
among a state's K true ones, a mean) and `stochastic_states` (the share of states whose 2K true next
observations are not all equal).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch

from rl_platform.config import EnvConfig
from rl_platform.env_factory import make_vector_env
from rl_platform.envs.rng import seed_streams
from rl_platform.errors import UserError
from rl_platform.model_eval import random_actions
from rl_platform.world_models import WorldModel

MODEL_CHUNK = 4096  # observations per model call


def empirical_tv(samples_a: np.ndarray, samples_b: np.ndarray) -> float:
    """The total-variation distance between the empirical distributions of two sets of samples (rows: axis 0,
    two rows equal when every entry is): 0.5 * sum over distinct rows of |share in a - share in b|."""
    counts_a, counts_b = row_counts(samples_a), row_counts(samples_b)
    total_a, total_b = len(samples_a), len(samples_b)
    return 0.5 * sum(abs(counts_a.get(key, 0) / total_a - counts_b.get(key, 0) / total_b)
                     for key in counts_a.keys() | counts_b.keys())


def row_counts(samples: np.ndarray) -> Counter:
    """How often each distinct row of `samples` occurs (rows keyed by their bytes)."""
    if len(samples) == 0:
        raise ValueError("cannot compare an empty set of samples")
    rows = np.ascontiguousarray(samples).reshape(len(samples), -1)
    return Counter(row.tobytes() for row in rows)


def replicated_steps(env_cfg: EnvConfig, state: dict[str, np.ndarray], actions: np.ndarray, replicas: int,
                     seed: int) -> np.ndarray:
    """(M, replicas, *obs_shape): each of the M env states of `state` copied `replicas` times, each copy with its own
    RNG stream, stepped once under its state's action; an ended episode's row holds its final observation."""
    count = len(actions) * replicas
    envs = make_vector_env(env_cfg, count)
    try:
        envs.reset(seed=seed)
        envs.set_state({"states": np.repeat(state["states"], replicas, axis=0),
                        "elapsed": np.repeat(state["elapsed"], replicas), "rng": seed_streams(seed, count)})
        obs, _, terminations, truncations, info = envs.step(np.repeat(actions, replicas))
        next_obs = np.array(obs, copy=True)
        ended = terminations | truncations
        if ended.any():
            next_obs[ended] = info["final_obs"][ended]
    finally:
        envs.close()
    return next_obs.reshape(len(actions), replicas, *next_obs.shape[1:])


def model_samples(model: WorldModel, obs: np.ndarray, actions: np.ndarray, samples: int, dtype: np.dtype,
                  generator: torch.Generator) -> np.ndarray:
    """(M, samples, *obs_shape): `samples` draws of `model.sample` for each (observation, action)."""
    repeated_obs = np.repeat(obs, samples, axis=0)
    repeated_actions = np.repeat(actions, samples)
    chunks = []
    for start in range(0, len(repeated_actions), MODEL_CHUNK):
        imagined = model.sample(torch.as_tensor(repeated_obs[start:start + MODEL_CHUNK]),
                                torch.as_tensor(repeated_actions[start:start + MODEL_CHUNK]), generator)
        chunks.append(imagined.next_obs.cpu().numpy().astype(dtype, copy=False))
    drawn = np.concatenate(chunks)
    return drawn.reshape(len(actions), samples, *drawn.shape[1:])


class Visited(NamedTuple):
    """What a random policy visited: (observations, env state) after the reset and after each vector step."""

    steps: list[tuple[np.ndarray, dict[str, np.ndarray]]]
    observation_space: gym.Space
    action_space: gym.spaces.Discrete


def visited_states(env_cfg: EnvConfig, num_envs: int, steps: int, seed: int, rng: np.random.Generator) -> Visited:
    """The observations and env states of `num_envs` envs after the reset and each of `steps` random vector steps
    (same-step autoreset: an observation is always that of the state the env is in)."""
    envs = make_vector_env(env_cfg, num_envs)
    try:
        if not hasattr(envs, "get_state") or not isinstance(envs.single_action_space, gym.spaces.Discrete):
            raise UserError(f"distribution distances need an env with exact replicas (get_state / set_state, our "
                            f"Numba envs such as rlp/MinAtar-Breakout-v1) and Discrete actions; '{env_cfg.id}' "
                            "is not one.")
        obs, _ = envs.reset(seed=seed)
        visited = [(np.array(obs, copy=True), envs.get_state())]
        for _ in range(steps):
            obs, *_ = envs.step(random_actions(envs.single_action_space, num_envs, rng))
            visited.append((np.array(obs, copy=True), envs.get_state()))
        return Visited(visited, envs.single_observation_space, envs.single_action_space)
    finally:
        envs.close()


def pooled_starts(visited: Visited, count: int, replicas: int, min_pool: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(count' observations, a state dict of count' x replicas rows): observations drawn among those visited at
    least `min_pool` times, each with `replicas` states drawn from its group (see the module docstring)."""
    obs = np.concatenate([o for o, _ in visited.steps])
    states = np.concatenate([state["states"] for _, state in visited.steps])
    elapsed = np.concatenate([state["elapsed"] for _, state in visited.steps])
    groups: dict[bytes, list[int]] = {}
    for index, row in enumerate(obs.reshape(len(obs), -1)):
        groups.setdefault(row.tobytes(), []).append(index)
    recurring = [rows for rows in groups.values() if len(rows) >= min_pool]
    if not recurring:
        raise UserError(f"no observation recurs {min_pool} times among the {len(obs)} visited states; lower the "
                        "pool size needed or visit more states.")
    chosen = rng.choice(len(recurring), min(count, len(recurring)), replace=False)
    rows = np.concatenate([rng.choice(recurring[g], replicas) for g in chosen])
    return obs[[recurring[g][0] for g in chosen]], {"states": states[rows], "elapsed": elapsed[rows]}


def distribution_distances(model: WorldModel, env_cfg: EnvConfig, states: int = 100, samples: int = 200,
                           seed: int = 0, warmup: int = 30, condition: str = "state", pool_steps: int = 200,
                           min_pool: int = 20) -> dict[str, Any]:
    """Mean TV distances of `model`'s next-observation distribution from the env's, given the env's full `state`
    or only the `observation` (see the module docstring)."""
    if states < 1 or samples < 1:
        raise UserError(f"distribution distances need at least 1 state and 1 sample, got {states} states and "
                        f"{samples} samples.")
    if condition not in ("state", "observation"):
        raise UserError(f"the condition of the true distribution is 'state' or 'observation', not '{condition}'.")
    rng = np.random.default_rng(seed)
    if condition == "state":
        visited = visited_states(env_cfg, states, warmup, seed, rng)
        obs, state = visited.steps[-1]
        actions = random_actions(visited.action_space, states, rng)
        true_next = replicated_steps(env_cfg, state, actions, 2 * samples, seed + 1)
    else:
        visited = visited_states(env_cfg, states, pool_steps, seed, rng)
        obs, state = pooled_starts(visited, states, 2 * samples, min_pool, rng)
        states = len(obs)
        actions = random_actions(visited.action_space, states, rng)
        # each observation's 2K rows are already its drawn states: one replica of each
        true_next = replicated_steps(env_cfg, state, np.repeat(actions, 2 * samples), 1, seed + 1)
        true_next = true_next.reshape(states, 2 * samples, *true_next.shape[2:])
    dtype = visited.observation_space.dtype
    set_a, set_b = true_next[:, :samples], true_next[:, samples:]
    generator = torch.Generator().manual_seed(seed)
    drawn = model_samples(model, obs, actions, samples, dtype, generator)
    point = model.point_prediction(torch.as_tensor(obs), torch.as_tensor(actions)).cpu().numpy().astype(dtype)
    sample_tv = [empirical_tv(drawn[m], set_a[m]) for m in range(states)]
    point_tv = [empirical_tv(point[m:m + 1], set_a[m]) for m in range(states)]
    noise_floor = [empirical_tv(set_b[m], set_a[m]) for m in range(states)]
    return {"condition": condition, "states": states, "samples": samples, "seed": seed, "warmup": warmup,
            "sample_tv": float(np.mean(sample_tv)), "point_tv": float(np.mean(point_tv)),
            "noise_floor": float(np.mean(noise_floor)),
            "sample_tv_se": float(np.std(sample_tv) / np.sqrt(states)),
            "point_tv_se": float(np.std(point_tv) / np.sqrt(states)),
            "true_distinct": float(np.mean([len(row_counts(set_a[m])) for m in range(states)])),
            "stochastic_states": float(np.mean([len(row_counts(true_next[m])) > 1 for m in range(states)]))}
