"""Atomic checkpoints that load with `torch.load(weights_only=True)`.

NumPy arrays are stored as tensors (weights_only forbids arbitrary pickles) and restored on load.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

_NDARRAY_TAG = "__ndarray__"


def _to_safe(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {_NDARRAY_TAG: torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, dict):
        return {key: _to_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_safe(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_safe(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_NDARRAY_TAG}:
            return value[_NDARRAY_TAG].numpy()
        return {key: _from_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_safe(item) for item in value)
    return value


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically: a temp file in the same folder, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide checkpoints from other users of a shared run dir
        with os.fdopen(fd, "wb") as file:
            torch.save(_to_safe(state), file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (weights_only: no code is unpickled)."""
    return _from_safe(torch.load(path, map_location="cpu", weights_only=True))


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}


def restore_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
