"""`rlp collect`: a trained run's greedy episodes, random actions or a user's function, cut into complete
episodes whose every transition is CartPole's physics (true final observations at truncations included) and
whose returns are the env's; every bad input is one message, exit code 2 and nothing written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_platform import experiment, rollout
from rl_platform.checkpoint import load_checkpoint
from rl_platform.cli import main
from rl_platform.datasets import Transitions, load_transitions
from rl_platform.env_factory import make_vector_env
from rl_platform.registry import AGENTS

MAX_STEPS = 12  # the trained run's env truncates CartPole episodes here
POLICY_MODULE = '''
import numpy as np

def lean(obs):
    """Push the cart the way the pole leans."""
    return (obs[:, 2] > 0).astype(np.int64)

def left(obs):
    return np.zeros(len(obs), dtype=np.int64)

def scalar(obs):
    return 0
'''


@pytest.fixture(autouse=True)
def dataset_root(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "datasets"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


@pytest.fixture
def policy_module(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "mypolicy.py").write_text(POLICY_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("run") / "dqn"
    overrides = ["train.total_steps=400", "train.eval_every=0", "train.eval_episodes=2", "train.checkpoint_every=0",
                 "env.num_envs=4", "agent.learning_starts=128", "agent.train_freq=1",
                 f"env.kwargs.max_episode_steps={MAX_STEPS}"]
    experiment.train(experiment.load_experiment("dqn_cartpole", overrides), run_dir, quiet=True)
    return run_dir


def collect(capsys, *args: str) -> dict:
    """`rlp collect ARGS --json`'s result, with what it printed to stderr under "stderr"."""
    assert main(["collect", *args, "--json"]) == 0
    printed = capsys.readouterr()
    return {**json.loads(printed.out), "stderr": printed.err}


def assert_cartpole_physics(data: Transitions, max_steps: int) -> None:
    """Every transition is Gymnasium's CartPole step from obs with the action; each episode ends exactly once,
    terminated where the physics says so, else truncated at `max_steps`."""
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    for t in range(len(data)):
        env.state, env.steps_beyond_terminated = data.obs[t].astype(np.float64), None
        next_obs, reward, terminated, _, _ = env.step(int(data.actions[t]))
        np.testing.assert_allclose(data.next_obs[t], next_obs, rtol=1e-5, atol=1e-5)
        assert data.terminations[t] == terminated and data.rewards[t] == reward
    ends = np.r_[data.episode_starts[1:], True]
    np.testing.assert_array_equal(data.terminations | data.truncations, ends)
    lengths = np.bincount(data.episode_ids)
    np.testing.assert_array_equal(lengths[data.episode_ids[data.truncations]], max_steps)
    inside = ~data.episode_starts[1:]
    np.testing.assert_array_equal(data.obs[1:][inside], data.next_obs[:-1][inside])


def test_collect_from_a_run_keeps_its_greedy_actions_and_the_envs_episodes(trained_run, capsys, monkeypatch):
    returns_seen: list[float] = []
    step = rollout.VectorStepper.step

    def recording_step(self, actions):
        transitions = step(self, actions)
        returns_seen.extend(transitions.episode_returns.tolist())
        return transitions

    monkeypatch.setattr(rollout.VectorStepper, "step", recording_step)
    result = collect(capsys, "--from", str(trained_run), "--episodes", "10", "--num-envs", "3", "--out", "cp/dqn")
    data = load_transitions("cp/dqn-v0")
    assert data.num_episodes == result["episodes"] == 10 and len(data) == result["steps"]
    np.testing.assert_array_equal(data.episode_returns(), returns_seen[:10])  # the first ten to finish, in order
    assert_cartpole_physics(data, MAX_STEPS)
    cfg = experiment.resume_config(trained_run)
    envs = make_vector_env(cfg.env, 1)
    agent = AGENTS.get("dqn").make_agent(cfg, envs, torch.device("cpu"))
    agent.load_state_dict(load_checkpoint(trained_run / "checkpoints" / "best.pt")["agent"])
    with torch.no_grad():
        greedy, _ = agent.act(data.obs, None, explore=False)
    np.testing.assert_array_equal(data.actions, greedy)
    rlp = data.metadata["rlp"]
    assert rlp["source"] == f"run:{trained_run}" and rlp["checkpoint"] == "best" and rlp["agent"] == "dqn"
    assert rlp["env_id"] == "rlp/CartPole-v1" and rlp["env_kwargs"] == {"max_episode_steps": MAX_STEPS}
    assert rlp["mean_return"] == pytest.approx(data.episode_returns().mean())
    assert rlp["min_return"] == data.episode_returns().min() and rlp["epsilon"] == 0.0
    assert data.metadata["algorithm_name"] == "dqn" and "rl_platform_version" in rlp
    spec = gym.envs.registration.EnvSpec.from_json(data.metadata["env_spec"])
    assert spec.max_episode_steps == MAX_STEPS


def test_random_actions_end_episodes_both_ways_and_truncations_keep_true_final_observations(trained_run, capsys):
    """The run's greedy policy balances the pole for its 12 steps; at epsilon 1 every action is random."""
    collect(capsys, "--from", str(trained_run), "--episodes", "30", "--epsilon", "1", "--seed", "3",
            "--out", "cp/eps")
    data = load_transitions("cp/eps-v0")
    assert data.truncations.sum() >= 5 and data.terminations.sum() >= 5  # both ends occur
    assert_cartpole_physics(data, MAX_STEPS)


@pytest.mark.parametrize("env_id", ["rlp/CartPole-v1", "CartPole-v1"])  # same-step and next-step autoreset
def test_steps_budget_keeps_complete_episodes_reaching_it(env_id, capsys):
    result = collect(capsys, "--policy", "random", "--env", env_id, "--num-envs", "16", "--steps", "300",
                     "--out", "cp/random")
    data = load_transitions("cp/random-v0")
    lengths = np.bincount(data.episode_ids)
    assert len(data) >= 300 > len(data) - lengths[-1] and result["steps"] == len(data)
    assert_cartpole_physics(data, 500)
    assert result["source"] == "policy:random" and data.metadata["algorithm_name"] == "random"
    assert result["stderr"] == "rlp: note: --out 'cp/random' has no version suffix; writing 'cp/random-v0'.\n"


def test_a_module_function_policy_acts_on_the_batch_and_seeds_reproduce(capsys, policy_module):
    assert main(["collect", "--policy", "mypolicy:lean", "--env", "rlp/CartPole-v1", "--episodes", "6",
                 "--out", "cp/lean-v0"]) == 0
    data = load_transitions("cp/lean-v0")
    summary = capsys.readouterr().out.splitlines()
    assert len(summary) == 1 and summary[0].startswith(f"cp/lean-v0: 6 episodes, {len(data)} steps from "
                                                       "policy:mypolicy:lean on rlp/CartPole-v1 (epsilon 0): return ")
    np.testing.assert_array_equal(data.actions, data.obs[:, 2] > 0)
    assert data.metadata["rlp"]["source"] == "policy:mypolicy:lean"
    for name in ("a", "b"):
        collect(capsys, "--policy", "mypolicy:left", "--env", "rlp/CartPole-v1", "--episodes", "6", "--epsilon", "0.5",
                "--seed", "5", "--num-envs", "1", "--out", f"cp/left-{name}")  # one env: no pick of the shortest
    first, second = load_transitions("cp/left-a-v0"), load_transitions("cp/left-b-v0")
    np.testing.assert_array_equal(first.obs, second.obs)
    np.testing.assert_array_equal(first.actions, second.actions)
    assert 0.1 < first.actions.mean() < 0.4  # half the actions random, half of those pushing right: ~0.25


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "no/such/run", "--episodes", "3"], "--from 'no/such/run': no such run directory"),
    (["--from", "RUN", "--env", "rlp/MountainCar-v0", "--episodes", "3"],
     r"--env 'rlp/MountainCar-v0' has observation space Box\(.*\(2,\).* run '.*' was trained on 'rlp/CartPole-v1'"),
    (["--policy", "random", "--env", "rlp/CartPole-v1", "--episodes", "3", "--steps", "9"], "give one budget"),
    (["--policy", "random", "--env", "rlp/CartPole-v1"], "give one budget"),
    (["--policy", "random", "--from", "RUN", "--episodes", "3"], "give one policy"),
    (["--policy", "random", "--episodes", "3"], "--policy random needs --env"),
    (["--policy", "greedy", "--env", "rlp/CartPole-v1", "--episodes", "3"], "must be 'random' or"),
    (["--policy", "nosuchmodule:act", "--env", "rlp/CartPole-v1", "--episodes", "3"],
     "cannot import module 'nosuchmodule'"),
    (["--policy", "mypolicy:nope", "--env", "rlp/CartPole-v1", "--episodes", "3"], "has no function 'nope'"),
    (["--policy", "mypolicy:scalar", "--env", "rlp/CartPole-v1", "--episodes", "3"],
     r"returned actions of shape \(\) for observations of shape \(8, 4\)"),
    (["--policy", "random", "--env", "rlp/CartPole-v1", "--episodes", "3", "--epsilon", "2"],
     r"--epsilon must be in \[0, 1\]"),
    (["--policy", "random", "--env", "rlp/CartPole-v1", "--episodes", "3", "--out", "cp/taken-v0"],
     "dataset 'cp/taken-v0': already exists"),
])
def test_bad_input_is_one_message_and_nothing_written(args, message, trained_run, dataset_root, policy_module, capsys):
    (dataset_root / "cp/taken-v0/data").mkdir(parents=True)  # a dataset by that name, as far as --out goes
    args = [str(trained_run) if arg == "RUN" else arg for arg in args]
    out = [] if "--out" in args else ["--out", "cp/new-v0"]
    assert main(["collect", *args, *out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlp: error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert sorted(p.name for p in dataset_root.rglob("*")) == ["cp", "data", "taken-v0"]
