"""Schedules shared by agents (callable from Python and from Numba-compiled loops)."""

from __future__ import annotations

import numba


@numba.njit(inline="always", cache=True)
def linear_schedule(start: float, end: float, duration: float, t: float) -> float:
    """`start` at t = 0, moving linearly to `end` at t = duration, then constant."""
    return end + (start - end) * max(0.0, 1.0 - t / duration)
