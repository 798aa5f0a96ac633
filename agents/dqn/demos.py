"""DQN from demonstrations (Hester et al., 2018, "Deep Q-learning from Demonstrations"): the demo replay and
its losses.

The demonstrations are loaded once from a dataset (`agent.demos`) into a :class:`DemoReplay` of their own,
which online data never overwrites (DQfD's "protected part of replay"); it is rebuilt from the dataset on
resume, never stored in the replay checkpoint. Every gradient step takes `round(demo_fraction * batch_size)`
rows from it and the rest from the online replay buffer. The loss of a mixed batch of B rows is

    loss = (sum_online w_i * TD_n(i) + sum_demo [TD_1(i) + demo_n_step_weight * TD_n(i)]) / B
           + margin_weight * mean_demo [max_a (Q(s,a) + l(a_E,a)) - Q(s,a_E)]

TD_n is DQN's TD loss (`agent.loss`) against the `agent.n_step` target, TD_1 against the 1-step target, w the
importance weights of prioritized replay (which stays on the online part; demo rows are drawn uniformly), and
l(a_E, a) = `margin` for a != a_E, 0 for a = a_E. Online rows keep plain DQN's loss; demo rows get DQfD's
J_DQ + lambda_1 J_n + lambda_2 J_E (no L2 term).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
import torch

from rl_platform.buffers import Batch
from rl_platform.errors import ConfigError, UserError

if TYPE_CHECKING:
    from rl_platform.agents.dqn.dqn import DQNAgent


def demo_nstep_targets(rewards: np.ndarray, terminations: np.ndarray, truncations: np.ndarray,
                       episode_ids: np.ndarray, n: int, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step targets of every step of a flat dataset, never crossing an episode end.

    Returns `(returns, bootstrap_index, discounts)`: the target of step i is
    `returns[i] + discounts[i] * V(next_obs[bootstrap_index[i]])`. The window stops after n rewards or at the
    episode's last step: a termination there gives discount 0, a truncation (or an episode that ends with
    neither flag) bootstraps from that step's true next observation with discount gamma**k after k rewards.
    """
    size = len(rewards)
    index = np.arange(size)
    last_of_episode = np.ones(size, dtype=bool)
    last_of_episode[:-1] = episode_ids[1:] != episode_ids[:-1]
    ends = terminations | truncations | last_of_episode
    returns = np.zeros(size, dtype=np.float64)
    discounts = np.ones(size, dtype=np.float64)
    bootstrap_index = index.copy()
    in_window = np.ones(size, dtype=bool)
    for k in range(n):
        row = np.minimum(index + k, size - 1)  # rows past the end are out of every window
        returns += np.where(in_window, discounts * rewards[row], 0.0)
        bootstrap_index = np.where(in_window, row, bootstrap_index)
        discounts = np.where(in_window, discounts * gamma, discounts)
        in_window &= ~ends[row]
    discounts = np.where(terminations[bootstrap_index], 0.0, discounts)
    return returns.astype(np.float32), bootstrap_index, discounts.astype(np.float32)


@dataclass
class DemoBatch:
    """Demonstration rows with their 1-step and n-step targets (the same obs / expert actions in both)."""

    one_step: Batch
    n_step: Batch

    def __len__(self) -> int:
        return len(self.one_step.actions)


class DemoReplay:
    """The demonstration transitions, with their 1-step and n-step targets computed once at load."""

    def __init__(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
                 terminations: np.ndarray, truncations: np.ndarray, episode_ids: np.ndarray,
                 n_step: int, gamma: float) -> None:
        if len(actions) == 0:
            raise UserError("the demonstrations hold no transitions.")
        self.obs = np.array(obs)
        self.actions = np.asarray(actions, dtype=np.int64).copy()
        self.next_obs = np.array(next_obs)
        self.targets = {n: demo_nstep_targets(rewards, terminations, truncations, episode_ids, n, gamma)
                        for n in {1, n_step}}
        self.n_step = n_step

    def __len__(self) -> int:
        return len(self.actions)

    def _batch(self, indices: np.ndarray, n: int) -> Batch:
        returns, bootstrap_index, discounts = self.targets[n]
        return Batch(obs=self.obs[indices], actions=self.actions[indices], returns=returns[indices],
                     next_obs=self.next_obs[bootstrap_index[indices]], discounts=discounts[indices],
                     weights=np.ones(len(indices), dtype=np.float32), indices=indices)

    def sample(self, batch_size: int, rng: np.random.Generator) -> DemoBatch:
        """`batch_size` demonstration steps drawn uniformly with replacement."""
        indices = rng.integers(0, len(self), size=batch_size)
        return DemoBatch(self._batch(indices, 1), self._batch(indices, self.n_step))


def load_demo_replay(name: str, observation_space: gym.Space, action_space: gym.Space,
                     n_step: int, gamma: float) -> DemoReplay:
    """The dataset `name` as a demo replay; a ConfigError naming `agent.demos` if it cannot serve this env."""
    from rl_platform.imitation.expert import load_expert  # imported here: plain DQN needs no h5py / minari

    data = load_expert(name, observation_space, action_space, key="agent.demos")
    return DemoReplay(data.obs, data.actions, data.rewards, data.next_obs, data.terminations, data.truncations,
                      data.episode_ids, n_step, gamma)


def batch_split(batch_size: int, demo_fraction: float) -> tuple[int, int]:
    """(online rows, demo rows) of a batch: exactly round(demo_fraction * batch_size) demo rows."""
    demo_rows = round(demo_fraction * batch_size)
    if demo_rows >= batch_size:
        raise ConfigError("agent.demo_fraction", f"{demo_fraction} of agent.batch_size={batch_size} leaves no "
                          "online rows; lower it (or raise agent.batch_size).")
    return batch_size - demo_rows, demo_rows


def margin_loss(q_values: torch.Tensor, expert_actions: torch.Tensor, margin: float) -> torch.Tensor:
    """Per row: max_a (Q(s,a) + l(a_E,a)) - Q(s,a_E), with l = `margin` for a != a_E and 0 for a = a_E."""
    margins = torch.full_like(q_values, margin).scatter_(1, expert_actions.unsqueeze(1), 0.0)
    q_expert = q_values.gather(1, expert_actions.unsqueeze(1)).squeeze(1)
    return (q_values + margins).max(dim=1).values - q_expert


def dqfd_loss(agent: DQNAgent, batch: Batch | None, demos: DemoBatch) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of a mixed batch (module docstring) and its stats; `batch` None (or empty): demo rows only."""
    cfg, device = agent.cfg, agent.device
    obs = torch.as_tensor(demos.one_step.obs, device=device)
    expert_actions = torch.as_tensor(demos.one_step.actions, device=device)
    q_values = agent.q_network(obs)
    q_expert = q_values.gather(1, expert_actions.unsqueeze(1)).squeeze(1)
    demo_td = agent.elementwise_td_loss(q_expert, agent.td_target(demos.one_step)) \
        + cfg.demo_n_step_weight * agent.elementwise_td_loss(q_expert, agent.td_target(demos.n_step))
    margins = margin_loss(q_values, expert_actions, cfg.margin)
    online_rows = 0 if batch is None else len(batch.actions)
    stats: dict[str, float] = {}
    td_sum = demo_td.sum()
    if online_rows:
        online_loss, stats = agent.online_loss(batch)
        td_sum = td_sum + online_loss * online_rows
    loss = td_sum / (online_rows + len(demos)) + cfg.margin_weight * margins.mean()
    stats.update({"demo_td_loss": demo_td.mean().item(), "margin_loss": margins.mean().item(),
                  "demo_q_values": q_expert.detach().mean().item(), "loss": loss.item()})
    return loss, stats
