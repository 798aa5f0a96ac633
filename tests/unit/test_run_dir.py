"""Run directories: names, uniqueness, refusal to reuse, and what a resume may change."""

from __future__ import annotations

import pytest

from rl_platform import experiment
from rl_platform.errors import ConfigError, UserError
from rl_platform.run_dir import (
    claim_run_dir,
    create_unique_dir,
    overrides_suffix,
    resume_changes,
    run_dir_name,
)


def test_overrides_suffix_names_the_experiment_overrides_only():
    overrides = ["agent.lr=1e-4", "env.num_envs=16", "seed=3", "train.total_steps=5000", "log.dir=x",
                 "agent.name=a3c", "model.hidden_sizes=[32, 32]"]
    assert overrides_suffix(overrides) == "lr=1e-4,num_envs=16,hidden_sizes=32-32"


def test_long_suffixes_are_cut_and_end_in_a_hash_of_the_whole():
    long_a = overrides_suffix([f"agent.k{i}={i}" for i in range(40)])
    long_b = overrides_suffix([f"agent.k{i}={i}" for i in range(41)])
    assert len(long_a) == len(long_b) == 60 and long_a[:50] == long_b[:50] and long_a != long_b


def test_run_name_has_env_agent_seed_time_and_overrides():
    name = run_dir_name("rlp/CartPole-v1", "a2c", 7, ["agent.lr=0.001"])
    env, agent, seed, timestamp, suffix = name.split("__")
    assert (env, agent, seed, suffix) == ("rlp-CartPole-v1", "a2c", "7", "lr=0.001") and len(timestamp) == 15


def test_a2c_and_a3c_runs_are_named_apart():
    labels = {mode: experiment.agent_label(experiment.load_experiment("a3c_cartpole", [f"agent.mode={mode}"]))
              for mode in ("sync", "async")}
    assert labels == {"sync": "a2c", "async": "a3c"}
    ray = experiment.load_experiment("a3c_cartpole", ["agent.backend=ray"])
    assert experiment.agent_label(ray) == "a3c-ray"
    assert experiment.agent_label(experiment.load_experiment(None)) == "dqn"


def test_the_same_name_twice_gets_two_directories(tmp_path):
    first = create_unique_dir(tmp_path / "runs", "run")
    second = create_unique_dir(tmp_path / "runs", "run")
    third = create_unique_dir(tmp_path / "runs", "run")
    assert [p.name for p in (first, second, third)] == ["run", "run-2", "run-3"]
    assert all(p.is_dir() for p in (first, second, third))


def test_claiming_an_existing_run_needs_overwrite(tmp_path):
    run = tmp_path / "run"
    assert claim_run_dir(run, overwrite=False) is True  # new
    (run / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(UserError, match="already holds a run.*--resume"):
        claim_run_dir(run, overwrite=False)
    assert (run / "config.yaml").is_file()
    assert claim_run_dir(run, overwrite=True) is True
    assert list(run.iterdir()) == []
    assert claim_run_dir(run, overwrite=False) is False  # empty: usable as it is


def test_overwrite_never_deletes_a_folder_that_holds_no_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds no run"):
        claim_run_dir(tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_resume_may_change_budgets_but_not_hyperparameters():
    saved = {"train.total_steps": 1000, "agent.lr": 0.001, "train.eval_episodes": 20}
    assert resume_changes(saved, {**saved, "train.total_steps": 2000}) == {"train.total_steps": [1000, 2000]}
    assert resume_changes(saved, dict(saved)) == {}
    with pytest.raises(ConfigError, match="agent.lr.*cannot be changed when resuming"):
        resume_changes(saved, {**saved, "agent.lr": 1e-4})
