"""Interrupted runs lose nothing: SIGINT/SIGTERM checkpoint, SIGKILL resumes from the last checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_platform.checkpoint import load_checkpoint
from tests.conftest import rlp_command


def start_training(tmp_path: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(rlp_command("train", *overrides, "--run-dir", "run"), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(path: Path, min_step: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            try:
                step = int(load_checkpoint(path)["global_step"])
            except Exception:  # being replaced right now: atomic rename makes the next read good
                step = -1
            if step >= min_step:
                return step
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint with global_step >= {min_step} in {timeout} s")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_writes_checkpoint_and_exits(tmp_path, signum):
    """No periodic checkpoints: the only checkpoint is the one the signal handler writes."""
    process = start_training(tmp_path, "train.total_steps=1000000", "train.checkpoint_every=0",
                             "train.eval_every=0")
    config_file = tmp_path / "run" / "config.yaml"
    deadline = time.monotonic() + 60
    while not config_file.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3.0)  # let it train for a while
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert "rlp train --resume" in stderr and "Traceback" not in stderr
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert checkpoint["global_step"] > 0 and checkpoint["agent"]["num_updates"] > 0


def test_killed_run_resumes_step_counter_and_learning(tmp_path):
    """SIGKILL after a checkpoint; --resume continues the steps, the curves and reaches the goal."""
    process = start_training(tmp_path, "train.checkpoint_every=2000", "train.eval_every=2000",
                             "train.total_steps=100000")
    checkpoint = tmp_path / "run" / "checkpoints" / "latest.pt"
    wait_for_checkpoint(checkpoint, 6000)
    process.kill()
    process.wait(timeout=30)
    saved = load_checkpoint(checkpoint)
    killed_at = int(saved["global_step"])  # a later checkpoint may have landed before the kill
    updates_before = int(saved["agent"]["num_updates"])

    resumed = subprocess.run(rlp_command("train", "--resume", "run", "--quiet"), cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["global_step"] > killed_at
    assert metrics["mean_return"] >= 475  # the default experiment's stop_return: learning went on
    final = load_checkpoint(checkpoint)
    assert int(final["agent"]["num_updates"]) > updates_before

    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    eval_steps = [e.step for e in events.Scalars("eval/mean_return")]
    assert eval_steps == sorted(set(eval_steps))  # one curve, no duplicate points after the purge
    assert eval_steps[-1] == metrics["global_step"] and min(eval_steps) <= killed_at


def test_resume_without_checkpoint_is_a_user_error(run_rlp, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("agent: dqn\n")
    result = run_rlp("train", "--resume", "run")
    assert result.returncode == 2
    assert "no checkpoint was written" in result.stderr and "Traceback" not in result.stderr


def test_resume_without_saved_buffer_refills_it_before_learning(tmp_path):
    from rl_platform import experiment

    overrides = ["train.total_steps=2000", "train.eval_every=0", "train.eval_episodes=2",
                 "train.save_buffer=false", "agent.learning_starts=500"]
    experiment.train(experiment.load_experiment("dqn_cartpole", overrides), tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "checkpoints" / "replay.pt").exists()
    updates_before = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["agent"]["num_updates"]
    cfg = experiment.resume_config(tmp_path / "run", ["train.total_steps=4000"])
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True, resume=True)
    assert metrics["global_step"] == 4000
    updates_after = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["agent"]["num_updates"]
    # 2000 new steps, the first 504 (63 vector steps of 8) only refill the buffer: rounds every 4 vector steps
    assert updates_before < updates_after < updates_before + 2000 // 32 * 4
