"""Training in imagination end to end, as a user runs it (configs/dream_dqn_cartpole.yaml's recipe at a tiny
budget): `rlp collect` random CartPole data, `rlp pretrain` a world model on it, `rlp train` DQN inside
rlp/WorldModel-v0 with the greedy evaluations in the real env (train.eval_env), then `rlp eval` of that run.

The real env's reward is exactly 1 per step, the model's a regression output near 1, so whole-number returns
say an episode ran in the real env and fractional ones that it ran in the model."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform import cli
from rl_platform.world_model_env import WorldModelEnv, WorldModelVectorEnv
from tests.conftest import CONFIGS

DATASET = "test/cartpole-random-v0"
TINY_DQN = ["env.kwargs.max_episode_steps=50", "train.total_steps=2000", "train.eval_every=1000",
            "train.eval_episodes=4", "train.checkpoint_every=0", "agent.learning_starts=200", "log.log_every=100"]


@pytest.fixture(scope="module")
def model_run(tmp_path_factory) -> Path:
    """A world model (mlp, 300 gradient steps) of 2,000 random-policy CartPole transitions; datasets in a temp
    MINARI_DATASETS_PATH for the whole module."""
    root = tmp_path_factory.mktemp("dream")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(root / "datasets"))
        assert cli.main(["collect", "--policy", "random", "--env", "rlp/CartPole-v1", "--num-envs", "8", "--steps",
                         "2000", "--out", DATASET, "--seed", "0"]) == 0
        assert cli.main(["pretrain", str(CONFIGS / "bc_cartpole.yaml"), f"pretrain.dataset={DATASET}",
                         "pretrain.objective=world_model", "pretrain.objective.model=mlp",
                         "pretrain.objective.model.hidden_sizes=[32,32]", "pretrain.steps=300",
                         "pretrain.validate_every=0", "train.eval_episodes=1", "train.checkpoint_every=0",
                         "--run-dir", str(root / "model"), "--quiet"]) == 0
        yield root / "model"


@pytest.fixture
def datasets(model_run, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(model_run.parent / "datasets"))


def test_dqn_trains_inside_the_model_and_is_evaluated_in_the_real_env(model_run, datasets, tmp_path, capsys,
                                                                      one_torch_thread):
    run_dir = tmp_path / "dream"
    assert cli.main(["train", str(CONFIGS / "dream_dqn_cartpole.yaml"), f"env.kwargs.run={model_run}", *TINY_DQN,
                     "--run-dir", str(run_dir), "--quiet"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["global_step"] == 2000 and metrics["eval_env"] == "rlp/CartPole-v1"
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    imagined = [event.value for event in events.Scalars("charts/episodic_return")]
    assert imagined and any(abs(value - round(value)) > 1e-4 for value in imagined)  # the model's rewards
    real = [event.value * 4 for event in events.Scalars("eval/mean_return")]  # 4 episodes per evaluation
    assert len(real) == 2 and all(abs(total - round(total)) < 1e-3 for total in real)

    capsys.readouterr()
    assert cli.main(["eval", str(run_dir), "--episodes", "3", "--checkpoint", "last", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["env"] == "rlp/CartPole-v1" and report["episodes"] == 3
    assert float(report["min_return"]).is_integer() and float(report["max_return"]).is_integer()


def test_the_world_model_env_of_a_run(model_run, datasets):
    env = gym.make("rlp/WorldModel-v0", run=str(model_run))
    assert isinstance(env.unwrapped, WorldModelEnv) and env.unwrapped.vector.max_episode_steps == 500
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity")  # CartPole's own unbounded velocities
        check_env(env.unwrapped, skip_render_check=True)
    envs = gym.make_vec("rlp/WorldModel-v0", num_envs=16, run=str(model_run), max_episode_steps=7)
    assert isinstance(envs, WorldModelVectorEnv) and envs.max_episode_steps == 7
    obs, _ = envs.reset(seed=0)
    starts = envs.reset_states.numpy()
    assert all((row == starts).all(axis=1).any() for row in obs)  # every episode starts at a dataset's first obs
    assert envs.single_observation_space == gym.make("rlp/CartPole-v1").observation_space


def test_the_dream_config_without_a_run_says_which_key(model_run, datasets, tmp_path, capsys):
    assert cli.main(["train", str(CONFIGS / "dream_dqn_cartpole.yaml"), *TINY_DQN, "--run-dir",
                     str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("rlp: error: config key 'env.kwargs.run': missing") and "\n" not in error


def test_an_eval_env_of_other_spaces_stops_the_run_before_training(model_run, datasets, tmp_path, capsys):
    assert cli.main(["train", str(CONFIGS / "dream_dqn_cartpole.yaml"), f"env.kwargs.run={model_run}",
                     "train.eval_env=rlp/Acrobot-v1", *TINY_DQN, "--run-dir", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert "config key 'train.eval_env': 'rlp/Acrobot-v1' has observation space" in error
    assert not (tmp_path / "r").exists()  # nothing was trained, no run directory left behind


def test_a_dataset_of_other_spaces_is_refused(model_run, datasets, tmp_path, capsys):
    assert cli.main(["collect", "--policy", "random", "--env", "rlp/Acrobot-v1", "--num-envs", "2", "--episodes",
                     "2", "--out", "test/acrobot-v0"]) == 0
    assert cli.main(["train", str(CONFIGS / "dream_dqn_cartpole.yaml"), f"env.kwargs.run={model_run}",
                     "env.kwargs.dataset=test/acrobot-v0", *TINY_DQN, "--run-dir", str(tmp_path / "r")]) == 2
    assert "config key 'env.kwargs.dataset': dataset 'test/acrobot-v0' has observation space" in \
        capsys.readouterr().err
