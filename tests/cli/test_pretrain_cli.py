"""`rlp pretrain` and `rlp probe` as a user runs them: a pretraining run is a run like any other (run directory,
checkpoints that `rlp eval` and `model.init_from` read, TensorBoard, resume, early stopping), and the mistakes a
user can make are one-line errors. The expert data is a hand-written CartPole controller (theta and its rate
decide), so no expert has to be trained first."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import rl_platform.envs  # noqa: F401 (registers rlp/CartPole-v1)
from rl_platform import cli, experiment
from rl_platform.checkpoint import load_checkpoint
from rl_platform.datasets import Episode, write_episodes
from tests.conftest import rlp_command

DATASET = "test/cartpole-expert-v0"
EXPERT_WEIGHTS = np.array([0.1, 0.5, 10.0, 2.0])  # push right when x, x', theta, theta' say so: balances 500 steps
QUICK = ["train.eval_episodes=2", "train.checkpoint_every=0", "train.stop_return=null", "log.log_every=10",
         "pretrain.validate_every=20"]


def expert_episodes(count: int) -> list[Episode]:
    env = gym.make("rlp/CartPole-v1")
    episodes = []
    for seed in range(count):
        obs, _ = env.reset(seed=seed)
        observations, actions = [obs], []
        terminated = truncated = False
        while not (terminated or truncated):
            actions.append(int(obs @ EXPERT_WEIGHTS > 0))
            obs, _, terminated, truncated, _ = env.step(actions[-1])
            observations.append(obs)
        steps = len(actions)
        episodes.append(Episode(np.array(observations), np.array(actions), np.ones(steps),
                                np.eye(1, steps, steps - 1, dtype=bool)[0] & terminated,
                                np.eye(1, steps, steps - 1, dtype=bool)[0] & truncated, seed))
    env.close()
    return episodes


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    """MINARI_DATASETS_PATH for this module, holding 6 expert episodes (3,000 transitions)."""
    root = tmp_path_factory.mktemp("datasets")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(root))
        env = gym.make("rlp/CartPole-v1")
        write_episodes(DATASET, expert_episodes(6), env.observation_space, env.action_space, "rlp/CartPole-v1",
                       {"policy": "linear controller"})
        yield root


@pytest.fixture(autouse=True)
def dataset_path(datasets, monkeypatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(datasets))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bc_run(datasets, tmp_path_factory) -> Path:
    """`rlp pretrain configs/bc_cartpole.yaml` for 300 gradient steps (evaluations every 150), through the CLI."""
    run_dir = tmp_path_factory.mktemp("bc") / "run"
    args = ["pretrain", "bc_cartpole", f"pretrain.dataset={DATASET}", "pretrain.steps=300", "pretrain.lr=3e-3",
            "train.eval_every=150", *QUICK, "pretrain.validate_every=100", "--run-dir", str(run_dir), "--quiet"]
    done = subprocess.run(rlp_command(*args), capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MINARI_DATASETS_PATH": str(datasets)})
    assert done.returncode == 0, done.stderr
    return run_dir


def pretrain(run_dir: Path | None, config: str, *overrides: str) -> dict:
    cfg = experiment.load_experiment(config, [f"pretrain.dataset={DATASET}", *QUICK, *overrides])
    return experiment.pretrain(cfg, run_dir, quiet=True, overrides=list(overrides))


def tags(run_dir: Path) -> dict[str, list[int]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [event.step for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def model_state(run_dir: Path, checkpoint: str = "latest.pt") -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / checkpoint)["model"]


def assert_same(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor], prefix: str = "") -> None:
    keys = [key for key in left if key.startswith(prefix)]
    assert keys and all(torch.equal(left[key], right[key]) for key in keys)


# -- a bc run -----------------------------------------------------------------------------------


def test_bc_run_writes_a_run_directory_with_counts_in_gradient_steps(bc_run):
    metrics = json.loads((bc_run / "metrics.json").read_text())
    assert metrics["global_step"] == 300 and metrics["pretrain"]["objective"] == "bc"
    assert metrics["pretrain"]["train_episodes"] == 5 and metrics["pretrain"]["val_episodes"] == 1
    assert metrics["pretrain"]["final_val"]["accuracy"] > 0.85  # greedy = argmax Q = the expert's action (chance: 0.5)
    config = (bc_run / "config.yaml").read_text()
    assert "pretrain:\n  dataset: test/cartpole-expert-v0\n  objective:\n    name: bc\n  steps: 300" in config
    assert "total_steps: 300" in config
    state = load_checkpoint(bc_run / "checkpoints" / "latest.pt")
    assert {"agent", "model", "objective", "optimizers", "pretrain"} <= set(state)
    assert set(state["model"]) == set(state["agent"]["q_network"]) == set(state["agent"]["target_network"])
    assert_same(state["model"], state["agent"]["target_network"])  # the target network follows the online one
    logged = tags(bc_run)
    assert logged["pretrain/bc_loss"] == logged["pretrain/accuracy"] == list(range(10, 301, 10))
    assert logged["pretrain/val_loss"] == logged["pretrain/val_accuracy"] == [100, 200, 300]
    assert logged["eval/mean_return"] == [150, 300]


def test_rlp_eval_evaluates_the_cloned_policy(bc_run, capsys):
    assert cli.main(["eval", str(bc_run), "--episodes", "3", "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["episodes"] == 3 and evaluation["checkpoint"] == "best"
    best = json.loads((bc_run / "metrics.json").read_text())["best"]
    assert evaluation["checkpoint_step"] == best["global_step"]


def test_dqn_initialised_from_a_pretraining_run_starts_from_its_encoder(bc_run, tmp_path):
    """No gradient step (learning_starts beyond the budget): what the DQN run saves is what it loaded."""
    source = model_state(bc_run, "best.pt")  # a run directory gives its best checkpoint
    dqn = ["train.total_steps=40", "agent.learning_starts=1000", "train.eval_every=0", "train.eval_episodes=2",
           "train.checkpoint_every=0"]
    experiment.train(experiment.load_experiment("dqn_cartpole", [*dqn, f"model.init_from={bc_run}",
                                                                 "model.init_modules=[encoder]"]),
                     tmp_path / "encoder_only", quiet=True)
    started = model_state(tmp_path / "encoder_only")
    assert_same(started, source, "encoder.")
    assert not torch.equal(started["head.linear.weight"], source["head.linear.weight"])
    experiment.train(experiment.load_experiment("dqn_cartpole", [*dqn, f"model.init_from={bc_run}"]),
                     tmp_path / "whole", quiet=True)
    assert_same(model_state(tmp_path / "whole"), source)


def test_rlp_probe_reads_the_expert_action_off_the_cloned_encoder(bc_run, capsys):
    assert cli.main(["probe", str(bc_run), "--dataset", DATASET, "--json"]) == 0
    probe = json.loads(capsys.readouterr().out)
    assert set(probe["probes"]) == {"action"}  # CartPole's reward is always 1: nothing to probe
    action = probe["probes"]["action"]
    assert action["metric"] == "accuracy" and action["pretrained"] > 0.8 and 0.5 < action["random"] <= 1.0
    assert probe["features"] == 64 and probe["test_episodes"] + probe["train_episodes"] == 6
    assert cli.main(["probe", str(bc_run), "--dataset", DATASET]) == 0
    table = capsys.readouterr().out
    assert re.search(r"action\s+accuracy\s+0\.[89]\d\d\s+0\.\d{3}\s+0\.\d{3}", table), table


# -- other objectives, agents, budgets -------------------------------------------------------------


def test_a3c_pretrains_its_actor_and_a2c_loads_the_actor_encoder(tmp_path):
    pretrain(tmp_path / "pre", "a3c_cartpole", "pretrain.objective=inverse", "pretrain.steps=20",
             "pretrain.objective.hidden_sizes=[16]")
    source = model_state(tmp_path / "pre")
    experiment.train(experiment.load_experiment("a3c_cartpole", [
        "agent.mode=sync", "train.total_steps=8", "train.eval_every=0", "train.eval_episodes=2",
        "train.checkpoint_every=0", "agent.lr=1e-12", f"model.init_from={tmp_path / 'pre'}",
        "model.init_modules=[actor_encoder]", "model.freeze=[actor_encoder]"]), tmp_path / "a2c", quiet=True)
    assert_same(model_state(tmp_path / "a2c"), source, "actor_encoder.")


def test_self_supervised_objectives_evaluate_only_at_the_end_and_name_the_run(tmp_path):
    metrics = pretrain(None, "bc_cartpole", f"log.dir={tmp_path}", "seed=3", "pretrain.objective=contrastive",
                       "pretrain.objective.offset=5", "pretrain.steps=30", "pretrain.batch_size=64")
    (run_dir,) = tmp_path.iterdir()
    assert re.fullmatch(r"rlp-CartPole-v1__pretrain-contrastive__3__\d{8}-\d{6}__objective=contrastive,offset=5,"
                        r"steps=30,batch_size=64", run_dir.name)
    assert "eval_every: 0" in (run_dir / "config.yaml").read_text()
    logged = tags(run_dir)
    assert logged["eval/mean_return"] == [30] and logged["pretrain/val_contrastive_loss"] == [20, 30]
    assert metrics["pretrain"]["final_val"]["accuracy"] >= 0
    assert set(load_checkpoint(run_dir / "checkpoints" / "latest.pt")["objective"]) == {"projection.weight",
                                                                                       "projection.bias"}


def test_epochs_set_total_steps_from_the_training_split(tmp_path):
    pretrain(tmp_path / "run", "bc_cartpole", "pretrain.steps=null", "pretrain.epochs=1", "pretrain.batch_size=256",
             "train.eval_every=0")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["global_step"] == 10  # 5 training episodes x 500 steps / 256, rounded up


def test_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    dynamics = ["pretrain.objective=dynamics", "pretrain.objective.hidden_sizes=[16]", "pretrain.batch_size=32"]
    pretrain(tmp_path / "straight", "bc_cartpole", *dynamics, "pretrain.steps=40")
    pretrain(tmp_path / "resumed", "bc_cartpole", *dynamics, "pretrain.steps=20")
    cfg = experiment.resume_config(tmp_path / "resumed", ["train.total_steps=40"])
    metrics = experiment.pretrain(cfg, tmp_path / "resumed", quiet=True, resume=True)
    assert metrics["global_step"] == 40
    straight, resumed = (load_checkpoint(tmp_path / name / "checkpoints" / "latest.pt") for name in ("straight",
                                                                                                      "resumed"))
    assert_same(resumed["model"], straight["model"])
    assert_same(resumed["objective"], straight["objective"])
    with pytest.raises(experiment.RunFinished, match="rlp pretrain --resume"):
        experiment.pretrain(experiment.resume_config(tmp_path / "resumed"), tmp_path / "resumed", quiet=True,
                            resume=True)


def test_sigint_checkpoints_and_the_run_resumes_with_rlp_pretrain(tmp_path, datasets):
    args = ["pretrain", "bc_cartpole", f"pretrain.dataset={DATASET}", "pretrain.objective=dynamics",
            "pretrain.objective.hidden_sizes=[16]", "pretrain.steps=1000000", *QUICK, "--run-dir", "run"]
    process = subprocess.Popen(rlp_command(*args), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "MINARI_DATASETS_PATH": str(datasets)})
    deadline = time.monotonic() + 60
    while not list((tmp_path / "run").glob("events.out.tfevents.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # a few hundred gradient steps
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert f"continue with `rlp pretrain --resume {Path('run')}`" in stderr and "Traceback" not in stderr
    step = int(load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["global_step"])
    assert step > 0
    cfg = experiment.resume_config(tmp_path / "run", [f"train.total_steps={step + 20}"])
    assert experiment.pretrain(cfg, tmp_path / "run", quiet=True, resume=True)["global_step"] == step + 20


def test_early_stopping_keeps_the_best_validation_weights(tmp_path):
    """min_delta so large that no validation after the first improves: patience 2 stops at the third."""
    stopping = ["pretrain.validate_every=10", "pretrain.patience=2", "pretrain.min_delta=1e9", "train.eval_every=0"]
    metrics = pretrain(tmp_path / "stopped", "bc_cartpole", *stopping, "pretrain.steps=100")
    assert metrics["global_step"] == 30
    assert metrics["pretrain"]["stopped_early"] and metrics["pretrain"]["restored_step"] == 10
    pretrain(tmp_path / "ten", "bc_cartpole", "pretrain.validate_every=10", "train.eval_every=0", "pretrain.steps=10")
    assert_same(model_state(tmp_path / "stopped"), model_state(tmp_path / "ten"))


# -- mistakes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["train", "bc_cartpole"], "this config has a `pretrain:` section (it trains on a dataset, not in the env): "
                               "run it with `rlp pretrain`."),
    (["pretrain", "dqn_cartpole"], "this config has no `pretrain:` section, so there is nothing to pretrain"),
    (["pretrain", "bc_cartpole", "pretrain.dataset=null"], "config key 'pretrain.dataset': missing"),
    (["pretrain", "bc_cartpole", "pretrain.epochs=2"],
     "config key 'pretrain.steps': set exactly one of pretrain.steps and pretrain.epochs (both are set)."),
    (["pretrain", "bc_cartpole", "pretrain.objective=contrastive", "pretrain.objective.offest=2"],
     "config key 'pretrain.objective.offest': unknown option of the 'contrastive' objective. Did you mean 'offset'?"),
    (["pretrain", "bc_cartpole", "pretrain.objective=byol"], "config key 'pretrain.objective': unknown objective"),
    (["pretrain", "bc_cartpole", f"pretrain.dataset={DATASET}", "env.id=MountainCar-v0"],
     f"dataset '{DATASET}': its observation space"),
    (["pretrain", "bc_cartpole", "pretrain.dataset=test/missing-v0"], "dataset 'test/missing-v0': not found"),
])
def test_mistakes_are_one_line_errors(args, message, capsys, tmp_path):
    assert cli.main([*args, f"log.dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlp: error: ") and message in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())  # no run directory left behind


@pytest.mark.parametrize(("model", "next_obs_figure"), [("mlp", "next_obs"), ("ensemble", "next_obs_mse")])
def test_world_model_objective_trains_its_model_and_leaves_the_network(tmp_path, model, next_obs_figure):
    """`pretrain.objective: {name: world_model, model: ...}`: the model (with its normaliser statistics) is in the
    checkpoint's objective entry, its held-out next-observation error falls, and the agent's network is
    untouched."""
    run_dir = tmp_path / "run"
    metrics = pretrain(run_dir, "bc_cartpole", "pretrain.objective=world_model", f"pretrain.objective.model={model}",
                       "pretrain.objective.model.hidden_sizes=[64,64]", "pretrain.steps=400", "pretrain.lr=3e-3")
    assert metrics["pretrain"]["objective"] == "world_model"
    objective = load_checkpoint(run_dir / "checkpoints" / "latest.pt")["objective"]
    assert {"model.norm.obs.mean", "model.norm.delta.std"} <= set(objective)
    assert not torch.equal(objective["model.norm.obs.std"], torch.ones(4))  # fitted on the training split
    assert tags(run_dir)["pretrain/val_world_model_loss"] == [20 * k for k in range(1, 21)]
    events = EventAccumulator(str(run_dir))
    events.Reload()
    errors = [event.value for event in events.Scalars(f"pretrain/val_{next_obs_figure}")]
    assert min(errors) < 0.2 * errors[0], errors  # normalised units: 1 is the state change's own variance
    pretrain(tmp_path / "one_step", "bc_cartpole", "pretrain.objective=world_model", "pretrain.steps=1")
    assert_same(model_state(tmp_path / "one_step"), model_state(run_dir))  # same seed: the network never moved


def test_rlp_model_eval_reports_open_loop_errors_of_a_world_model(tmp_path, capsys):
    """An mlp model trained on random-policy CartPole data (the states model-eval starts from) beats "no change"
    at one step; errors grow with the open-loop horizon. (Trained on the expert data, it does not: a balanced
    pole's states are not where a random policy goes.)"""
    from rl_platform.collect import collect

    collect("test/cartpole-random-v0", policy="random", env_id="rlp/CartPole-v1", num_envs=16, steps=6000, seed=5)
    run_dir = tmp_path / "run"
    pretrain(run_dir, "bc_cartpole", "pretrain.dataset=test/cartpole-random-v0", "pretrain.objective=world_model",
             "pretrain.objective.model.hidden_sizes=[64,64]", "pretrain.steps=600", "pretrain.lr=3e-3")
    assert cli.main(["model-eval", str(run_dir), "--horizon", "5", "--num-envs", "64", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "mlp" and result["env"] == "rlp/CartPole-v1" and len(result["mse"]) == 5
    assert result["one_step_mse"] < 0.2 * result["no_change_mse"][0], result
    assert result["mse"][4] > result["mse"][0]
    assert result["compared"][0] == 64 and result["compared"][4] <= 64
    assert cli.main(["model-eval", str(run_dir), "--horizon", "3", "--num-envs", "8"]) == 0
    assert "step | model mse | no-change mse" in capsys.readouterr().out


def test_rlp_model_eval_of_a_run_without_a_world_model_is_a_one_line_error(bc_run, capsys):
    assert cli.main(["model-eval", str(bc_run)]) == 2
    error = capsys.readouterr().err
    assert "has no world model: it is a pretraining run of objective 'bc'" in error
    assert "pretrain.objective=world_model" in error
    assert cli.main(["model-eval", str(bc_run), "--horizon", "0"]) == 2


def test_a_non_finite_loss_stops_with_a_checkpoint_of_the_last_finite_weights(tmp_path, monkeypatch):
    """The 7th gradient step's world-model loss is NaN: the run stops before it touches the weights, naming the
    loss and the step, and its checkpoint holds the weights of step 6 under step 6."""
    from rl_platform.errors import TrainingFailed
    from rl_platform.objectives.world_model import WorldModelObjective

    original, calls = WorldModelObjective.loss, []

    def nan_on_the_seventh(self, batch):
        loss, figures = original(self, batch)
        calls.append(1)
        if len(calls) == 7:
            return loss * float("nan"), {**figures, "next_obs": float("nan")}
        return loss, figures

    monkeypatch.setattr(WorldModelObjective, "loss", nan_on_the_seventh)
    with pytest.raises(TrainingFailed, match=r"the next_obs loss is nan at gradient step 7; the weights of step 6"):
        pretrain(tmp_path / "run", "bc_cartpole", "pretrain.objective=world_model", "pretrain.steps=50",
                 "pretrain.validate_every=0")
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert checkpoint["global_step"] == 6
    assert all(torch.isfinite(value).all() for value in checkpoint["objective"].values())
    monkeypatch.setattr(WorldModelObjective, "loss", original)
    calls.clear()
    pretrain(tmp_path / "six", "bc_cartpole", "pretrain.objective=world_model", "pretrain.steps=6",
             "pretrain.validate_every=0")
    six = load_checkpoint(tmp_path / "six" / "checkpoints" / "latest.pt")["objective"]
    assert all(torch.equal(six[key], checkpoint["objective"][key]) for key in six)  # the same 6 steps
