"""Adversarial imitation (rl_platform/imitation/, agents/adversarial/) and SQIL (agents/dqn/sqil.py): the shared GAN
losses, the GAIL and AIRL rewards and the AIRL logit against hand-computed values, the gradient penalty against a
numerical gradient, the discriminator's training step, SQIL's reward relabelling, and the errors for bad input."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform import experiment
from rl_platform.agents.a3c.adversarial import GAILConfig, warn_if_collapsed
from rl_platform.agents.dqn import dqn, sqil
from rl_platform.components import Component
from rl_platform.datasets import write_episodes
from rl_platform.errors import ConfigError, TrainingFailed
from rl_platform.imitation.adversarial import REWARD_FORMS, AdversarialReward
from rl_platform.imitation.discriminators import (
    AIRLDiscriminatorConfig,
    DiscriminatorBatch,
    DiscriminatorConfig,
    build_discriminator,
    build_sa,
)
from rl_platform.imitation.expert import ExpertData, load_expert
from rl_platform.nn.gan_losses import accuracy, gradient_penalty, logit_entropy, nonsaturating_discriminator_loss
from rl_platform.rollout import RolloutCollector
from rl_platform.run import policy_fits
from tests.unit.test_dqfd import cartpole_episodes

BOX = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
TWO_ACTIONS = gym.spaces.Discrete(2)


def linear_encoder() -> Component:
    from rl_platform.nn.encoders import MLPConfig

    return Component("mlp", MLPConfig(hidden_sizes=[]))  # the flattened observation itself


def test_discriminator_loss_entropy_and_accuracy_by_hand():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 1.0])
    # mean(-log sigmoid(real)) + mean(-log(1 - sigmoid(fake)))
    expected = (math.log(2) + math.log(1 + math.exp(-2))) / 2 + (math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 2
    assert nonsaturating_discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)
    # smoothing 0.1: real targets 0.9, BCE = -(0.9 log p + 0.1 log(1 - p))
    p = 1 / (1 + math.exp(-2))
    smoothed = (math.log(2) - 0.9 * math.log(p) - 0.1 * math.log(1 - p)) / 2 \
        + (math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 2
    assert nonsaturating_discriminator_loss(real, fake, 0.1).item() == pytest.approx(smoothed, rel=1e-6)
    q = 1 / (1 + math.exp(-1))
    bernoulli = lambda p: -p * math.log(p) - (1 - p) * math.log(1 - p)  # noqa: E731
    assert logit_entropy(torch.tensor([0.0, 1.0])).item() == pytest.approx((math.log(2) + bernoulli(q)) / 2, rel=1e-6)
    assert accuracy(real, fake) == 0.5  # real 0.0 is not > 0; fake 1.0 is not < 0


def test_reward_forms_by_hand():
    logits = torch.tensor([0.0, math.log(3.0)])  # D = 0.5 and 0.75
    assert REWARD_FORMS["-log(1-D)"](logits).tolist() == pytest.approx([math.log(2), math.log(4)])
    assert REWARD_FORMS["log(D)"](logits).tolist() == pytest.approx([math.log(0.5), math.log(0.75)])
    assert REWARD_FORMS["log(D)-log(1-D)"](logits).tolist() == pytest.approx([0.0, math.log(3)])


def set_linear(layers: torch.nn.Module, weights: list[float], bias: float) -> None:
    linear = next(module for module in layers.modules() if isinstance(module, torch.nn.Linear))
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([weights]))
        linear.bias.fill_(bias)


def test_airl_logit_is_g_plus_discounted_shaping_minus_log_pi():
    cfg = AIRLDiscriminatorConfig(encoder=linear_encoder(), hidden_sizes=[], gamma=0.9)
    disc = build_discriminator(Component("airl", cfg), BOX, TWO_ACTIONS)
    set_linear(disc.reward_net, [1.0, 2.0], 0.5)   # g(s) = s0 + 2 s1 + 0.5
    set_linear(disc.shaping_net, [3.0, 0.0], 0.0)  # h(s) = 3 s0
    batch = DiscriminatorBatch(torch.tensor([[1.0, 1.0], [0.0, 2.0]]), torch.tensor([0, 1]),
                               torch.tensor([[2.0, 0.0], [1.0, 0.0]]), torch.tensor([False, True]),
                               torch.tensor([-0.5, -1.0]))
    # row 0: g 3.5 + 0.9 * 6 - 3 = 5.9, minus log pi -0.5 -> 6.4; row 1 (terminated): g 4.5 - 0 - 0 + 1.0 = 5.5
    assert disc(batch).tolist() == pytest.approx([6.4, 5.5])
    assert disc.reward_model(batch.obs, batch.actions).tolist() == pytest.approx([3.5, 4.5])
    assert disc.critic(disc.inputs(batch), batch).tolist() == pytest.approx([5.9, 4.5])


def test_sa_discriminator_sees_the_normalised_observation_and_one_hot_action():
    disc = build_sa(BOX, gym.spaces.Discrete(3, start=1), DiscriminatorConfig(encoder=linear_encoder(),
                                                                              hidden_sizes=[]))
    disc.fit_normalizer(torch.tensor([[0.0, 1.0], [2.0, 3.0]]))  # mean (1, 2), std (1, 1)
    set_linear(disc.head, [1.0, 10.0, 100.0, 200.0, 300.0], 0.0)
    batch = DiscriminatorBatch(torch.tensor([[3.0, 2.0]]), torch.tensor([2]), torch.zeros(1, 2), torch.zeros(1))
    assert disc(batch).item() == pytest.approx(2.0 + 0.0 + 200.0)  # obs (2, 0); action 2 is the second of 1..3


def test_gradient_penalty_matches_a_numerical_gradient():
    torch.manual_seed(0)
    disc = build_sa(BOX, TWO_ACTIONS, DiscriminatorConfig(hidden_sizes=[8]))
    batch = DiscriminatorBatch(torch.randn(3, 2), torch.tensor([0, 1, 1]), torch.randn(3, 2), torch.zeros(3))
    real, fake = disc.inputs(batch), disc.inputs(batch._replace(obs=torch.randn(3, 2), actions=torch.tensor([1, 0, 1])))
    mix = torch.tensor([[0.25], [0.5], [0.9]])
    critic = lambda inputs: disc.critic(inputs, batch)  # noqa: E731
    penalty = gradient_penalty(critic, real, fake, mix).item()
    x_hat, eps, norms = (mix * real + (1 - mix) * fake).detach(), 1e-2, []  # float32: a piecewise-linear critic
    for row in range(3):
        grad = []
        for k in range(x_hat.shape[1]):
            up, down = x_hat[row:row + 1].clone(), x_hat[row:row + 1].clone()
            up[0, k] += eps
            down[0, k] -= eps
            grad.append((critic(up) - critic(down)).item() / (2 * eps))
        norms.append(np.linalg.norm(grad))
    assert penalty == pytest.approx(np.mean((np.array(norms) - 1) ** 2), rel=1e-3)


def expert_of(obs: np.ndarray, actions: np.ndarray) -> ExpertData:
    n = len(actions)
    return ExpertData("hand", BOX, TWO_ACTIONS, obs.astype(np.float32), actions, np.ones(n, np.float32),
                      obs.astype(np.float32), np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, np.int64),
                      np.arange(n) == 0, {}, episode_returns=np.array([float(n)]))


def adversarial_reward(**options) -> AdversarialReward:
    torch.manual_seed(0)
    cfg = GAILConfig(expert="hand", disc_batch=16, disc_lr=1e-2, **options)
    disc = build_sa(BOX, TWO_ACTIONS, DiscriminatorConfig(hidden_sizes=[16]))
    expert = expert_of(np.tile([[1.0, 1.0]], (32, 1)), np.ones(32, np.int64))
    from rl_platform.agents.a3c.shared_optim import SharedAdam

    return AdversarialReward(cfg, disc, expert, SharedAdam(disc.parameters(), 1e-2), seed=0)


def test_discriminator_steps_learn_to_tell_expert_from_agent_and_rewards_follow():
    reward = adversarial_reward(disc_updates=50)
    agent = DiscriminatorBatch(torch.full((32, 2), -1.0), torch.zeros(32, dtype=torch.long), torch.zeros(32, 2),
                               torch.zeros(32))
    figures = reward.update(agent, torch.zeros(32), None)
    assert figures["charts/disc_accuracy"] == 1.0 and figures["disc_collapse_streak"] == 1.0
    assert figures["disc_expert_logit"] > 1 > -1 > figures["disc_agent_logit"]
    expert_like = DiscriminatorBatch(torch.ones(1, 2), torch.ones(1, dtype=torch.long), torch.zeros(1, 2),
                                     torch.zeros(1))
    assert reward.rewards(expert_like).item() > 1.0 > 0.1 > reward.rewards(agent)[0].item()


def test_a_non_finite_discriminator_loss_stops_with_the_weights_untouched():
    reward = adversarial_reward()
    before = [p.detach().clone() for p in reward.discriminator.parameters()]
    agent = DiscriminatorBatch(torch.full((4, 2), float("nan")), torch.zeros(4, dtype=torch.long),
                               torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(TrainingFailed, match="discriminator's loss is nan"):
        reward.update(agent, torch.zeros(4), None)
    assert all(torch.equal(a, b) for a, b in zip(before, reward.discriminator.parameters(), strict=True))


def test_collapse_warning_is_given_once_the_streak_reaches_collapse_updates():
    messages = []

    class Progress:
        def message(self, text):
            messages.append(text)

    cfg = GAILConfig(expert="hand", collapse_updates=3)
    for streak in (1, 2, 3, 4, 0):
        warn_if_collapsed({"disc_collapse_streak": float(streak)}, cfg, Progress())
    assert len(messages) == 1 and "collapsed" in messages[0] and "3 updates" in messages[0]


def test_rollouts_keep_env_actions_and_the_true_last_observation():
    envs = gym.make_vec("rlp/CartPoleFixed-v0", num_envs=2)

    class Zeros:
        def sample(self, obs):
            return np.zeros(len(obs), np.int64), np.zeros(len(obs), np.int64)

    collector = RolloutCollector(envs, 510, seed=0, keep_transitions=True)
    rollout = collector.collect(Zeros())
    assert rollout.env_actions.shape == (510, 2) and (rollout.env_actions == 0).all()
    valid = rollout.valid
    assert (rollout.next_obs[:-1][valid[1:] & valid[:-1] & ~rollout.truncations[:-1]]
            == rollout.obs[1:][valid[1:] & valid[:-1] & ~rollout.truncations[:-1]]).all()
    t, i = rollout.final_index[0]
    assert t == 499 and np.array_equal(rollout.next_obs[t, i], rollout.final_obs[0])
    envs.close()


def test_a_cartpole_policy_fits_cartpole_fixed_but_not_mountaincar():
    make = lambda env_id: gym.make_vec(env_id, num_envs=1)  # noqa: E731
    fixed, cartpole, mountaincar = make("rlp/CartPoleFixed-v0"), make("rlp/CartPole-v1"), make("rlp/MountainCar-v0")
    assert fixed.single_observation_space != cartpole.single_observation_space
    assert policy_fits(fixed, cartpole) and not policy_fits(mountaincar, cartpole)


@pytest.fixture
def expert_dataset(tmp_path, monkeypatch):
    """A 5-episode random-policy CartPole dataset `cartpole/test-v0` under a temporary MINARI_DATASETS_PATH."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    env = gym.make("CartPole-v1")
    episodes = cartpole_episodes(5, seed=100)
    write_episodes("cartpole/test-v0", episodes, env.observation_space, env.action_space, "CartPole-v1",
                   {"policy": "random"})
    return episodes


def test_load_expert_keeps_the_first_episodes_and_their_returns(expert_dataset):
    env = gym.make("CartPole-v1")
    expert = load_expert("cartpole/test-v0", env.observation_space, env.action_space, episodes=2)
    lengths = [len(episode.actions) for episode in expert_dataset]
    assert expert.episodes == 2 and len(expert) == lengths[0] + lengths[1]
    assert expert.episode_returns.tolist() == [float(lengths[0]), float(lengths[1])]
    np.testing.assert_array_equal(expert.obs[:lengths[0]], expert_dataset[0].observations[:-1])
    with pytest.raises(ConfigError, match="agent.expert.*holds 5 episodes; 6 were asked"):
        load_expert("cartpole/test-v0", env.observation_space, env.action_space, episodes=6)


GAIL_TINY = ["agent.mode=sync", "env.num_envs=4", "agent.n_steps=8", "agent.disc_batch=16", "train.total_steps=256",
             "train.eval_every=256", "train.eval_episodes=1"]


@pytest.mark.parametrize(("overrides", "message"), [
    ([], "agent.expert.*gail needs an expert dataset"),
    (["agent.expert=cartpole/missing-v0"], "agent.expert.*cartpole/missing-v0.*not found"),
    (["agent.expert=cartpole/test-v0", "env.id=rlp/MountainCar-v0"], "agent.expert.*space.*does not match"),
    (["agent.expert=cartpole/test-v0", "agent.mode=async", "agent.backend=ray"], "agent.backend.*torch backend"),
    (["agent.expert=cartpole/test-v0", "agent.name=airl", "agent.discriminator=sa"], "airl needs the 'airl'"),
])
def test_bad_gail_input_fails_with_a_clear_message(tmp_path, expert_dataset, overrides, message):
    agent = [o for o in overrides if o.startswith("agent.name=")] or ["agent.name=gail"]
    rest = [o for o in overrides if not o.startswith("agent.name=")]
    with pytest.raises(ConfigError, match=message):
        cfg = experiment.load_experiment("a3c_cartpole", [*agent, *GAIL_TINY, *rest])
        experiment.train(cfg, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra", [["agent.name=gail"], ["agent.name=airl", "agent.gp_weight=1.0"],
                                   ["agent.name=gail", "agent.mode=async", "agent.start_method=fork",
                                    "agent.discriminator=sas", "agent.bc_warm_start_steps=5"]])
def test_gail_and_airl_train_and_checkpoint_the_discriminator(tmp_path, expert_dataset, extra, monkeypatch):
    overrides = [extra[0], *GAIL_TINY, *extra[1:], "agent.expert=cartpole/test-v0"]
    cfg = experiment.load_experiment("a3c_cartpole", overrides)
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    assert metrics["global_step"] >= 256
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "elsewhere"))  # evaluating needs no expert data
    assert experiment.evaluate_run(tmp_path / "run", episodes=2)["episodes"] == 2
    state = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=False)["agent"]
    assert "discriminator" in state["optimizers"] and state["reward"]["discriminator"]
    fresh = build_discriminator(cfg.agent.discriminator, gym.make("rlp/CartPole-v1").observation_space,
                                TWO_ACTIONS).state_dict()
    changed = [name for name, value in state["reward"]["discriminator"].items()
               if name.endswith("weight") and not torch.equal(value, fresh[name])]
    assert changed  # the discriminator trained


def test_sqil_stores_zero_rewards_and_appends_expert_rows_with_reward_one(tmp_path, expert_dataset, monkeypatch):
    calls = []
    update = dqn.DQNAgent.update

    def spy(self, batch, demos=None):
        calls.append(batch)
        return update(self, batch, demos)

    monkeypatch.setattr(dqn.DQNAgent, "update", spy)
    stored = []
    monkeypatch.setattr(sqil.SQILLoop, "replay_rewards",
                        lambda self, rewards: stored.append(np.zeros_like(rewards)) or stored[-1])
    cfg = experiment.load_experiment("dqn_cartpole", [
        "agent.name=sqil", "agent.expert=cartpole/test-v0", "agent.expert_fraction=0.25", "agent.batch_size=20",
        "agent.learning_starts=100", "train.total_steps=400", "train.eval_every=400", "train.eval_episodes=1"])
    experiment.train(cfg, tmp_path / "run", quiet=True)
    assert calls and all(len(batch.actions) == 20 for batch in calls)
    expert_rows = calls[-1]
    # the last 5 rows are expert transitions: 1-step targets with reward 1 (random episodes terminate: discount 0)
    assert set(expert_rows.returns[15:].tolist()) == {1.0}
    assert set(expert_rows.returns[:15].tolist()) == {0.0}  # the replay's rows, relabelled to 0
    assert stored and all((rewards == 0).all() for rewards in stored)


def test_sqil_without_expert_or_with_demos_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="agent.expert.*sqil needs"):
        experiment.train(experiment.load_experiment("dqn_cartpole", ["agent.name=sqil"]), tmp_path / "run",
                         quiet=True)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="agent.demos.*sqil takes"):
        sqil.SQILConfig(expert="x", demos="y")
    with pytest.raises(ConfigError, match="agent.expert_fraction"):
        sqil.SQILConfig(expert="x", expert_fraction=0.01, batch_size=20)


def test_a_resumed_gail_run_continues_the_discriminator_and_its_optimizer(tmp_path, expert_dataset):
    overrides = ["agent.name=gail", *GAIL_TINY, "agent.expert=cartpole/test-v0", "agent.disc_updates=2"]
    experiment.train(experiment.load_experiment("a3c_cartpole", overrides), tmp_path / "run", quiet=True)
    checkpoint = tmp_path / "run" / "checkpoints" / "latest.pt"
    first = torch.load(checkpoint, weights_only=False)["agent"]
    # 256 steps of 4 envs x 8 steps = 8 rollouts, 2 discriminator steps each
    assert first["optimizers"]["discriminator"]["step"][0].item() == 16
    cfg = experiment.resume_config(tmp_path / "run", ["train.total_steps=512"])
    experiment.train(cfg, tmp_path / "run", quiet=True, resume=True)
    second = torch.load(checkpoint, weights_only=False)["agent"]
    assert second["optimizers"]["discriminator"]["step"][0].item() == 32
    assert second["reward"]["rng"] != first["reward"]["rng"]


def test_an_airl_runs_reward_trains_a_fresh_agent_and_evaluations_keep_the_envs_reward(tmp_path, expert_dataset):
    from rl_platform.config import EnvConfig
    from rl_platform.env_factory import make_vector_env
    from rl_platform.imitation.reward_model import LearnedReward, load_reward_model

    airl = ["agent.name=airl", *GAIL_TINY, "agent.expert=cartpole/test-v0"]
    experiment.train(experiment.load_experiment("a3c_cartpole", airl), tmp_path / "airl", quiet=True)
    env_cfg = EnvConfig(id="rlp/CartPole-v1", num_envs=3, reward_model=str(tmp_path / "airl"))
    envs = make_vector_env(env_cfg, training=True)
    assert isinstance(envs, LearnedReward) and not isinstance(make_vector_env(env_cfg), LearnedReward)
    obs, _ = envs.reset(seed=0)
    actions = np.array([0, 1, 1])
    _, rewards, *_ = envs.step(actions)
    model = load_reward_model(str(tmp_path / "airl"), envs.single_observation_space, envs.single_action_space)
    expected = model.reward_model(torch.as_tensor(obs), torch.as_tensor(actions)).numpy()
    np.testing.assert_allclose(rewards, expected, rtol=1e-6)
    assert len(set(np.round(rewards, 6))) == 3  # g(s) of three different states
    fresh = ["agent.mode=sync", "env.num_envs=4", "train.total_steps=256", "train.eval_every=256",
             "train.eval_episodes=2", f"env.reward_model={tmp_path / 'airl'}"]
    metrics = experiment.train(experiment.load_experiment("a3c_cartpole", fresh), tmp_path / "fresh", quiet=True)
    assert metrics["mean_return"] >= 1.0  # the env's own reward: 1 per step


def test_a_reward_model_from_a_run_that_is_not_airl_is_refused(tmp_path, expert_dataset):
    from rl_platform.config import EnvConfig
    from rl_platform.env_factory import make_vector_env

    gail = ["agent.name=gail", *GAIL_TINY, "agent.expert=cartpole/test-v0"]
    experiment.train(experiment.load_experiment("a3c_cartpole", gail), tmp_path / "gail", quiet=True)
    with pytest.raises(ConfigError, match="env.reward_model.*'gail' run; a reward model comes from an airl run"):
        make_vector_env(EnvConfig(id="rlp/CartPole-v1", reward_model=str(tmp_path / "gail")), training=True)
    with pytest.raises(ConfigError, match="env.reward_model.*is not a run directory"):
        make_vector_env(EnvConfig(id="rlp/CartPole-v1", reward_model=str(tmp_path / "none")), training=True)
