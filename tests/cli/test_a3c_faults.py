"""A3C worker processes under faults: a killed worker is restarted or stops training with a checkpoint;
Ctrl-C stops every worker and checkpoints; nothing hangs (each run has a hard timeout)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rl_platform.checkpoint import load_checkpoint
from tests.conftest import CONFIGS, rlp_command

# Long enough that the kill lands mid-run; no evaluations, so the run is all worker time.
ARGS = ["train.stop_return=null", "train.eval_every=0", "train.eval_episodes=2", "train.checkpoint_every=0"]


def start(tmp_path: Path, *overrides: str) -> tuple[subprocess.Popen, Path]:
    stderr = tmp_path / "stderr.txt"
    command = rlp_command("train", str(CONFIGS / "a3c_cartpole.yaml"), *ARGS, *overrides,
                          "--run-dir", str(tmp_path / "run"))
    with stderr.open("w") as err:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=err, text=True,
                                   start_new_session=True)
    return process, stderr


def worker_pids(stderr: Path, timeout: float = 90.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"worker processes started \(pids ([\d, ]+)\)", stderr.read_text())
        if match:
            return [int(pid) for pid in match.group(1).split(", ")]
        time.sleep(0.2)
    raise AssertionError(f"no worker pids reported:\n{stderr.read_text()}")


def wait_running(stderr: Path) -> None:
    """Until the progress line shows steps being made (workers past start-up)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not re.search(r"step +[1-9][\d,]*/", stderr.read_text()):
        time.sleep(0.2)


def gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":  # exited, not yet reaped
            return True
        time.sleep(0.1)
    return False


def test_killed_worker_is_restarted_and_training_finishes(tmp_path):
    process, stderr = start(tmp_path, "train.total_steps=400000", "log.log_every=5000")
    pids = worker_pids(stderr)
    wait_running(stderr)
    os.kill(pids[0], signal.SIGKILL)
    process.wait(timeout=180)
    log = stderr.read_text()
    assert process.returncode == 0, log
    assert f"a3c worker 0 (pid {pids[0]}) was killed by SIGKILL; restarting it" in log
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["global_step"] >= 400_000


def test_worker_death_without_restarts_stops_with_checkpoint(tmp_path):
    process, stderr = start(tmp_path, "train.total_steps=5000000", "agent.max_restarts=0")
    pids = worker_pids(stderr)
    wait_running(stderr)
    os.kill(pids[1], signal.SIGKILL)
    process.wait(timeout=60)  # seconds, not the ~2 minutes the 5M steps would take
    log = stderr.read_text()
    assert process.returncode == 2, log
    assert "no restarts are left (agent.max_restarts=0)" in log and "Checkpoint saved in" in log
    assert "Traceback" not in log
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").is_file()
    assert gone(pids[0])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_all_workers_checkpoints_and_resumes(tmp_path, signum, run_rlp):
    process, stderr = start(tmp_path, "train.total_steps=5000000")
    pids = worker_pids(stderr)
    wait_running(stderr)
    os.killpg(process.pid, signum)  # as a terminal's Ctrl-C does: the whole process group gets it
    process.wait(timeout=60)
    assert process.returncode == 128 + signum, stderr.read_text()
    assert all(gone(pid) for pid in pids)
    saved_step = int(load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["global_step"])
    assert saved_step > 0
    resumed = run_rlp("train", "--resume", str(tmp_path / "run"), f"train.total_steps={saved_step + 100_000}",
                      "--quiet", timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["global_step"] >= saved_step + 100_000


def test_worker_error_stops_training_with_its_message_and_a_checkpoint(run_rlp, tmp_path):
    result = run_rlp("train", "a3c_cartpole", "env.id=tests.user_envs:CrashingEnv", "env.num_envs=2",
                     *ARGS, "--run-dir", "run", env={"PYTHONPATH": str(CONFIGS.parent)}, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "a3c worker" in result.stderr and "RuntimeError: the simulator lost its licence" in result.stderr
    assert "rlp train --resume" in result.stderr
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").is_file()
