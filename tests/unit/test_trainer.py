"""The core trainer, once for every agent: evaluation and checkpoint cadence, the stop at train.stop_return,
SIGINT / SIGTERM checkpoints and resume, failures. Driven by the test-only toy agent, whose returns are known
exactly (10 per episode before `agent.good_steps`, 0 after) and which counts its updates."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_platform import experiment
from rl_platform.checkpoint import load_checkpoint
from rl_platform.errors import TrainingFailed
from rl_platform.run import Run, TrainingInterrupted
from tests import toy_agent

BASE = ["agent.name=toy_regress", f"env.id={toy_agent.ENV}", "env.num_envs=2", "train.total_steps=1000",
        "train.eval_episodes=2", "train.stop_confirm_episodes=0", "agent.good_steps=100000"]


@pytest.fixture(autouse=True)
def toy():
    toy_agent.register()


def train(run_dir: Path, *overrides: str, resume: bool = False) -> dict:
    if resume:
        return experiment.train(experiment.resume_config(run_dir, list(overrides)), run_dir, quiet=True,
                                resume=True)
    return experiment.train(experiment.load_experiment(None, [*BASE, *overrides]), run_dir, quiet=True)


def scalar_steps(run_dir: Path, tag: str) -> list[int]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


@pytest.fixture
def saves(monkeypatch) -> list[int]:
    """The steps of every latest.pt the trainer writes."""
    steps: list[int] = []
    original = Run.save

    def recording_save(run, step, state, buffer_state=None):
        steps.append(step)
        original(run, step, state, buffer_state)

    monkeypatch.setattr(Run, "save", recording_save)
    return steps


def test_evaluations_and_checkpoints_come_on_their_cadence(tmp_path, saves):
    metrics = train(tmp_path / "run", "train.eval_every=300", "train.checkpoint_every=400", "log.log_every=250")
    assert metrics["global_step"] == 1000 and metrics["mean_return"] == 10.0
    # the final evaluation at 1000 is its own (no periodic one is due there)
    assert scalar_steps(tmp_path / "run", "eval/mean_return") == [300, 600, 900, 1000]
    assert saves == [400, 800, 1000]
    assert scalar_steps(tmp_path / "run", "losses/updates") == [250, 500, 750, 1000]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["agent"]["updates"] == 500


def test_no_periodic_evaluation_or_checkpoint_when_switched_off(tmp_path, saves):
    metrics = train(tmp_path / "run", "train.eval_every=0", "train.checkpoint_every=0")
    assert metrics["global_step"] == 1000
    assert scalar_steps(tmp_path / "run", "eval/mean_return") == [1000]
    assert saves == [1000]


@pytest.mark.parametrize(("stop_return", "stop_step"), [(10.0, 300), (10.5, 1000)])
def test_training_stops_at_the_first_evaluation_reaching_stop_return(tmp_path, saves, stop_return, stop_step):
    metrics = train(tmp_path / "run", "train.eval_every=300", f"train.stop_return={stop_return}",
                    "train.checkpoint_every=0")
    assert metrics["global_step"] == stop_step and metrics["reached_stop_return"] == (stop_step < 1000)
    assert scalar_steps(tmp_path / "run", "eval/mean_return")[-1] == stop_step
    assert saves == [stop_step]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["agent"]["updates"] == stop_step // 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_checkpoints_at_once_and_resume_continues(tmp_path, saves, signum):
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as interrupted:
        train(run_dir, "train.eval_every=200", "train.checkpoint_every=0", "agent.signal_at=500",
              f"agent.signal={signal.Signals(signum).name}")
    assert interrupted.value.signum == signum and f"rlp train --resume {run_dir}" in str(interrupted.value)
    assert saves == [500]
    saved = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert saved["global_step"] == 500 and saved["agent"]["updates"] == 250 and saved["num_evals"] == 2
    assert not (run_dir / "metrics.json").exists()

    metrics = train(run_dir, resume=True)
    assert metrics["global_step"] == 1000 and metrics["resumes"][0]["from_step"] == 500
    assert load_checkpoint(run_dir / "checkpoints" / "latest.pt")["agent"]["updates"] == 500
    assert scalar_steps(run_dir, "eval/mean_return") == [200, 400, 600, 800, 1000]
    assert json.loads((run_dir / "metrics.json").read_text())["global_step"] == 1000


def test_a_failure_checkpoints_and_says_how_to_resume(tmp_path, saves):
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingFailed, match="toy failure at step 600") as failed:
        train(run_dir, "train.eval_every=0", "train.checkpoint_every=0", "agent.fail_at=600")
    assert f"rlp train --resume {run_dir}" in str(failed.value)
    assert saves == [600]
    assert load_checkpoint(run_dir / "checkpoints" / "latest.pt")["agent"]["updates"] == 300
