"""The `cnn` encoder: convolutions over a channel-first image, then one linear layer to `features_dim`."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

from rl_platform.errors import ConfigError
from rl_platform.nn.encoders import ACTIVATION_NAMES, ACTIVATIONS, image_shape, input_scale
from rl_platform.options import option
from rl_platform.registry import ENCODERS, ComponentSpec

# (channels, kernels, strides) when the layout options are left empty.
NATURE_LAYOUT = ([32, 64, 64], [8, 4, 3], [4, 2, 1])  # Mnih et al. (2015), for 84 x 84 Atari frames
SMALL_LAYOUT = ([16, 32], [3, 3], [1, 1])  # for small images such as MinAtar's 10 x 10
NATURE_MIN_SIZE = 36  # the smallest image side the Nature layout fits (8/4 -> 8 -> 4/2 -> 3 -> 3/1 -> 1)


@dataclass
class CNNConfig:
    """Options of the `cnn` encoder."""

    channels: list[int] = option(
        [], "output channels of each conv layer; [] picks a layout by image size (see kernels)")
    kernels: list[int] = option(
        [], "square kernel size of each conv layer; [] with the other two [] picks Nature-CNN "
        "(32, 64, 64 channels; kernels 8, 4, 3; strides 4, 2, 1) for images of 36 x 36 and up, "
        "else two 3 x 3 stride-1 layers of 16 and 32 channels (MinAtar's 10 x 10 frames)")
    strides: list[int] = option([], "stride of each conv layer ([]: see kernels)")
    features_dim: int = option(256, "width of the linear layer after the convolutions (the features)", ge=1)
    activation: str = option("relu", "activation after each layer", choices=ACTIVATION_NAMES)

    def __post_init__(self) -> None:
        layout = {"channels": self.channels, "kernels": self.kernels, "strides": self.strides}
        for key, values in layout.items():
            if any(value < 1 for value in values):
                raise ConfigError(key, f"every entry must be at least 1, got {values}.")
        lengths = {len(values) for values in layout.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{key} has {len(values)}" for key, values in layout.items())
            raise ConfigError("channels", f"channels, kernels and strides need one entry per conv layer each "
                              f"(or all three []); {shown}.")


def conv_layout(cfg: CNNConfig, height: int, width: int) -> tuple[list[int], list[int], list[int]]:
    """The configured (channels, kernels, strides), or the default layout for an image of this size."""
    if cfg.channels:
        return cfg.channels, cfg.kernels, cfg.strides
    return NATURE_LAYOUT if min(height, width) >= NATURE_MIN_SIZE else SMALL_LAYOUT


class CNNEncoder(nn.Module):
    """Nature-CNN style: conv layers, flatten, linear to `features_dim`, each followed by the activation.

    The observation is a channel-first image (C, H, W); stacked frames (K, C, H, W) become K * C
    channels. uint8 pixels bounded by 255 are scaled into [0, 1]; bool and 0/1 images are cast to float.
    The flattened size is found by one forward pass of a dummy image.
    """

    def __init__(self, observation_space: gym.Space, cfg: CNNConfig) -> None:
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
                raise ConfigError("model.encoder.kernels", f"the conv layers {conv_layout(cfg, height, width)} "
                                  f"(channels, kernels, strides) do not fit a {height} x {width} image.") from None
        self.linear = nn.Sequential(nn.Linear(flat_dim, cfg.features_dim), ACTIVATIONS[cfg.activation]())
        self.out_dim = cfg.features_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        images = obs.float().reshape(obs.shape[0], *self.image_shape)
        if self.scale != 1.0:
            images = images * self.scale
        return self.linear(self.convs(images))


ENCODERS.register("cnn", ComponentSpec(
    name="cnn", config_cls=CNNConfig, build=CNNEncoder,
    description="convolutions over a channel-first image (stacked frames merged into channels), then a linear "
                "layer; sized by a dummy forward pass"))
