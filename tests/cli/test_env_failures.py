"""Env failures and env ids as a user meets them: late failures, envs in the current folder, `rlp list`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import REPO_ROOT

SHAPE_SHIFT = ["env.id=tests.user_envs:ShapeShiftingEnv", "env.num_envs=2", "train.total_steps=5000",
               "train.eval_every=0", "train.eval_episodes=2", "agent.learning_starts=100"]
REPO_ON_PATH = {"PYTHONPATH": str(REPO_ROOT)}


def test_a_late_env_failure_is_a_clear_error_and_leaves_no_run_directory(run_rlp, tmp_path):
    result = run_rlp("train", *SHAPE_SHIFT, "train.checkpoint_every=0", env=REPO_ON_PATH)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "env 'tests.user_envs:ShapeShiftingEnv' failed in step at vector step" in result.stderr
    assert "does not fit its observation_space Box(-1.0, 1.0, (4,), float32)" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_late_env_failure_keeps_the_run_when_it_has_a_checkpoint(run_rlp, tmp_path):
    result = run_rlp("train", *SHAPE_SHIFT, "train.checkpoint_every=100", "--run-dir", "run", env=REPO_ON_PATH)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").is_file()


def test_an_env_that_raises_mid_run_names_the_step_and_where(run_rlp):
    result = run_rlp("train", "env.id=tests.user_envs:CrashingEnv", "env.num_envs=1", "train.total_steps=5000",
                     "train.eval_every=0", "train.checkpoint_every=0", env=REPO_ON_PATH)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "RuntimeError: the simulator lost its licence" in result.stderr
    assert "env 'tests.user_envs:CrashingEnv' failed in step at vector step" in result.stderr
    assert "(raised at " in result.stderr and "user_envs.py" in result.stderr and "in step)" in result.stderr


def rlp_script() -> str:
    """The installed `rlp` console script (unlike `python -m`, it does not put the current folder on sys.path)."""
    return str(Path(sys.executable).with_name("rlp"))


def test_a_factory_in_the_current_folder_is_found(tmp_path):
    (tmp_path / "myenv.py").write_text(
        "from tests_user_env_copy import GoodEnv\n\ndef make():\n    return GoodEnv()\n")
    (tmp_path / "tests_user_env_copy.py").write_text((REPO_ROOT / "tests" / "user_envs.py").read_text())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([rlp_script(), "train", "env.id=myenv:make", "train.total_steps=500", "train.eval_every=0",
                             "train.eval_episodes=2", "agent.learning_starts=100", "--run-dir", "run", "--quiet"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["global_step"] >= 500


def test_a_missing_factory_module_says_where_it_was_looked_for(run_rlp, tmp_path):
    result = run_rlp("train", "env.id=nosuchenv:make")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "current directory" in result.stderr and "PYTHONPATH" in result.stderr


def test_list_shows_buildable_envs_and_says_what_the_others_need(run_rlp):
    listed = run_rlp("list")
    assert listed.returncode == 0, listed.stderr
    main, _, _ = listed.stdout.partition("cannot be built here")
    assert "rlp/CartPole-v1" in main and "CartPole-v1" in main
    assert "Ant-v2 " not in main + " " and "Blackjack-v1" not in main and "GymV26Environment-v0" not in main
    full = run_rlp("list", "--all")
    lines = {line.split()[0]: line for line in full.stdout.splitlines()[1:] if line.startswith("  ") and
             len(line.split()) > 1 and "/" not in line.split()[0][:0]}
    assert "Tuple" in lines["Blackjack-v1"] and "no agent" in lines["Blackjack-v1"]
    assert "Ant-v2" in lines and "GymV26Environment-v0" in lines


def test_a_short_a3c_run_logs_its_episodes(run_rlp, tmp_path):
    result = run_rlp("train", "a3c_cartpole", "train.total_steps=6000", "train.eval_every=0", "log.log_every=100000",
                     "train.eval_episodes=2", "--run-dir", "run", "--quiet")
    assert result.returncode == 0, result.stderr
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    returns = events.Scalars("charts/episodic_return")
    lengths = events.Scalars("charts/episodic_length")
    assert returns and lengths and all(e.value > 0 for e in returns)


def test_an_env_that_cannot_be_built_here_leaves_no_run_directory(run_rlp, tmp_path):
    for env_id in ("Ant-v2", "GymV26Environment-v0"):
        result = run_rlp("train", f"env.id={env_id}")
        assert result.returncode == 2, result.stderr
        assert f"cannot make '{env_id}'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
