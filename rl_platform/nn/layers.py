"""Small network-building helpers shared by the pretraining objectives and the world models."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from rl_platform.errors import ConfigError


def mlp(in_dim: int, hidden_sizes: Sequence[int], out_dim: int) -> nn.Sequential:
    """Linear layers of `hidden_sizes` with ReLU between, then a linear layer to `out_dim` ([] : one layer)."""
    layers: list[nn.Module] = []
    for width in hidden_sizes:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def check_widths(hidden_sizes: Sequence[int], key: str = "hidden_sizes") -> None:
    """A ConfigError naming `key` if a layer width is below 1 (for an options dataclass's __post_init__)."""
    if any(width < 1 for width in hidden_sizes):
        raise ConfigError(key, f"every width must be at least 1, got {list(hidden_sizes)}.")
