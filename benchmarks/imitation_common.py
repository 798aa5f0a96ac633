"""Hands our expert datasets to the `imitation` library peer (benchmarks/imitation_peer.py).

The peer runs in its own venv (benchmarks/setup_imitation_peer.sh) and cannot read Minari datasets through
rl_platform, so this module, run with the project's own python, flattens a dataset into the .npz that
benchmarks/imitation_peer.py documents: `obs`, `acts`, `next_obs`, `dones` and `episode_ids`, one row per
transition, in dataset order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rl_platform.datasets import load_transitions

PEER_NPZ_KEYS = ("obs", "acts", "next_obs", "dones", "episode_ids")
"""The arrays of a peer .npz, in the order benchmarks/imitation_peer.py documents them."""


def write_peer_npz(dataset: str, path: str | os.PathLike) -> int:
    """Write dataset `dataset` (a Minari id or directory) to `path` as the peer's .npz; return its row count.

    `dones` is True on the last step of every episode, whether it terminated or was truncated: `imitation`
    treats both as the end of a trajectory (its `Transitions.dones`)."""
    data = load_transitions(dataset)
    last_of_episode = np.ones(len(data), dtype=bool)
    last_of_episode[:-1] = data.episode_ids[1:] != data.episode_ids[:-1]
    dones = last_of_episode | data.terminations.astype(bool) | data.truncations.astype(bool)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as f:
        np.savez(f, obs=data.obs.astype(np.float32), acts=data.actions, next_obs=data.next_obs.astype(np.float32),
                 dones=dones, episode_ids=data.episode_ids.astype(np.int64))
    return len(data)
