"""The `cnn` encoder: convolutions over a channel-first image, then one linear layer to `features_dim`."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rl_platform.config import ModelConfig
from rl_platform.errors import ConfigError
from rl_platform.nn.encoders import ACTIVATIONS, image_shape, input_scale
from rl_platform.registry import ENCODERS

# (channels, kernels, strides) when model.cnn_* are left empty.
NATURE_LAYOUT = ([32, 64, 64], [8, 4, 3], [4, 2, 1])  # Mnih et al. (2015), for 84 x 84 Atari frames
SMALL_LAYOUT = ([16, 32], [3, 3], [1, 1])  # for small images such as MinAtar's 10 x 10
NATURE_MIN_SIZE = 36  # the smallest image side the Nature layout fits (8/4 -> 8 -> 4/2 -> 3 -> 3/1 -> 1)


def conv_layout(cfg: ModelConfig, height: int, width: int) -> tuple[list[int], list[int], list[int]]:
    """The configured (channels, kernels, strides), or the default layout for an image of this size."""
    if cfg.cnn_channels:
        return cfg.cnn_channels, cfg.cnn_kernels, cfg.cnn_strides
    return NATURE_LAYOUT if min(height, width) >= NATURE_MIN_SIZE else SMALL_LAYOUT


class CNNEncoder(nn.Module):
    """Nature-CNN style: conv layers, flatten, linear to `model.features_dim`, each followed by the activation.

    The observation is a channel-first image (C, H, W); stacked frames (K, C, H, W) become K * C
    channels. uint8 pixels bounded by 255 are scaled into [0, 1]; bool and 0/1 images are cast to float.
    The flattened size is found by one forward pass of a dummy image.
    """

    def __init__(self, observation_space: gym.Space, cfg: ModelConfig) -> None:
        super().__init__()
        self.image_shape = image_shape(observation_space, "cnn")
        in_channels, height, width = self.image_shape
        self.scale = input_scale(observation_space)
        layers: list[nn.Module] = []
        for out_channels, kernel, stride in zip(*conv_layout(cfg, height, width), strict=True):
            layers += [nn.Conv2d(in_channels, out_channels, kernel, stride), ACTIVATIONS[cfg.activation]()]
            in_channels = out_channels
        self.convs = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            try:
                flat_dim = self.convs(torch.zeros(1, *self.image_shape)).shape[1]
            except RuntimeError:  # a kernel larger than what is left of the image
                raise ConfigError("model.cnn_kernels", f"the conv layers {conv_layout(cfg, height, width)} "
                                  f"(channels, kernels, strides) do not fit a {height} x {width} image.") from None
        self.linear = nn.Sequential(nn.Linear(flat_dim, cfg.features_dim), ACTIVATIONS[cfg.activation]())
        self.out_dim = cfg.features_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        images = obs.float().reshape(obs.shape[0], *self.image_shape)
        if self.scale != 1.0:
            images = images * self.scale
        return self.linear(self.convs(images))


ENCODERS.register("cnn", CNNEncoder)
