"""Episodes to the optimal policy's value: how much real experience a tabular agent needs, the figure by which
Dyna-Q's planning is judged (benchmarks/world_models.py and the learning tests).

The agent trains under its config (its own schedules over `train.total_steps`, its num_envs); every
`check_every` finished episodes (summed over the envs) the greedy policy is evaluated exactly on the env's
published model (:class:`~rl_platform.agents.tabular_q.tabular_q.ExactReference`). The result is the episode
count of the first check from which the gap to the best stationary policy stays at most `tolerance` for `hold`
checks in a row (a greedy policy that touches the optimum once and leaves it again has not learned it).
"""

from __future__ import annotations

from dataclasses import dataclass

from rl_platform.agents.tabular_q.tabular_q import ExactReference, make_agent, make_loop
from rl_platform.config import ExperimentConfig
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import EnvError
from rl_platform.run import seed_for

STEPS_PER_CALL = 64  # env steps between episode counts (per env: 64 / num_envs)


@dataclass
class EpisodesToOptimal:
    episodes: int | None  # finished episodes at the first of `hold` checks in a row with gap <= tolerance
    env_steps: int  # env steps at that check (or all that ran; None episodes: never held)
    gap: float  # the gap at that check (or at the last one)
    checks: list[tuple[int, float]]  # (episodes, gap) of every check


def episodes_to_optimal(cfg: ExperimentConfig, tolerance: float, check_every: int, hold: int = 3,
                        max_episodes: int | None = None) -> EpisodesToOptimal:
    """Train `cfg`'s tabular agent for at most `train.total_steps` env steps (and `max_episodes`), checking the
    greedy policy's exact gap to optimal every `check_every` episodes, until it has held <= `tolerance` for
    `hold` checks."""
    envs = make_vector_env(cfg.env)
    try:
        agent = make_agent(cfg, envs)
        reference = ExactReference(envs, agent)
        if not reference.available:
            raise EnvError(f"{cfg.env.id} publishes no exact model: episodes to optimal cannot be measured")
        total = cfg.train.total_steps
        loop = make_loop(cfg, envs, agent, seed_for(cfg.seed, 0, 0))
        step, episodes, next_check, gap = 0, 0, check_every, float("inf")
        checks: list[tuple[int, float]] = []
        streak: list[tuple[int, int, float]] = []  # (episodes, env steps, gap) of the checks in a row within tolerance
        while step < total and (max_episodes is None or episodes < max_episodes):
            chunk = loop.run(step, min(STEPS_PER_CALL, total - step))
            step, episodes = step + chunk.env_steps, episodes + len(chunk.episode_returns)
            if episodes >= next_check:
                gap = float(reference.report(agent)["gap_to_optimal"])
                checks.append((episodes, gap))
                next_check = (episodes // check_every + 1) * check_every
                streak = [*streak, (episodes, step, gap)] if gap <= tolerance else []
                if len(streak) == hold:
                    return EpisodesToOptimal(*streak[0], checks)
        return EpisodesToOptimal(None, step, gap, checks)
    finally:
        envs.close()
