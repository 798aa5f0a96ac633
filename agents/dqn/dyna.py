"""Dyna-DQN: DQN that also learns from a world model's imagined transitions (MBPO-style, Janner et al., 2019).

With `agent.model` set, a registered world model (`mlp`, `ensemble`, ...) learns online from the real replay:
every `model_train_freq` vector steps it takes `model_gradient_steps` steps on uniformly drawn real one-step
transitions (`model_batch_size` each), after refitting its normalisers on up to `NORMALIZER_ROWS` of them. Once it
has trained, every round of agent gradient steps first branches `rollout_batch_size` short rollouts from real
replay states: `rollout_horizon` steps of the model under the agent's epsilon-greedy policy, each step stored in
an :class:`ImaginedReplay` (a ring buffer of one-step transitions). A rollout row ends at an imagined termination,
and with `max_disagreement` set, at the first step whose model uncertainty (ensemble disagreement) exceeds it:
that step is not stored. The agent then trains on batches of which `round(imagination_ratio * batch_size)` rows
are imagined and the rest real.

An imagined row's target is r + gamma * (1 - termination) * Q_target(s', a*): the last step of a rollout is cut by
the horizon, not ended, so it bootstraps. Prioritized replay stays on the real rows; imagined rows weigh 1.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from rl_platform.buffers import Batch, ReplayBuffer, Steps, restore_fields
from rl_platform.components import Component
from rl_platform.errors import ConfigError
from rl_platform.registry import WORLD_MODELS
from rl_platform.world_models import Transition, WorldModel

NORMALIZER_ROWS = 10_000
MODEL_PREFIX = "model/"


class ImaginedReplay:
    """A ring buffer of imagined one-step transitions (obs, action, reward, next_obs, termination)."""

    def __init__(self, capacity: int, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, *observation_space.shape), dtype=observation_space.dtype)
        self.next_obs = np.zeros_like(self.obs)
        self.actions = np.zeros((capacity, *action_space.shape), dtype=action_space.dtype)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminations = np.zeros(capacity, dtype=np.bool_)
        self.next_index = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
            terminations: np.ndarray) -> None:
        """Store rows, overwriting the oldest once full."""
        count = len(obs)
        if count == 0:
            return
        if count > self.capacity:  # only the newest `capacity` rows can stay
            obs, actions, rewards = obs[-self.capacity:], actions[-self.capacity:], rewards[-self.capacity:]
            next_obs, terminations = next_obs[-self.capacity:], terminations[-self.capacity:]
            count = self.capacity
        rows = (self.next_index + np.arange(count)) % self.capacity
        self.obs[rows], self.actions[rows], self.rewards[rows] = obs, actions, rewards
        self.next_obs[rows], self.terminations[rows] = next_obs, terminations
        self.next_index = int((self.next_index + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)

    def sample(self, batch_size: int, gamma: float, rng: np.random.Generator) -> Batch:
        """Uniform rows as a 1-step DQN batch: returns r, discounts gamma * (1 - termination), weights 1."""
        rows = rng.integers(0, self.size, size=batch_size)
        discounts = np.where(self.terminations[rows], 0.0, gamma).astype(np.float32)
        return Batch(obs=self.obs[rows], actions=self.actions[rows], returns=self.rewards[rows],
                     next_obs=self.next_obs[rows], discounts=discounts, weights=np.ones(batch_size, np.float32),
                     indices=np.full(batch_size, -1, dtype=np.int64))

    def state_dict(self) -> dict[str, np.ndarray | int]:
        return {"obs": self.obs, "next_obs": self.next_obs, "actions": self.actions, "rewards": self.rewards,
                "terminations": self.terminations, "next_index": self.next_index, "size": self.size}

    def load_state_dict(self, state: dict) -> None:
        restore_fields(self, state)


def join_batches(real: Batch, imagined: Batch) -> Batch:
    """Real rows first, then imagined ones (so `indices[:len(real)]` are the real rows' priorities)."""
    return Batch(**{name: np.concatenate([getattr(real, name), getattr(imagined, name).astype(
        getattr(real, name).dtype, copy=False)]) for name in Batch.__dataclass_fields__})


def build_world_model(component: Component, observation_space: gym.Space, action_space: gym.Space) -> WorldModel:
    """The `agent.model` world model for these spaces; errors name `agent.model`."""
    spec = WORLD_MODELS.get(component.name, "agent.model")
    try:
        return spec.build(observation_space, action_space, component.options)
    except ConfigError as error:
        raise ConfigError("agent.model", error.detail) from None


class Imagination:
    """The world model of a Dyna-DQN agent, its named optimizers (which join the agent's) and the imagined replay
    it fills."""

    def __init__(self, cfg, observation_space: gym.Space, action_space: gym.Space, device: torch.device,
                 seed: int) -> None:
        self.cfg = cfg
        self.device = device
        self.model = build_world_model(cfg.model, observation_space, action_space).to(device)
        self.optimizers = {name: torch.optim.Adam(params, lr=cfg.model_lr)
                           for name, params in self.model.optimizer_groups().items()}
        self.replay = ImaginedReplay(cfg.imagined_buffer_size, observation_space, action_space)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.num_updates = 0

    @property
    def trained(self) -> bool:
        return self.num_updates > 0

    def _transition(self, steps: Steps) -> Transition:
        return Transition(*(torch.as_tensor(array, device=self.device) for array in steps))

    def train(self, buffer: ReplayBuffer, rng: np.random.Generator) -> dict[str, float]:
        """Refit the normalisers, then `model_gradient_steps` updates on real replay; the mean figures."""
        cfg = self.cfg
        self.model.fit_normalizer(self._transition(buffer.sample_steps(min(len(buffer), NORMALIZER_ROWS), rng)))
        sums: dict[str, float] = {}
        for _ in range(cfg.model_gradient_steps):
            data = self._transition(buffer.sample_steps(cfg.model_batch_size, rng))
            figures = self.model.update(data, self.optimizers, what="agent.model")
            for name, value in figures.items():
                sums[name] = sums.get(name, 0.0) + value
            self.num_updates += 1
        return {MODEL_PREFIX + name: value / cfg.model_gradient_steps for name, value in sums.items()}

    @torch.no_grad()
    def rollout(self, buffer: ReplayBuffer, act: Callable[[np.ndarray], np.ndarray],
                rng: np.random.Generator) -> dict[str, float]:
        """Branch `rollout_batch_size` rollouts of `rollout_horizon` steps from real replay states into the
        imagined replay; returns the mean rollout length and uncertainty."""
        cfg = self.cfg
        obs = buffer.sample_steps(cfg.rollout_batch_size, rng).obs
        alive = np.ones(len(obs), dtype=bool)
        stored, uncertainty = 0, []
        for _ in range(cfg.rollout_horizon):
            actions = act(obs)
            step = self.model.sample(torch.as_tensor(obs, device=self.device),
                                     torch.as_tensor(actions, device=self.device), self.generator)
            uncertain = step.uncertainty.cpu().numpy()
            uncertainty.append(float(uncertain[alive].mean()))
            if cfg.max_disagreement is not None:
                alive &= uncertain <= cfg.max_disagreement
            next_obs = step.next_obs.cpu().numpy().astype(obs.dtype, copy=False)
            terminations = step.terminations.cpu().numpy()
            self.replay.add(obs[alive], actions[alive], step.rewards.cpu().numpy()[alive], next_obs[alive],
                            terminations[alive])
            stored += int(alive.sum())
            alive &= ~terminations
            if not alive.any():
                break
            obs = next_obs
        return {MODEL_PREFIX + "rollout_length": stored / len(alive),
                MODEL_PREFIX + "uncertainty": float(np.mean(uncertainty)),
                MODEL_PREFIX + "imagined_transitions": float(len(self.replay))}

    def state_dict(self) -> dict:
        """The model, its update count and sampling RNG (its optimizers are saved with the agent's)."""
        return {"world_model": self.model.state_dict(), "num_updates": self.num_updates,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["world_model"])
        self.num_updates = int(state["num_updates"])
        self.generator.set_state(state["generator"])
