"""rlp/WorldModel-v0 (rl_platform/world_model_env.py) on a hand-built model whose every step is known: the single
env passes Gymnasium's checker; the vector env resets on the same step with the true final observation,
tells termination from truncation at its time limit, clips into the observation space, draws its reset states
from the array it was given and is reproducible from reset(seed=...). Bad input names its key."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import rl_platform.envs  # noqa: F401  (registers rlp/ envs, rlp/WorldModel-v0 among them)
from rl_platform import world_model_env
from rl_platform.config import EnvConfig, ExperimentConfig, TrainConfig, build_config, dump_yaml
from rl_platform.datasets import Episode, write_episodes
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import ConfigError, UserError
from rl_platform.registry import AGENTS
from rl_platform.run import check_eval_spaces
from rl_platform.world_model_env import WorldModelEnv, WorldModelVectorEnv
from rl_platform.world_models import Imagined, WorldModel

FINITE = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
MIXED = gym.spaces.Box(np.array([-10.0, -np.inf], np.float32), np.array([10.0, np.inf], np.float32))
TWO = gym.spaces.Discrete(2)


class WalkModel(WorldModel):
    """x moves by +1 (action 1) or -1 (action 0), y by +1 each step (plus `noise` x a normal draw of the
    generator); the reward is the x before the step; the step terminates when the new x reaches 3."""

    def __init__(self, observation_space: gym.Space = FINITE, noise: float = 0.0) -> None:
        super().__init__(observation_space, TWO)
        self.noise = noise

    def sample(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None) -> Imagined:
        step = torch.stack([2.0 * actions.float() - 1.0, torch.ones(len(obs))], dim=1)
        next_obs = obs + step + self.noise * torch.randn(obs.shape, generator=generator)
        return Imagined(next_obs, obs[:, 0].clone(), next_obs[:, 0] >= 3.0, torch.zeros(len(obs)))


ORIGIN = np.zeros((1, 2), np.float32)


def agent_config(name: str) -> type:
    return AGENTS.get(name).config_cls


def test_single_env_passes_the_gymnasium_checker():
    env = WorldModelEnv(WalkModel(noise=0.1), np.array([[0.0, 0.0], [1.0, -1.0]], np.float32), max_episode_steps=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # finite bounds, float32 observations: nothing to warn about
        check_env(env, skip_render_check=True)


def test_single_env_returns_the_last_observation_of_an_ended_episode():
    env = WorldModelEnv(WalkModel(), ORIGIN, max_episode_steps=20)
    env.reset(seed=0)
    for expected_x in (1.0, 2.0):
        obs, reward, terminated, truncated, _ = env.step(1)
        assert obs.tolist() == [expected_x, expected_x] and not terminated
    obs, reward, terminated, truncated, _ = env.step(1)
    assert (obs.tolist(), reward, terminated, truncated) == ([3.0, 3.0], 2.0, True, False)


def test_vector_env_resets_on_the_same_step_with_the_final_observation():
    envs = WorldModelVectorEnv(WalkModel(), ORIGIN, num_envs=2, max_episode_steps=5)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, _ = envs.reset(seed=0)
    assert obs.tolist() == [[0, 0], [0, 0]]
    actions = np.array([1, 0])
    for _ in range(2):
        obs, rewards, terminations, truncations, info = envs.step(actions)
        assert info == {} and not terminations.any() and not truncations.any()
    assert obs.tolist() == [[2, 2], [-2, 2]] and rewards.tolist() == [1, -1]
    obs, rewards, terminations, truncations, info = envs.step(actions)  # env 0 reaches x = 3: terminates
    assert terminations.tolist() == [True, False] and truncations.tolist() == [False, False]
    assert info["_final_obs"].tolist() == [True, False] and info["final_obs"][0].tolist() == [3, 3]
    assert obs.tolist() == [[0, 0], [-3, 3]]  # env 0 starts again from its reset state
    for _ in range(2):
        obs, rewards, terminations, truncations, info = envs.step(actions)
    # step 5 of env 1: the time limit truncates it (not a termination); env 0 is 2 steps into its new episode
    assert terminations.tolist() == [False, False] and truncations.tolist() == [False, True]
    assert info["_final_obs"].tolist() == [False, True] and info["final_obs"][1].tolist() == [-5, 5]
    assert obs.tolist() == [[2, 2], [0, 0]] and rewards.tolist() == [1, -4]


def test_a_termination_at_the_time_limit_is_both():
    envs = WorldModelVectorEnv(WalkModel(), ORIGIN, num_envs=1, max_episode_steps=3)
    envs.reset(seed=0)
    for _ in range(3):
        _, _, terminations, truncations, info = envs.step(np.array([1]))
    assert terminations.tolist() == [True] and truncations.tolist() == [True]  # as Gymnasium's TimeLimit
    assert info["final_obs"].tolist() == [[3, 3]]


@pytest.mark.parametrize(("space", "expected_y"), [(FINITE, 10.0), (MIXED, 12.0)])
def test_observations_are_clipped_where_the_bounds_are_finite(space, expected_y):
    envs = WorldModelVectorEnv(WalkModel(space), ORIGIN, num_envs=1, max_episode_steps=100)
    envs.reset(seed=0)
    for _ in range(12):
        obs, *_ = envs.step(np.array([0]))
    assert obs.tolist() == [[-10.0, expected_y]]  # x: -12 clipped to the bound -10


class FlipModel(WorldModel):
    """Bool frames (MinAtar's kind): every cell flips; reward 1; never terminates."""

    def sample(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None) -> Imagined:
        return Imagined(~obs, torch.ones(len(obs)), torch.zeros(len(obs), dtype=torch.bool), torch.zeros(len(obs)))


def test_bool_frames_step_unclipped():
    frames = gym.spaces.Box(0, 1, (2, 2), bool)
    envs = WorldModelVectorEnv(FlipModel(frames, TWO), np.eye(2, dtype=bool)[None], num_envs=2, max_episode_steps=3)
    obs, _ = envs.reset(seed=0)
    obs, *_ = envs.step(np.array([0, 1]))
    assert obs.dtype == np.bool_ and obs.tolist() == [[[False, True], [True, False]]] * 2


def test_reset_states_are_drawn_uniformly_from_the_given_rows():
    rows = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], np.float32)
    envs = WorldModelVectorEnv(WalkModel(), rows, num_envs=4000, max_episode_steps=10)
    obs, _ = envs.reset(seed=0)
    counts = [(obs == row).all(axis=1).sum() for row in rows]
    assert sum(counts) == 4000 and min(counts) > 900 and max(counts) < 1100  # 1000 each, sd ~27


def test_reset_mask_restarts_only_the_masked_envs():
    envs = WorldModelVectorEnv(WalkModel(), ORIGIN, num_envs=2, max_episode_steps=10)
    envs.reset(seed=0)
    envs.step(np.array([0, 0]))
    obs, _ = envs.reset(options={"reset_mask": np.array([False, True])})
    assert obs.tolist() == [[-1, 1], [0, 0]]
    obs, *_ = envs.step(np.array([0, 0]))
    assert obs.tolist() == [[-2, 2], [-1, 1]]


def rollout(envs: WorldModelVectorEnv, seed: int) -> np.ndarray:
    observations = [envs.reset(seed=seed)[0]]
    actions = np.random.default_rng(0).integers(0, 2, (30, envs.num_envs))
    observations += [envs.step(a)[0] for a in actions]
    return np.stack(observations)


def test_seeded_resets_make_runs_reproducible():
    rows = np.random.default_rng(1).normal(size=(50, 2)).astype(np.float32)
    envs = WorldModelVectorEnv(WalkModel(noise=0.5), rows, num_envs=8, max_episode_steps=7)
    first, again = rollout(envs, seed=3), rollout(envs, seed=3)
    np.testing.assert_array_equal(first, again)
    other = WorldModelVectorEnv(WalkModel(noise=0.5), rows, num_envs=8, max_episode_steps=7)
    np.testing.assert_array_equal(rollout(other, seed=3), first)  # a fresh env from the same seed
    assert not np.array_equal(rollout(other, seed=4), first)


def test_a_nan_prediction_is_an_error_not_an_observation():
    envs = WorldModelVectorEnv(WalkModel(noise=float("nan")), ORIGIN, num_envs=2, max_episode_steps=10)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="predicted a NaN or infinite observation"):
        envs.step(np.array([0, 1]))


def test_bad_actions_are_rejected():
    envs = WorldModelVectorEnv(WalkModel(), ORIGIN, num_envs=2, max_episode_steps=10)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \(2,\)"):
        envs.step(np.array([0, 1, 0]))
    with pytest.raises(ValueError, match=r"actions must be in \[0, 1\]"):
        envs.step(np.array([0, 2]))


# -- bad input: each a one-line error naming its key -------------------------------------------------


def test_a_world_model_env_without_a_run_names_the_key():
    with pytest.raises(ConfigError, match=r"^config key 'env.kwargs.run': missing"):
        make_vector_env(EnvConfig(id="rlp/WorldModel-v0"), 2)
    with pytest.raises(ConfigError, match=r"'env.kwargs.run'"):
        gym.make("rlp/WorldModel-v0")


def test_an_unknown_kwarg_names_the_key_and_the_closest_one():
    with pytest.raises(ConfigError, match=r"'env.kwargs.datset': unknown option .* Did you mean 'dataset'\?"):
        make_vector_env(EnvConfig(id="rlp/WorldModel-v0", kwargs={"run": "runs/x", "datset": "d"}), 2)


def test_a_run_without_a_world_model_is_refused(tmp_path):
    dump_yaml(build_config({"env": {"id": "rlp/CartPole-v1"}}, agent_config), tmp_path / "config.yaml")
    with pytest.raises(UserError, match=r"has no world model: it is a 'dqn' training run"):
        make_vector_env(EnvConfig(id="rlp/WorldModel-v0", kwargs={"run": str(tmp_path)}), 2)


def test_a_run_without_a_dataset_needs_the_dataset_kwarg(monkeypatch, tmp_path):
    cfg = ExperimentConfig(agent_name="dqn", agent=None, env=EnvConfig(id="rlp/CartPole-v1"))  # a Dyna-DQN run
    monkeypatch.setattr(world_model_env, "load_world_model", lambda run: (WalkModel(), cfg))
    with pytest.raises(ConfigError, match=r"^config key 'env.kwargs.dataset': missing: run 'dyna' has no "):
        world_model_env.make_vector(2, run="dyna")


def test_a_dataset_of_other_spaces_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    three = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    episode = Episode(np.zeros((3, 3), np.float32), np.array([0, 1]), np.ones(2), np.array([False, True]),
                      np.array([False, False]))
    write_episodes("other/spaces", [episode], three, TWO, None, {})
    with pytest.raises(ConfigError, match=r"^config key 'env.kwargs.dataset': dataset 'other/spaces' has observation "
                       r"space Box\(-1.0, 1.0, \(3,\), float32\); the world model was trained for Box\(-10.0"):
        world_model_env.initial_observations("other/spaces", WalkModel())


def test_initial_observations_are_the_first_of_each_episode(monkeypatch, tmp_path):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    episodes = [Episode(np.array([[s, 0], [s, 1], [s, 2]], np.float32), np.array([0, 1]), np.ones(2),
                        np.array([False, True]), np.array([False, False])) for s in (4.0, 5.0)]
    write_episodes("two/episodes", episodes, FINITE, TWO, None, {})
    assert world_model_env.initial_observations("two/episodes", WalkModel()).tolist() == [[4, 0], [5, 0]]


def test_a_time_limit_below_one_is_refused():
    with pytest.raises(ConfigError, match=r"'env.kwargs.max_episode_steps': must be at least 1, got 0"):
        WorldModelVectorEnv(WalkModel(), ORIGIN, num_envs=1, max_episode_steps=0)


# -- train.eval_env ------------------------------------------------------------------------------------


def test_eval_env_parses_and_takes_the_training_envs_history():
    cfg = build_config({"env": {"id": "rlp/WorldModel-v0", "history": 3},
                        "train": {"eval_env": {"id": "rlp/CartPole-v1", "kwargs": {"max_episode_steps": 200}}}},
                       agent_config)
    assert cfg.env.num_envs == 1 and cfg.train.eval_env.id == "rlp/CartPole-v1"
    assert cfg.train.eval_env.env_config(cfg.env, 7) == EnvConfig(
        id="rlp/CartPole-v1", num_envs=7, kwargs={"max_episode_steps": 200}, history=3)
    assert cfg.to_dict()["train"]["eval_env"] == {"id": "rlp/CartPole-v1", "kwargs": {"max_episode_steps": 200},
                                                  "vectorization": "auto"}
    short = build_config({"train": {"eval_env": "rlp/CartPole-v1"}}, agent_config).train.eval_env
    assert (short.id, short.kwargs) == ("rlp/CartPole-v1", {})
    assert TrainConfig().eval_env is None
    assert TrainConfig(eval_env={"id": "CartPole-v1"}).eval_env.id == "CartPole-v1"


@pytest.mark.parametrize(("eval_env", "key"), [({"kwargs": {}}, "train.eval_env.id"),
                                               ({"id": "rlp/CartPole-v1", "num_envs": 4}, "train.eval_env.num_envs"),
                                               (5, "train.eval_env")])
def test_bad_eval_env_names_the_key(eval_env, key):
    with pytest.raises(ConfigError) as caught:
        build_config({"train": {"eval_env": eval_env}}, agent_config)
    assert caught.value.key_path == key


def test_an_eval_env_of_other_spaces_is_refused():
    cfg = build_config({"env": {"id": "rlp/CartPole-v1"}, "train": {"eval_env": {"id": "rlp/Acrobot-v1"}}},
                       agent_config)
    cartpole, acrobot = make_vector_env(cfg.env, 1), make_vector_env(EnvConfig(id="rlp/Acrobot-v1"), 1)
    with pytest.raises(ConfigError, match=r"^config key 'train.eval_env': 'rlp/Acrobot-v1' has observation space "
                       r"Box\(.*, \(6,\), float32\) .* the training env 'rlp/CartPole-v1' has Box"):
        check_eval_spaces(acrobot, cartpole, cfg)
    check_eval_spaces(cartpole, cartpole, cfg)  # same spaces: nothing to say
