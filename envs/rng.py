"""Per-env random streams: one SplitMix64 state (a uint64) per env, seeded from one seed.

Env functions draw from their own stream with :func:`next_uniform` (or :func:`next_uint64`); both are plain
integer arithmetic, so the same code runs in the CPU kernels and, recompiled, as CUDA device functions
(:mod:`rl_platform.envs.cuda`), and a seed gives the same draws on either. :func:`seed_streams` makes the
initial states on the host.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always")
def next_uint64(rng):
    """SplitMix64: advances `rng[0]` and returns 64 random bits (plain integer ops: CPU and CUDA)."""
    rng[0] = rng[0] + np.uint64(0x9E3779B97F4A7C15)
    z = rng[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def next_uniform(rng):
    """A float64 uniform on [0, 1) from the top 53 bits of :func:`next_uint64`."""
    return float(next_uint64(rng) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def seed_streams(seed: int | None, count: int) -> np.ndarray:
    """`count` independent uint64 RNG states from one seed (SeedSequence: no overlap, any count)."""
    return np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)


__all__ = ["next_uint64", "next_uniform", "seed_streams"]
