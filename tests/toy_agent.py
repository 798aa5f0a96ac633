"""A test-only agent whose policy gets worse on purpose, registered as 'toy_regress' by :func:`register`.

On `tests.user_envs:GoodEnv` (reward = the action, 10-step episodes) its policy plays action 1 (return 10)
until `agent.good_steps` env steps, then action 0 (return 0): every evaluation's return is known exactly,
whatever the seeds, so best and last checkpoints can be checked against hand-computed values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rl_platform.config import option
from rl_platform.registry import AGENTS, AgentSpec
from rl_platform.run import Run

ENV = "tests.user_envs:GoodEnv"


@dataclass
class ToyConfig:
    good_steps: int = option(1_000, "env steps during which the policy plays action 1", ge=0)


class ToyAgent:
    def __init__(self, cfg: ToyConfig) -> None:
        self.cfg = cfg
        self.action = 1

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        return np.full(len(obs), self.action, dtype=np.int64)

    def state_dict(self) -> dict:
        return {"action": self.action}

    def load_state_dict(self, state: dict) -> None:
        self.action = int(state["action"])


def make_agent(cfg, envs, device=None) -> ToyAgent:
    return ToyAgent(cfg.agent)


def train(run: Run) -> dict:
    agent = make_agent(run.cfg, None)
    envs = run.make_envs()
    step = run.start_step
    if run.resumed is not None:
        agent.load_state_dict(run.resumed["agent"])

    def greedy(obs: np.ndarray) -> np.ndarray:
        return agent.act(obs, explore=False)

    def snapshot() -> dict:
        return {"agent": agent.state_dict()}

    try:
        obs, _ = envs.reset(seed=run.env_seed)
        while step < run.cfg.train.total_steps:
            agent.action = 1 if step < agent.cfg.good_steps else 0
            obs, rewards, terminations, truncations, _ = envs.step(agent.act(obs, explore=True))
            step += envs.num_envs
            run.record(step, np.zeros(0), np.zeros(0, np.int64), dict)
            if run.eval_due(step):
                run.evaluate(greedy, step, snapshot)
                if run.reached_stop_return():
                    break
            if run.checkpoint_due(step):
                run.save(step, snapshot())
        metrics = run.finish(step, greedy, snapshot)
        run.save(step, snapshot())
        return metrics
    finally:
        envs.close()


def register() -> None:
    if "toy_regress" not in AGENTS.names():
        AGENTS.register("toy_regress", AgentSpec(name="toy_regress", config_cls=ToyConfig, train=train,
                                                 make_agent=make_agent, description="test-only: regresses"))
