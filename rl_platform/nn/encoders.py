"""Encoders: observation space + model config in, an `nn.Module` with `out_dim` features out."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.config import ModelConfig
from rl_platform.errors import ConfigError
from rl_platform.registry import ENCODERS

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class MLPEncoder(nn.Module):
    """Flattens a Box observation (one-hot encodes a Discrete one) and applies hidden layers."""

    def __init__(self, observation_space: gym.Space, cfg: ModelConfig) -> None:
        super().__init__()
        if isinstance(observation_space, gym.spaces.Discrete):
            self.num_categories: int | None = int(observation_space.n)
            in_dim = self.num_categories
        elif isinstance(observation_space, gym.spaces.Box):
            self.num_categories = None
            in_dim = int(np.prod(observation_space.shape))
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
        return self.layers(obs.float().reshape(obs.shape[0], -1))


ENCODERS.register("mlp", MLPEncoder)


def build_encoder(observation_space: gym.Space, cfg: ModelConfig) -> nn.Module:
    """The encoder named by `cfg.encoder`, built for `observation_space`."""
    return ENCODERS.get(cfg.encoder, "model.encoder")(observation_space, cfg)
