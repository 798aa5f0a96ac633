"""SQIL (Reddy, Dragan & Levine, 2020, "SQIL: Imitation Learning via Reinforcement Learning with Sparse
Rewards") on the DQN learner; importing this module registers it as 'sqil'.

The expert's transitions get reward 1, the agent's own reward 0, and DQN learns from both: every batch takes
`round(expert_fraction * batch_size)` rows from the expert data (the paper's balanced batches: a half) and the
rest from the agent's replay, whose stored rewards are all 0. Everything else is DQN (`agent.n_step`, double,
dueling, prioritized replay on the agent's rows; the expert rows are drawn uniformly). The expert data is kept apart,
never overwritten and rebuilt from the dataset on resume, as DQfD's demonstrations are. Episode ends keep their
meaning: a terminated step has no future value, a truncated one bootstraps. The episodic returns logged are the
env's own rewards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rl_platform.agents.dqn import make_agent, pretrain_network
from rl_platform.agents.dqn.demos import DemoReplay
from rl_platform.agents.dqn.dqn import DQNConfig, DQNLoop
from rl_platform.agents.dqn.dyna import join_batches
from rl_platform.buffers import Batch
from rl_platform.errors import ConfigError
from rl_platform.imitation.expert import load_expert
from rl_platform.options import option
from rl_platform.registry import AGENTS, AgentSpec
from rl_platform.run import Run
from rl_platform.trainer import fit


@dataclass
class SQILConfig(DQNConfig):
    """SQIL's options (the `agent:` section): DQN's, plus the expert data."""

    expert: str | None = option(None, "expert dataset (a Minari dataset id or a dataset directory; required)")
    expert_episodes: int | None = option(None, "use the dataset's first N episodes (null: all)", ge=1)
    expert_fraction: float = option(0.5, "fraction of every batch drawn from the expert data (reward 1)", gt=0, lt=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("demos", "model"):
            if getattr(self, key) is not None:
                raise ConfigError(f"agent.{key}", "sqil takes its expert data from agent.expert; set this to null.")
        expert_rows = round(self.expert_fraction * self.batch_size)
        if not 0 < expert_rows < self.batch_size:
            raise ConfigError("agent.expert_fraction", f"{self.expert_fraction} of agent.batch_size="
                              f"{self.batch_size} leaves {expert_rows} expert rows; each part needs at least one.")


class SQILLoop(DQNLoop):
    """DQN's loop with the replay's rewards set to 0 and expert rows (reward 1) in every batch."""

    def __init__(self, run: Run) -> None:
        cfg = run.cfg.agent
        if cfg.expert is None:
            raise ConfigError("agent.expert", "sqil needs an expert dataset (a Minari id or a dataset directory); "
                              "make one with `rlp collect --from RUN_DIR`.")
        super().__init__(run)
        expert = load_expert(cfg.expert, self.envs.single_observation_space, self.envs.single_action_space,
                             cfg.expert_episodes)
        self.expert = DemoReplay(expert.obs, expert.actions, np.ones(len(expert), dtype=np.float32),
                                 expert.next_obs, expert.terminations, expert.truncations, expert.episode_ids,
                                 cfg.n_step, cfg.gamma)
        self.expert_rows = round(cfg.expert_fraction * cfg.batch_size)
        self.online_rows = cfg.batch_size - self.expert_rows
        run.progress.message(f"sqil: {expert.episodes} expert episodes ({len(expert)} transitions, mean return "
                             f"{expert.episode_returns.mean():.1f}) from '{cfg.expert}'")

    def replay_rewards(self, rewards: np.ndarray) -> np.ndarray:
        return np.zeros_like(rewards)

    def with_expert_rows(self, batch: Batch) -> Batch:
        return join_batches(batch, self.expert.sample(self.expert_rows, self.agent.rng).n_step)


def train(run: Run) -> dict:
    return fit(run, SQILLoop(run))


AGENTS.register("sqil", AgentSpec(
    name="sqil", config_cls=SQILConfig, train=train, make_agent=make_agent, pretrain_network=pretrain_network,
    description="SQIL: DQN on expert transitions with reward 1 and its own with reward 0 (agent.expert); "
                "discrete actions",
))
