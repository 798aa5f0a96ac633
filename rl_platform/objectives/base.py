"""What every pretraining objective shares: the agent's network parts it trains, the batch it sees, its base
class, and the small helpers for observation and action targets.

An objective is an :class:`Objective` subclass built from `(network, observation_space, action_space, options)`;
its `ComponentSpec.build` is the class itself, so `rlp pretrain` can read `trains_policy` before building it. Its
own modules (decoders, a forward model, projection heads) are its submodules, so its `state_dict` holds only
them; the agent's network (:class:`AgentNetwork`) is held beside the module tree and checkpointed as the agent's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Distribution

from rl_platform.components import Component
from rl_platform.errors import ConfigError
from rl_platform.nn.encoders import input_scale
from rl_platform.registry import OBJECTIVES

if TYPE_CHECKING:
    from rl_platform.datasets import Transitions


def _nothing() -> None:
    return None


@dataclass
class AgentNetwork:
    """The parts of an agent's network that pretraining trains (an agent's `AgentSpec.pretrain_network`
    returns it for a freshly made agent).

    `model` is the policy network: a checkpoint's `"model"` entry, what `model.init_from` reads. `encoder` maps
    observations to features of width `encoder.out_dim`. `policy(obs)` is the agent's action distribution
    (DQN: a softmax over its Q-values, so the greedy action is argmax Q). `raw_actions(actions)` maps dataset
    (env) actions to the values `policy`'s distribution is over (e.g. undoing a tanh squashing). `sync()` runs
    before the agent's state is saved (DQN: target network := online network)."""

    model: nn.Module
    encoder: nn.Module
    policy: Callable[[torch.Tensor], Distribution]
    raw_actions: Callable[[torch.Tensor], torch.Tensor]
    sync: Callable[[], None] = _nothing


@dataclass
class Batch:
    """Transitions on the training device. `future_obs` is, for objectives with a `pair_offset` k, the
    observation k steps after `obs` in the same episode (an episode's final observation included)."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminations: torch.Tensor
    future_obs: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.obs.shape[0])


class Objective(nn.Module):
    """A pretraining loss on the agent's network plus the objective's own modules.

    Subclasses implement :meth:`loss`; `trains_policy` says whether the loss trains the policy output (then
    greedy evaluations in the env mean something), `trains_network` whether it trains the agent's network at all
    (not so for a world model); `pair_offset` > 0 asks for batches with `future_obs`."""

    trains_policy = False
    trains_network = True

    def __init__(self, network: AgentNetwork) -> None:
        super().__init__()
        self.network = network  # a plain dataclass: not a submodule, so not in this module's state_dict
        self.pair_offset = 0

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """(the loss to minimise, named figures to log), on one batch."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after each optimizer step (e.g. to move a momentum target encoder)."""

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]] | None:
        """The parameters of each named optimizer, for an objective with its own training step (:meth:`update`,
        e.g. a GAN world model's `generator` and `discriminator`); None (the default): `rlp pretrain` minimises
        :meth:`loss` with one optimizer, `pretrain`."""
        return None

    def update(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], what: str) -> dict[str, float]:
        """One training step with the optimizers of :meth:`optimizer_groups` (same names): the figures to log,
        "loss" among them. A non-finite loss raises TrainingFailed (`what` names the step) before it reaches the
        weights."""
        raise NotImplementedError

    def setup(self, data: Batch) -> None:
        """Called once before the first step of a fresh run with the whole training split (e.g. to fit
        normalisation statistics, kept as buffers so that a resumed run has them)."""


def build_objective(objective: Component, network: AgentNetwork, observation_space: gym.Space,
                    action_space: gym.Space) -> Objective:
    """The objective `objective` (a registered name and its options) for `network` on these spaces."""
    spec = OBJECTIVES.get(objective.name, "pretrain.objective")
    return spec.build(network, observation_space, action_space, objective.options)


class ObservationLoss:
    """Predicting an observation: per-cell binary cross-entropy on logits for bool frames (MinAtar), cross-entropy
    over the states of a Discrete space, mean squared error otherwise (uint8 pixels scaled into [0, 1])."""

    def __init__(self, space: gym.Space, key: str) -> None:
        if isinstance(space, gym.spaces.Discrete):
            self.kind, self.out_dim, self.start = "ce", int(space.n), int(space.start)
        elif isinstance(space, gym.spaces.Box):
            self.kind = "bce" if space.dtype == np.bool_ else "mse"
            self.out_dim, self.scale = int(np.prod(space.shape)), input_scale(space)
        else:
            raise ConfigError(key, f"cannot predict observations of space {space}; it takes Box or Discrete.")

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of `prediction` (batch, out_dim) for observations `target` (batch, *shape), a mean."""
        if self.kind == "ce":
            return nn.functional.cross_entropy(prediction, target.long().reshape(-1) - self.start)
        flat = target.reshape(target.shape[0], -1).float()
        if self.kind == "bce":
            return nn.functional.binary_cross_entropy_with_logits(prediction, flat)
        return (prediction - flat * self.scale).pow(2).mean()


class ActionInput:
    """Actions as a float vector for a network's input: one-hot for Discrete, flattened for Box."""

    def __init__(self, space: gym.Space, key: str) -> None:
        if isinstance(space, gym.spaces.Discrete):
            self.discrete, self.dim, self.start = True, int(space.n), int(space.start)
        elif isinstance(space, gym.spaces.Box):
            self.discrete, self.dim, self.start = False, int(np.prod(space.shape)), 0
        else:
            raise ConfigError(key, f"cannot use actions of space {space}; it takes Discrete or Box.")

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return nn.functional.one_hot(actions.long() - self.start, self.dim).float()
        return actions.reshape(actions.shape[0], -1).float()

    def indices(self, actions: torch.Tensor) -> torch.Tensor:
        """Discrete actions as class indices 0..n-1."""
        return actions.long() - self.start


class BatchSource:
    """A split of a dataset on the training device, and the batches drawn from it.

    `anchors` are the dataset rows a batch may start at: every row, or for a pair offset k the rows whose episode
    lasts k - 1 more steps (so the observation k steps later, `next_obs` of row i + k - 1, is of the same
    episode). Training batches are drawn uniformly (with replacement) by a seeded NumPy generator; validation
    goes once over every anchor in a fixed order."""

    def __init__(self, data: Transitions, device: torch.device, pair_offset: int = 0) -> None:
        self.pair_offset = pair_offset
        rows = np.arange(len(data))
        if pair_offset > 0:
            last = rows + pair_offset - 1
            inside = last < len(data)
            rows, last = rows[inside], last[inside]
            rows = rows[data.episode_ids[last] == data.episode_ids[rows]]
        self.anchors = rows
        self.num_episodes = data.num_episodes
        self.tensors = {name: torch.as_tensor(np.ascontiguousarray(getattr(data, name)), device=device)
                        for name in ("obs", "actions", "rewards", "next_obs", "terminations")}
        self.device = device

    def __len__(self) -> int:
        return len(self.anchors)

    def batch(self, rows: np.ndarray) -> Batch:
        """The batch of anchor rows `rows` (dataset row indices)."""
        index = torch.as_tensor(rows, device=self.device)
        parts: dict[str, Any] = {name: tensor[index] for name, tensor in self.tensors.items()}
        if self.pair_offset > 0:
            parts["future_obs"] = self.tensors["next_obs"][index + self.pair_offset - 1]
        return Batch(**parts)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        return self.batch(self.anchors[rng.integers(0, len(self.anchors), batch_size)])

    def batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        """Every anchor once, in an order fixed by `seed` (so in-batch negatives are mixed), in batches of about
        `batch_size` (at least that many, so no batch has fewer negatives than in training)."""
        order = self.anchors[np.random.default_rng(seed).permutation(len(self.anchors))]
        for rows in np.array_split(order, max(len(order) // batch_size, 1)):
            yield self.batch(rows)
