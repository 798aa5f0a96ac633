"""Shared fixtures: running the `rlp` CLI as a user would, in a temp directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"


def rlp_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rl_platform.cli", *args]


@pytest.fixture
def run_rlp(tmp_path: Path):
    """Run `rlp ARGS...` in tmp_path; returns the CompletedProcess (text output)."""

    def run(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(rlp_command(*args), cwd=tmp_path, capture_output=True, text=True,
                              timeout=timeout, env=full_env)

    return run


@pytest.fixture
def one_torch_thread():
    """What runs use (train.torch_threads): small networks on a shared 2-core machine crawl with every core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
