"""Observation -> active feature indices: table lookup for discrete observations, uniform bins or tile
coding for continuous ones.

Every observation activates `num_active` features (one per tiling; 1 for discrete observations and
uniform bins) and Q(s, a) = sum over its active features f of w[f, a]. A discrete observation is its
own single feature (MultiDiscrete observations are raveled), so plain tabular Q-learning is the
case `num_active == 1`.

Tile coding (Sutton & Barto, 2018, section 9.5.4): each of `num_tilings` grids splits every
dimension's [low, high] into `bins` tiles, plus one so that the shifted grids still cover the range;
tiling t is shifted by t * (2d + 1) / num_tilings of a tile along dimension d (asymmetric offsets).
Values outside [low, high] fall into the edge tiles. With one tiling there is no shift and no extra
tile: uniform bins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import gymnasium as gym
import numba
import numpy as np

from rl_platform.errors import ConfigError, EnvError

DISCRETE, TILES = 0, 1


class FeatureSpec(NamedTuple):
    """The arrays the compiled feature function reads (a NamedTuple, so Numba takes it as one argument)."""

    kind: int  # DISCRETE or TILES
    low: np.ndarray  # float64 (D,): range start (discrete: the space's `start`)
    inv_width: np.ndarray  # float64 (D,): tiles per unit of observation (discrete: 1)
    dims: np.ndarray  # int64 (D,): tiles per dimension (discrete: values per dimension)
    strides: np.ndarray  # int64 (D,): row-major strides of a tiling
    offsets: np.ndarray  # float64 (T, D): shift of each tiling, in tiles
    tiling_size: int  # features per tiling

    @property
    def num_active(self) -> int:
        return self.offsets.shape[0]

    @property
    def num_features(self) -> int:
        return self.num_active * self.tiling_size


def _row_major(dims: np.ndarray) -> tuple[np.ndarray, int]:
    strides = np.ones(len(dims), dtype=np.int64)
    for d in range(len(dims) - 2, -1, -1):
        strides[d] = strides[d + 1] * dims[d + 1]
    return strides, int(np.prod(dims))


def _per_dimension(values: Sequence[float], size: int, key: str) -> np.ndarray:
    if len(values) not in (1, size):
        raise ConfigError(key, f"needs 1 value or one per observation dimension ({size}), got {len(values)}.")
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (size,)).copy()


def feature_spec(space: gym.Space, discretization: str, bins: Sequence[int], num_tilings: int,
                 obs_low: Sequence[float] | None, obs_high: Sequence[float] | None) -> FeatureSpec:
    """The feature map for `space` (the agent's `discretization`, `bins`, `num_tilings`, `obs_low/high`)."""
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        if discretization != "none":
            raise ConfigError("agent.discretization", f"the observation space {space} is already discrete; "
                              "use 'none'.")
        sizes = space.nvec if isinstance(space, gym.spaces.MultiDiscrete) else space.n
        nvec = np.atleast_1d(np.asarray(sizes, dtype=np.int64)).ravel()
        start = np.atleast_1d(np.asarray(space.start, dtype=np.float64)).ravel()
        strides, size = _row_major(nvec)
        return FeatureSpec(DISCRETE, start, np.ones(len(nvec)), nvec, strides, np.zeros((1, len(nvec))), size)
    if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
        raise EnvError(f"tabular_q needs a Discrete, MultiDiscrete or 1-D Box observation space; got {space}.")
    if discretization == "none":
        raise ConfigError("agent.discretization", f"the observation space {space} is continuous; "
                          "set agent.discretization to 'bins' or 'tiles'.")
    size = space.shape[0]
    low = _per_dimension(obs_low, size, "agent.obs_low") if obs_low is not None else space.low.astype(np.float64)
    high = _per_dimension(obs_high, size, "agent.obs_high") if obs_high is not None else space.high.astype(np.float64)
    for key, bound in (("agent.obs_low", low), ("agent.obs_high", high)):
        if not np.all(np.isfinite(bound)):
            raise ConfigError(key, f"the observation space {space} is unbounded in some dimension; "
                              f"give {size} finite values (e.g. the range the agent will see).")
    if np.any(high <= low):
        raise ConfigError("agent.obs_high", f"must exceed agent.obs_low in every dimension: low {low}, high {high}.")
    bin_counts = _per_dimension(bins, size, "agent.bins").astype(np.int64)
    tilings = 1 if discretization == "bins" else num_tilings
    dims = bin_counts + (1 if tilings > 1 else 0)
    offsets = np.array([[(t * (2 * d + 1) / tilings) % 1.0 for d in range(size)] for t in range(tilings)])
    strides, tiling_size = _row_major(dims)
    return FeatureSpec(TILES, low, bin_counts / (high - low), dims, strides, offsets, tiling_size)


@numba.njit(inline="always")
def active_features(obs, spec, out):
    """Write the `spec.num_active` feature indices of one observation row `obs` into `out`."""
    for t in range(spec.offsets.shape[0]):
        index = t * spec.tiling_size
        for d in range(spec.dims.shape[0]):
            if spec.kind == DISCRETE:
                coord = int(obs[d] - spec.low[d])
            else:
                coord = int(math.floor((obs[d] - spec.low[d]) * spec.inv_width[d] + spec.offsets[t, d]))
                coord = min(max(coord, 0), spec.dims[d] - 1)
            index += coord * spec.strides[d]
        out[t] = index


@numba.njit(_nrt=False)
def active_features_batch(obs, spec, out):
    """Rows of `obs` (num_envs, D) -> their active features (num_envs, num_active)."""
    for i in range(obs.shape[0]):
        active_features(obs[i], spec, out[i])
