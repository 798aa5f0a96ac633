"""Encoders: observation space + the encoder's options in, an `nn.Module` with `out_dim` features out.

Each encoder is a component (:class:`rl_platform.registry.ComponentSpec`): its options dataclass next to its
build function, registered in ENCODERS when its module is imported (through the `rl_platform.encoders`
entry points). `mlp` lives here with the helpers every encoder shares; `cnn` and `transformer` have their own
modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.config import ModelConfig
from rl_platform.errors import ConfigError
from rl_platform.options import option
from rl_platform.registry import ENCODERS, ComponentSpec

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
ACTIVATION_NAMES = tuple(ACTIVATIONS)


def input_scale(space: gym.spaces.Box) -> float:
    """1/255 for uint8 observations bounded by 255 (pixels, scaled into [0, 1]); 1 for any other Box
    (floats as they are, bool and 0/1 images cast to 0.0 / 1.0)."""
    if space.dtype == np.uint8 and np.all(space.high == 255):
        return 1.0 / 255.0
    return 1.0


def image_shape(space: gym.Space, encoder: str) -> tuple[int, int, int]:
    """(channels, height, width) of a channel-first image space; leading axes (e.g. the frames of an
    observation history, (K, C, H, W)) are merged into channels, and a plain (H, W) image has one."""
    if not isinstance(space, gym.spaces.Box) or len(space.shape) < 2:
        raise ConfigError("model.encoder", f"'{encoder}' needs image observations, a Box of shape (..., H, W); "
                          f"this env's observation space is {space}.")
    *leading, height, width = space.shape
    return int(np.prod(leading)), int(height), int(width)


@dataclass
class MLPConfig:
    """Options of the `mlp` encoder."""

    hidden_sizes: list[int] = option([64, 64], "widths of the hidden layers ([]: the flattened observation)")
    activation: str = option("relu", "activation after each hidden layer", choices=ACTIVATION_NAMES)

    def __post_init__(self) -> None:
        if any(width < 1 for width in self.hidden_sizes):
            raise ConfigError("hidden_sizes", f"every width must be at least 1, got {self.hidden_sizes}.")


class MLPEncoder(nn.Module):
    """Flattens a Box observation (one-hot encodes a Discrete one) and applies the `hidden_sizes` layers."""

    def __init__(self, observation_space: gym.Space, cfg: MLPConfig) -> None:
        super().__init__()
        self.scale = 1.0
        if isinstance(observation_space, gym.spaces.Discrete):
            self.num_categories: int | None = int(observation_space.n)
            in_dim = self.num_categories
        elif isinstance(observation_space, gym.spaces.Box):
            self.num_categories = None
            in_dim = int(np.prod(observation_space.shape))
            self.scale = input_scale(observation_space)  # pixels into [0, 1]
        else:
            raise ConfigError("model.encoder", f"'mlp' cannot encode observation space "
                              f"{observation_space}; it takes Box or Discrete spaces.")
        layers: list[nn.Module] = []
        for width in cfg.hidden_sizes:
            layers += [nn.Linear(in_dim, width), ACTIVATIONS[cfg.activation]()]
            in_dim = width
        self.layers = nn.Sequential(*layers)
        self.out_dim = in_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.num_categories is not None:
            obs = nn.functional.one_hot(obs.long().reshape(-1), self.num_categories)
        elif self.scale != 1.0:
            obs = obs.float() * self.scale
        return self.layers(obs.float().reshape(obs.shape[0], -1))


ENCODERS.register("mlp", ComponentSpec(
    name="mlp", config_cls=MLPConfig, build=MLPEncoder,
    description="flattens the observation (one-hot for Discrete) into fully connected layers"))


def build_encoder(observation_space: gym.Space, cfg: ModelConfig) -> nn.Module:
    """The encoder `cfg.encoder` (a registered encoder and its options), built for `observation_space`."""
    spec = ENCODERS.get(cfg.encoder.name, "model.encoder")
    return spec.build(observation_space, cfg.encoder.options)
