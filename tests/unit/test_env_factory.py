"""`make_vector_env`: Gymnasium ids and user factories; broken user envs fail early (EnvError).

The user envs live in tests/user_envs.py, imported as `tests.user_envs` (repo root on sys.path)
or, for the command-line test, as `user_envs` (tests/ on PYTHONPATH).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_platform import experiment
from rl_platform.config import EnvConfig
from rl_platform.env_factory import check_env_id, make_vector_env
from rl_platform.errors import ConfigError, EnvError
from rl_platform.experiment import config_from_dict
from rl_platform.registry import AGENTS

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent


@pytest.fixture(autouse=True)
def _user_envs_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))


def user_env(name: str, num_envs: int = 3, **kwargs) -> EnvConfig:
    return EnvConfig(id=f"tests.user_envs:{name}", num_envs=num_envs, kwargs=kwargs)


# -- working envs -------------------------------------------------------------------------------


def test_user_env_class_makes_a_working_vector_env():
    envs = make_vector_env(user_env("GoodEnv", num_envs=3))
    try:
        assert isinstance(envs, gym.vector.VectorEnv)
        assert envs.num_envs == 3
        assert envs.single_observation_space == gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        assert envs.single_action_space == gym.spaces.Discrete(2)
        obs, info = envs.reset(seed=0)
        assert obs.shape == (3, 4) and obs.dtype == np.float32
        ended = np.zeros(3, dtype=bool)
        for _ in range(10):  # GoodEnv episodes last 10 steps
            obs, rewards, terminated, truncated, info = envs.step(np.array([1, 0, 1]))
            assert obs.shape == (3, 4) and rewards.shape == (3,)
            np.testing.assert_array_equal(rewards, [1.0, 0.0, 1.0])
            ended |= terminated
        assert ended.all() and not truncated.any()
    finally:
        envs.close()


def test_num_envs_argument_overrides_config():
    envs = make_vector_env(user_env("GoodEnv", num_envs=3), num_envs=2)
    try:
        assert envs.num_envs == 2
        assert envs.reset(seed=1)[0].shape == (2, 4)
    finally:
        envs.close()


def test_env_kwargs_reach_the_constructor():
    envs = make_vector_env(user_env("GoodEnv", num_envs=2, episode_length=3))
    try:
        envs.reset(seed=0)
        terminated = [envs.step(np.zeros(2, dtype=np.int64))[2] for _ in range(3)]
        assert not terminated[1].any() and terminated[2].all()
    finally:
        envs.close()


def test_env_kwargs_the_constructor_does_not_take():
    with pytest.raises(EnvError, match=r"could not be called with env.kwargs \{'bogus': 1\}"):
        make_vector_env(user_env("GoodEnv", bogus=1))


def test_factory_returning_a_vector_env_of_the_right_size():
    envs = make_vector_env(user_env("make_good_vector_env", num_envs=3))
    try:
        assert envs.num_envs == 3
        assert envs.reset(seed=0)[0].shape == (3, 4)
    finally:
        envs.close()


def test_factory_returning_a_vector_env_of_the_wrong_size():
    with pytest.raises(EnvError, match=r"returned 4 envs but env.num_envs is 3"):
        make_vector_env(user_env("make_wrong_size_vector_env", num_envs=3))


def test_gymnasium_id_makes_a_vector_env():
    envs = make_vector_env(EnvConfig(id="CartPole-v1", num_envs=2))
    try:
        assert envs.num_envs == 2
        assert envs.reset(seed=0)[0].shape == (2, 4)
    finally:
        envs.close()


def test_gymnasium_id_with_bad_kwargs():
    with pytest.raises(EnvError, match=r"cannot make 'CartPole-v1' with env.kwargs \{'bogus': 1\}"):
        make_vector_env(EnvConfig(id="CartPole-v1", kwargs={"bogus": 1}))


# -- broken envs --------------------------------------------------------------------------------


BROKEN = {
    "BrokenSpaceEnv": ["`observation_space` must be a gymnasium.spaces.Space", "(4,)"],
    "OldResetEnv": ["reset() must return (obs, info)", "array of shape (4,)"],
    "NoSeedResetEnv": ["reset(seed=..., options=...) failed", "unexpected keyword argument 'seed'"],
    "FourTupleStepEnv": ["step() must return (obs, reward, terminated, truncated, info)",
                         "got a tuple of 4", "Old Gym 4-tuples"],
    "BrokenStepEnv": ["step(action) failed", "missing 1 required positional argument: 'extra'",
                      "exactly one action"],
    "OutOfSpaceObsEnv": ["reset() returned an observation outside observation_space",
                         "Box(-1.0, 1.0, (4,), float32)"],
    "WrongShapeObsEnv": ["outside observation_space", "array of shape (3,)"],
    "NotAnEnv": ["must return a gymnasium.Env or gymnasium.vector.VectorEnv", "got NotAnEnv"],
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_user_env_raises_env_error_saying_what_is_wrong(name):
    with pytest.raises(EnvError) as info:
        make_vector_env(user_env(name))
    message = str(info.value)
    assert f"tests.user_envs:{name}" in message
    for expected in BROKEN[name]:
        assert expected in message, f"{expected!r} not in {message!r}"


@pytest.mark.parametrize(("env_id", "expected"), [
    ("tests.user_envs:NoSuchEnv", "has no callable 'NoSuchEnv'"),
    ("tests.user_envs:NOT_CALLABLE", "has no callable 'NOT_CALLABLE'"),
    ("tests.no_such_module:GoodEnv", "cannot import module 'tests.no_such_module'"),
    ("CartPol-v1", "Did you mean 'CartPole-v1'?"),
])
def test_unresolvable_env_id_is_a_config_error_on_env_id(env_id, expected):
    for call in (lambda: check_env_id(env_id), lambda: make_vector_env(EnvConfig(id=env_id))):
        with pytest.raises(ConfigError, match=expected) as info:
            call()
        assert info.value.key_path == "env.id"


def test_dqn_rejects_continuous_actions_with_env_error():
    cfg = config_from_dict({"env": {"id": "tests.user_envs:ContinuousActionEnv", "num_envs": 2}})
    envs = make_vector_env(cfg.env)  # a valid env ...
    try:
        with pytest.raises(EnvError, match="dqn needs a Discrete action space"):  # ... not for dqn
            AGENTS.get("dqn").make_agent(cfg, envs, torch.device("cpu"))
    finally:
        envs.close()


@pytest.mark.parametrize("name", ["BrokenStepEnv", "ContinuousActionEnv"])
def test_train_with_unusable_env_leaves_no_run_directory(name, tmp_path: Path):
    cfg = config_from_dict({"env": {"id": f"tests.user_envs:{name}"},
                            "train": {"total_steps": 100}})
    run_dir = tmp_path / "run"
    with pytest.raises(EnvError):
        experiment.train(cfg, run_dir, quiet=True)
    assert not run_dir.exists()


# -- command line -------------------------------------------------------------------------------


def _rlp_train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "rl_platform.cli", "train", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("name", "expected"), [
    ("BrokenStepEnv", "env from 'user_envs:BrokenStepEnv': step(action) failed"),
    ("ContinuousActionEnv", "dqn needs a Discrete action space"),
])
def test_cli_train_with_unusable_user_env_exits_2(name, expected, tmp_path: Path):
    proc = _rlp_train(tmp_path, f"env.id=user_envs:{name}", "train.total_steps=100")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("rlp: error:")]
    assert len(error_lines) == 1 and expected in error_lines[0], proc.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())
