"""The `transformer` encoder: a few pre-LayerNorm self-attention layers over tokens made from the observation.

Tokens are either the frames of an observation history (`env.history: K` gives observations of shape
(K, ...); each frame is flattened and linearly embedded) or, with the option `patch_size: p`, the p x p
patches of an image (ViT). A learned positional embedding tells tokens apart. With
`causal` (the default) each token attends only to itself and earlier tokens and
the features are the last token's, which has seen the whole history; otherwise attention is full
and the features are the mean over tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.errors import ConfigError
from rl_platform.nn.encoders import image_shape, input_scale
from rl_platform.options import option
from rl_platform.registry import ENCODERS, ComponentSpec


@dataclass
class TransformerConfig:
    """Options of the `transformer` encoder."""

    layers: int = option(2, "number of (pre-LayerNorm) encoder layers", ge=1)
    width: int = option(64, "token width d_model (also the features' width)", ge=1)
    heads: int = option(4, "attention heads; must divide width", ge=1)
    ff_width: int = option(128, "hidden width of each layer's feed-forward block", ge=1)
    dropout: float = option(0.0, "dropout rate in attention and feed-forward", ge=0, lt=1)
    causal: bool = option(
        True, "tokens attend only to earlier tokens and the features are the last token's; "
        "false: full attention and the features are the mean over tokens")
    patch_size: int = option(
        0, "0 makes each entry along the observation's first axis (a frame of env.history) one token; "
        "p > 0 cuts an image observation (..., H, W) into p x p patches, one token each", ge=0)

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ConfigError("heads", f"{self.heads} heads do not divide width {self.width}.")


class FrameTokens(nn.Module):
    """(B, T, ...) -> (B, T, width): entry t along the first observation axis, flattened and embedded.
    A 1-D observation is a single token."""

    def __init__(self, space: gym.spaces.Box, width: int) -> None:
        super().__init__()
        shape = space.shape if len(space.shape) >= 2 else (1, *space.shape)
        self.num_tokens = int(shape[0])
        self.embed = nn.Linear(int(np.prod(shape[1:])), width)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.embed(obs.reshape(obs.shape[0], self.num_tokens, -1))


class PatchTokens(nn.Module):
    """(B, ..., H, W) -> (B, (H // p) * (W // p), width): non-overlapping p x p patches, linearly embedded
    (a stride-p convolution); leading axes are channels. Rows and columns past the last whole patch are dropped."""

    def __init__(self, space: gym.spaces.Box, width: int, patch_size: int) -> None:
        super().__init__()
        self.image_shape = image_shape(space, "transformer")
        channels, height, width_px = self.image_shape
        if patch_size > min(height, width_px):
            raise ConfigError("model.encoder.patch_size",
                              f"{patch_size} is larger than the {height} x {width_px} image.")
        self.num_tokens = (height // patch_size) * (width_px // patch_size)
        self.embed = nn.Conv2d(channels, width, kernel_size=patch_size, stride=patch_size)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        patches = self.embed(obs.reshape(obs.shape[0], *self.image_shape))  # (B, width, H / p, W / p)
        return patches.flatten(2).transpose(1, 2)


class TransformerEncoder(nn.Module):
    """Tokens + positional embedding -> `layers` pre-LN layers -> LayerNorm -> last or mean token."""

    def __init__(self, observation_space: gym.Space, cfg: TransformerConfig) -> None:
        super().__init__()
        if not isinstance(observation_space, gym.spaces.Box):
            raise ConfigError("model.encoder", f"'transformer' takes Box observations; this env's observation "
                              f"space is {observation_space}.")
        width = cfg.width
        self.scale = input_scale(observation_space)
        if cfg.patch_size > 0:
            self.tokens: FrameTokens | PatchTokens = PatchTokens(observation_space, width, cfg.patch_size)
        else:
            self.tokens = FrameTokens(observation_space, width)
        num_tokens = self.tokens.num_tokens
        self.position = nn.Parameter(torch.randn(1, num_tokens, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, cfg.heads, cfg.ff_width, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.causal = cfg.causal
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(num_tokens) if self.causal
                             else None, persistent=False)
        self.out_dim = width

    def token_features(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, T, width): every token's output (with `causal`, token t's depends on tokens 0..t only)."""
        obs = obs.float()
        if self.scale != 1.0:
            obs = obs * self.scale
        tokens = self.tokens(obs) + self.position
        return self.norm(self.layers(tokens, mask=self.mask, is_causal=self.causal))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        features = self.token_features(obs)
        return features[:, -1] if self.causal else features.mean(dim=1)


ENCODERS.register("transformer", ComponentSpec(
    name="transformer", config_cls=TransformerConfig, build=TransformerEncoder,
    description="pre-LayerNorm self-attention over tokens: the frames of an observation history, or image "
                "patches; causal by default"))
