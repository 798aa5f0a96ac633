"""Runs never share a directory, resume only what is left, keep their best policy, and say where they are."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_platform import experiment
from rl_platform.checkpoint import load_checkpoint
from tests import toy_agent
from tests.conftest import rlp_command

TAXI = ["train.total_steps=20000", "train.eval_every=10000", "train.eval_episodes=5", "--quiet"]
TINY_DQN = ["train.total_steps=2000", "train.eval_every=1000", "train.eval_episodes=3",
            "agent.learning_starts=500"]


def event_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("events.out.tfevents.*"))


def test_runs_started_together_get_their_own_directories(tmp_path):
    commands = [["tabular_q_taxi", *TAXI], ["tabular_q_taxi", *TAXI], ["tabular_q_taxi", "agent.lr=0.2", *TAXI]]
    processes = [subprocess.Popen(rlp_command("train", *args), cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for args in commands]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 3
    for run_dir in runs:
        assert len(event_files(run_dir)) == 1
        assert (run_dir / "checkpoints" / "latest.pt").is_file()
        assert json.loads((run_dir / "metrics.json").read_text())["global_step"] == 20000
    config_lr = experiment.load_experiment("tabular_q_taxi").agent.lr
    assert sorted(experiment.resume_config(r).agent.lr for r in runs) == sorted([0.2, config_lr, config_lr])
    assert sum(r.name.endswith("__lr=0.2") for r in runs) == 1
    printed = {line.rsplit("run directory ", 1)[1] for _, err in outputs for line in err.splitlines()
               if "run directory" in line}
    assert {str(Path("runs") / r.name) for r in runs} == printed  # --quiet still says where each run went


def test_run_dir_holding_a_run_is_refused_unless_overwrite(run_rlp, tmp_path):
    assert run_rlp("train", *TINY_DQN, "--run-dir", "run", "--quiet").returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*")}
    again = run_rlp("train", *TINY_DQN, "agent.lr=1e-4", "--run-dir", "run")
    assert again.returncode == 2 and "already holds a run" in again.stderr and "--resume" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*")} == before
    replaced = run_rlp("train", *TINY_DQN, "agent.lr=1e-4", "--run-dir", "run", "--overwrite", "--quiet")
    assert replaced.returncode == 0, replaced.stderr
    assert experiment.resume_config(tmp_path / "run").agent.lr == 1e-4
    assert len(event_files(tmp_path / "run")) == 1  # the old curves are gone, not mixed in


def test_resume_of_a_finished_run_changes_nothing(run_rlp, tmp_path):
    assert run_rlp("train", *TINY_DQN, "--run-dir", "run", "--quiet").returncode == 0
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    before = {p: p.read_bytes() for p in files}
    plain = run_rlp("train", "--resume", "run")
    assert plain.returncode == 0 and "is finished" in plain.stderr and "train.total_steps" in plain.stderr
    with_override = run_rlp("train", "--resume", "run", "agent.lr=1e-4")
    assert with_override.returncode == 2 and "agent.lr" in with_override.stderr
    evals_only = run_rlp("train", "--resume", "run", "train.eval_episodes=50")
    assert evals_only.returncode == 2 and "is finished" in evals_only.stderr
    assert {p: p.read_bytes() for p in files} == before
    assert sorted(p for p in (tmp_path / "run").rglob("*") if p.is_file()) == sorted(files)


def test_resume_with_more_steps_is_recorded(run_rlp, tmp_path):
    assert run_rlp("train", *TINY_DQN, "--run-dir", "run", "--quiet").returncode == 0
    resumed = run_rlp("train", "--resume", "run", "train.total_steps=3000", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["global_step"] == 3000
    (entry,) = metrics["resumes"]
    assert entry["from_step"] == 2000 and entry["changed"] == {"train.total_steps": [2000, 3000]}
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["overrides"] == TINY_DQN and info["resumes"] == metrics["resumes"]
    assert experiment.resume_config(tmp_path / "run").train.total_steps == 3000


def test_quiet_prints_only_the_run_directory_and_the_final_metrics(run_rlp, tmp_path):
    result = run_rlp("train", *TINY_DQN, "--run-dir", "run", "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["global_step"] == 2000
    (line,) = result.stderr.splitlines()
    assert line.startswith("done: 2,000 steps") and line.endswith("run directory run")


def test_switching_agent_drops_the_config_agent_section_with_a_note(run_rlp, tmp_path):
    result = run_rlp("train", "agent.name=a3c", "agent.mode=sync", "train.total_steps=2000",
                     "train.eval_every=0", "train.eval_episodes=2", "--run-dir", "run")
    assert result.returncode == 0, result.stderr
    assert "note: agent 'a3c' replaces the config's 'dqn'" in result.stderr and "buffer_size" in result.stderr
    cfg = experiment.resume_config(tmp_path / "run")
    assert cfg.agent_name == "a3c" and cfg.agent.lr == 7e-4  # a3c's default, not the dqn config's


def test_a_mistyped_bundled_config_gets_a_did_you_mean(run_rlp):
    result = run_rlp("train", "dqn_cartpol")
    assert result.returncode == 2 and "Did you mean 'dqn_cartpole'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_chooses_the_best_or_the_last_checkpoint(run_rlp, tmp_path):
    assert run_rlp("train", *TINY_DQN, "--run-dir", "run", "--quiet").returncode == 0
    for which in ("best", "last"):
        result = run_rlp("eval", "run", "--episodes", "2", "--json", "--checkpoint", which)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["checkpoint"] == which
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert best["global_step"] == metrics["best"]["global_step"]
    assert best["mean_return"] == metrics["best"]["mean_return"] >= metrics["mean_return"]


@pytest.fixture
def toy():
    toy_agent.register()


def test_best_checkpoint_keeps_the_policy_of_the_best_evaluation(toy, tmp_path):
    """The toy policy scores 10 until step 1000, then 0: best is from step 1000, last from 3000."""
    cfg = experiment.load_experiment(None, ["agent.name=toy_regress", f"env.id={toy_agent.ENV}", "env.num_envs=2",
                                            "train.total_steps=3000", "train.eval_every=500",
                                            "train.eval_episodes=4", "agent.good_steps=1000"])
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    assert metrics["mean_return"] == 0.0 and metrics["global_step"] == 3000
    assert metrics["best"] == {"mean_return": 10.0, "std_return": 0.0, "episodes": 4, "global_step": 500}
    best = experiment.evaluate_run(tmp_path / "run", episodes=4, checkpoint="best")
    last = experiment.evaluate_run(tmp_path / "run", episodes=4, checkpoint="last")
    assert (best["mean_return"], best["checkpoint_step"]) == (metrics["best"]["mean_return"], 500)
    assert (last["mean_return"], last["checkpoint_step"]) == (metrics["mean_return"], 3000)


def test_stop_return_must_hold_on_fresh_episodes(toy, tmp_path):
    """On FadingEnv a 3-episode evaluation of the always-1 policy gives 10, a 30-episode one 1.0."""
    base = ["agent.name=toy_regress", "env.id=tests.user_envs:FadingEnv", "env.num_envs=3",
            "train.total_steps=3000", "train.eval_every=600", "train.eval_episodes=3", "agent.good_steps=10000",
            "train.stop_return=5"]
    unconfirmed = experiment.train(experiment.load_experiment(None, [*base, "train.stop_confirm_episodes=30"]),
                                   tmp_path / "confirm", quiet=True)
    assert unconfirmed["global_step"] == 3000 and not unconfirmed["reached_stop_return"]
    assert unconfirmed["mean_return"] == pytest.approx(1.0) and unconfirmed["eval_episodes"] == 30
    events = EventAccumulator(str(tmp_path / "confirm"))
    events.Reload()
    assert [e.step for e in events.Scalars("eval/confirmed_return")] == [600, 1200, 1800, 2400, 3000]
    assert {e.value for e in events.Scalars("eval/mean_return")} == {10.0}

    unchecked = experiment.train(experiment.load_experiment(None, [*base, "train.stop_confirm_episodes=0"]),
                                 tmp_path / "no_confirm", quiet=True)
    assert unchecked["global_step"] == 600 and unchecked["reached_stop_return"]
    assert unchecked["mean_return"] == 10.0


def test_a_resumed_run_keeps_its_best_checkpoint(toy, tmp_path):
    cfg = experiment.load_experiment(None, ["agent.name=toy_regress", f"env.id={toy_agent.ENV}", "env.num_envs=2",
                                            "train.total_steps=2000", "train.eval_every=500",
                                            "train.eval_episodes=4", "agent.good_steps=1000"])
    experiment.train(cfg, tmp_path / "run", quiet=True)
    best_file = tmp_path / "run" / "checkpoints" / "best.pt"
    before = best_file.read_bytes()
    resumed = experiment.train(experiment.resume_config(tmp_path / "run", ["train.total_steps=3000"]),
                               tmp_path / "run", quiet=True, resume=True)
    assert resumed["global_step"] == 3000 and resumed["mean_return"] == 0.0
    assert resumed["best"]["global_step"] == 500 and resumed["best"]["mean_return"] == 10.0
    assert best_file.read_bytes() == before  # later, worse evaluations did not replace it
