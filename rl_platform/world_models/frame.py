"""`frame`: a next-frame world model for boolean image observations (MinAtar); importing this module registers it.

:class:`FrameNetwork` maps (frame, action, extra input) to a logit for every cell of the next frame, a reward and
a termination logit; the `frame` model reads the logits as independent Bernoulli cells (per-cell binary
cross-entropy), the reward by mean squared error and the termination by binary cross-entropy. A sample draws
every cell from its Bernoulli; the point prediction is each cell's most likely value (probability above 0.5).
The network takes an `extra` vector so that other models can condition it (the `gan` model's noise z).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.components import Component, component_option
from rl_platform.errors import ConfigError
from rl_platform.nn.encoders import image_shape
from rl_platform.nn.layers import check_widths
from rl_platform.options import option
from rl_platform.registry import ENCODERS, WORLD_MODELS, ComponentSpec
from rl_platform.world_models.base import Imagined, Transition, WorldModel


@dataclass
class FrameModelConfig:
    """Options of the `frame` world model (and of :class:`FrameNetwork`)."""

    encoder: Component = component_option(
        ENCODERS, "cnn", "the encoder of the whole frame (its features feed the global branch); cnn by default")
    channels: list[int] = option([32, 32], "output channels of each 3 x 3 same-size conv layer of the per-cell "
                                 "trunk (the receptive field grows by 2 cells per layer)")
    global_channels: int = option(16, "channels of the per-cell map the global branch adds to the trunk's input",
                                  ge=1)
    hidden_sizes: list[int] = option([256], "hidden layers of the global branch on [encoder features, one-hot "
                                     "action, extra input]")
    reward_weight: float = option(1.0, "weight of the reward loss (mean squared error)", ge=0)
    termination_weight: float = option(1.0, "weight of the termination loss (binary cross-entropy)", ge=0)

    def __post_init__(self) -> None:
        check_widths(self.channels, "channels")
        check_widths(self.hidden_sizes)
        if not self.channels:
            raise ConfigError("channels", "the per-cell trunk needs at least one conv layer, got [].")


def frame_spaces(observation_space: gym.Space, action_space: gym.Space, name: str) -> tuple[tuple[int, ...], int]:
    """(the frame shape, the number of actions) of a model on bool image frames, or a ConfigError naming it."""
    if not isinstance(observation_space, gym.spaces.Box) or observation_space.dtype != np.bool_ \
            or len(observation_space.shape) < 2:
        raise ConfigError("model", f"the '{name}' world model takes bool image frames (MinAtar's (C, 10, 10)), "
                          f"this env has {observation_space}; vector observations take 'mlp' or 'ensemble'.")
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ConfigError("model", f"the '{name}' world model takes Discrete actions, not {action_space}.")
    return tuple(int(n) for n in observation_space.shape), int(action_space.n)


class FrameNetwork(nn.Module):
    """(frames, actions, extra) -> (cell logits, reward, termination logit), for bool image frames.

    Contract:
        frames: (B, *frame_shape), bool or float 0/1, in the observation space's layout (MinAtar: channel-first
            (C, 10, 10); leading axes before (H, W) are merged into channels, as the `cnn` encoder does).
        actions: (B,) Discrete actions (the space's `start` is subtracted).
        extra: (B, extra_dim) floats, or None when extra_dim is 0 (the `gan` model passes its noise z here).
        returns: cell_logits (B, *frame_shape) (logit of each next-frame cell being True), reward (B,),
            termination_logit (B,).

    Two branches. The global one encodes the whole frame (`cfg.encoder`, `cnn` by default), joins the features
    with the one-hot action and `extra`, and maps them through an MLP to a vector and to a (global_channels, H, W)
    map (position-specific, so the global inputs can place things: a spawn, a reset brick row). The per-cell trunk
    is a stack of 3 x 3 same-size convolutions on [frame, action planes, global map]; a 1 x 1 convolution gives
    the cell logits. Reward and termination come from the global vector with the trunk's mean- and max-pooled
    features (an event anywhere on the frame, such as a brick hit, shows in the max)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, extra_dim: int,
                 cfg: FrameModelConfig) -> None:
        super().__init__()
        if extra_dim < 0:
            raise ValueError(f"extra_dim must be at least 0, got {extra_dim}")
        self.frame_shape, self.num_actions = frame_spaces(observation_space, action_space, "frame")
        self.action_start = int(action_space.start)
        self.extra_dim = extra_dim
        channels, height, width = image_shape(observation_space, "frame")
        self.image_shape = (channels, height, width)
        self.global_channels = cfg.global_channels
        self.encoder = ENCODERS.get(cfg.encoder.name, "model.encoder").build(observation_space, cfg.encoder.options)
        layers: list[nn.Module] = []
        in_dim = self.encoder.out_dim + self.num_actions + extra_dim
        for size in cfg.hidden_sizes:
            layers += [nn.Linear(in_dim, size), nn.ReLU()]
            in_dim = size
        self.context = nn.Sequential(*layers)
        self.global_map = nn.Linear(in_dim, cfg.global_channels * height * width)
        trunk: list[nn.Module] = []
        trunk_in = channels + self.num_actions + cfg.global_channels
        for out_channels in cfg.channels:
            trunk += [nn.Conv2d(trunk_in, out_channels, 3, padding=1), nn.ReLU()]
            trunk_in = out_channels
        self.trunk = nn.Sequential(*trunk)
        self.cell_head = nn.Conv2d(trunk_in, channels, 1)
        self.scalar_head = nn.Linear(in_dim + 2 * trunk_in, 2)

    def forward(self, frames: torch.Tensor, actions: torch.Tensor, extra: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = frames.shape[0]
        channels, height, width = self.image_shape
        images = frames.float().reshape(batch, channels, height, width)
        one_hot = nn.functional.one_hot(actions.long().reshape(-1) - self.action_start, self.num_actions).float()
        inputs = [self.encoder(images.reshape(batch, *self.frame_shape)), one_hot]
        if self.extra_dim:
            if extra is None or extra.shape != (batch, self.extra_dim):
                shape = None if extra is None else tuple(extra.shape)
                raise ValueError(f"extra must have shape ({batch}, {self.extra_dim}), got {shape}")
            inputs.append(extra.float())
        context = self.context(torch.cat(inputs, dim=1))
        global_map = self.global_map(context).reshape(batch, self.global_channels, height, width)
        action_planes = one_hot[:, :, None, None].expand(-1, -1, height, width)
        features = self.trunk(torch.cat([images, action_planes, global_map], dim=1))
        cell_logits = self.cell_head(features).reshape(batch, *self.frame_shape)
        pooled = torch.cat([context, features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        reward, termination_logit = self.scalar_head(pooled).unbind(dim=1)
        return cell_logits, reward, termination_logit


def torch_dtype(space: gym.spaces.Box) -> torch.dtype:
    """The torch dtype of a Box space's numpy dtype (bool -> torch.bool)."""
    return torch.from_numpy(np.zeros(0, dtype=space.dtype)).dtype


class FrameWorldModel(WorldModel):
    """Independent Bernoulli cells for the next frame, plus reward and termination, from :class:`FrameNetwork`.

    The loss is the per-cell binary cross-entropy (a mean over cells and rows) + reward_weight * the reward's
    mean squared error + termination_weight * the termination's binary cross-entropy. `sample` draws each cell
    and the termination from their Bernoulli (the reward is its predicted mean); its uncertainty is zeros (the
    cells' spread is aleatoric: it says nothing about where the model is wrong). `point_prediction` keeps the
    cells whose probability is above 0.5. Frames come back in the observation space's dtype (bool for MinAtar)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, cfg: FrameModelConfig) -> None:
        super().__init__(observation_space, action_space)
        self.cfg = cfg
        self.network = FrameNetwork(observation_space, action_space, 0, cfg)
        self.frame_dtype = torch_dtype(observation_space)

    def loss(self, data: Transition) -> tuple[torch.Tensor, dict[str, float]]:
        cell_logits, reward, termination_logit = self.network(data.obs, data.actions)
        target = data.next_obs.reshape(cell_logits.shape).float()
        cell_loss = nn.functional.binary_cross_entropy_with_logits(cell_logits, target)
        reward_loss = (reward - data.rewards.float()).pow(2).mean()
        termination_loss = nn.functional.binary_cross_entropy_with_logits(termination_logit,
                                                                          data.terminations.float())
        total = cell_loss + self.cfg.reward_weight * reward_loss + self.cfg.termination_weight * termination_loss
        with torch.no_grad():
            correct = (cell_logits > 0) == (target > 0.5)
            frame_match = correct.reshape(correct.shape[0], -1).all(dim=1).float().mean()
        return total, {"cells": float(cell_loss.detach()), "reward": float(reward_loss.detach()),
                       "termination": float(termination_loss.detach()),
                       "cell_accuracy": float(correct.float().mean()), "frame_match": float(frame_match)}

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None) -> Imagined:
        cell_logits, reward, termination_logit = self.network(obs, actions)
        uniforms = torch.rand(cell_logits.shape, generator=generator, device=cell_logits.device)
        cells = uniforms < torch.sigmoid(cell_logits)
        termination_uniforms = torch.rand(reward.shape, generator=generator, device=reward.device)
        terminations = termination_uniforms < torch.sigmoid(termination_logit)
        return Imagined(cells.to(self.frame_dtype), reward, terminations, torch.zeros_like(reward))

    @torch.no_grad()
    def point_prediction(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return (self.network(obs, actions)[0] > 0).to(self.frame_dtype)


WORLD_MODELS.register("frame", ComponentSpec(
    "frame", FrameModelConfig, FrameWorldModel,
    "next-frame model for bool image frames (MinAtar): a conv network with a Bernoulli per cell, reward and "
    "termination"))
