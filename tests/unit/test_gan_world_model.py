"""The `gan` world model and the deterministic `mlp` on discrete states: losses on hand-built batches against
hand-computed values (non-saturating and WGAN-GP, with a linear discriminator), the gradient penalty, spectral
norm, the two named optimizers and the training step's non-finite guard; then `rlp pretrain` of a gan (its
checkpoint names both optimizers, a resumed run ends where a straight one does, a NaN stops it by name)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform import cli
from rl_platform.checkpoint import load_checkpoint
from rl_platform.errors import TrainingFailed
from rl_platform.registry import WORLD_MODELS
from rl_platform.world_models import Transition
from rl_platform.world_models.gan import GANModelConfig, build_gan, gradient_penalty
from rl_platform.world_models.mlp import MLPModelConfig, MLPWorldModel

OBS = gym.spaces.Box(-10.0, 10.0, (2,), dtype=np.float32)
ACTIONS = gym.spaces.Discrete(2)
FRAMES = gym.spaces.Box(0, 1, (2, 10, 10), dtype=bool)
TINY_FRAMES = dict(generator_hidden_sizes=[8], discriminator_hidden_sizes=[8], discriminator_channels=[4])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def hand_batch() -> Transition:
    return Transition(obs=torch.tensor([[1.0, 2.0], [3.0, 4.0]]), actions=torch.tensor([0, 1]),
                      rewards=torch.tensor([1.0, 2.0]), next_obs=torch.tensor([[1.5, 2.5], [3.0, 4.0]]),
                      terminations=torch.tensor([False, True]))


def linear_gan(loss: str = "nonsaturating"):
    """Normalisers at identity; a generator that ignores its input: state change (0.5, -0.5), reward 2,
    termination logit -30 (never terminates); a linear discriminator reading only the outcome:
    D = delta_0 + 0.5 * reward + termination."""
    model = build_gan(OBS, ACTIONS, GANModelConfig(loss=loss, reward_noise=0.0, generator_hidden_sizes=[],
                                                   discriminator_hidden_sizes=[]))
    with torch.no_grad():
        for layer, bias in ((model.generator.state[0], [0.5, -0.5]), (model.generator.outcome[0], [2.0, -30.0])):
            layer.weight.zero_()
            layer.bias.copy_(torch.tensor(bias))
        linear = model.discriminator.net[0]  # inputs: obs (2), one-hot action (2), delta (2), reward, termination
        linear.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5, 1.0]]))
        linear.bias.zero_()
    return model


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_nonsaturating_losses_by_hand():
    """Real outcomes (delta, reward, termination): ((0.5, 0.5), 1, 0) and ((0, 0), 2, 1) score 1 and 2; both
    generated ones ((0.5, -0.5), 2, 0) score 1.5."""
    loss, figures = linear_gan().loss(hand_batch())
    assert figures["d_real"] == pytest.approx(1.5) and figures["d_fake"] == pytest.approx(1.5)
    discriminator = (softplus(-1.0) + softplus(-2.0)) / 2 + softplus(1.5)
    assert figures["discriminator"] == pytest.approx(discriminator, rel=1e-6)
    assert figures["generator"] == pytest.approx(softplus(-1.5), rel=1e-6)
    # supervised, given the real next state: reward 2 against (1, 2); termination logit -30 against (0, 1)
    assert figures["reward"] == pytest.approx(0.5)
    assert figures["termination"] == pytest.approx(15.0, rel=1e-6)
    assert figures["next_obs"] == pytest.approx((0.0 + 1.0 + 0.25 + 0.25) / 4)  # reported, weight 0
    assert loss.item() == pytest.approx(softplus(-1.5) + 0.5 + 15.0, rel=1e-6)


def test_wgan_gp_losses_and_gradient_penalty_by_hand():
    """A linear D's gradient in the outcome is its weights (1, 0, 0.5, 1), norm 1.5, everywhere: penalty
    (1.5 - 1)^2 = 0.25, weighted 10."""
    _, figures = linear_gan("wgan_gp").loss(hand_batch())
    assert figures["gradient_penalty"] == pytest.approx(0.25, rel=1e-6)
    assert figures["discriminator"] == pytest.approx(1.5 - 1.5 + 10 * 0.25, rel=1e-6)
    assert figures["generator"] == pytest.approx(-1.5)


def test_gradient_penalty_of_a_quadratic_critic():
    """critic(x) = |x|^2 has gradient 2 x_hat: at x_hat = 0.5 (1, 0) + 0.5 (0, 0) its norm is 1 (penalty 0), at
    x_hat = (3, 4) (mix 1) it is 10 (penalty 81)."""
    real, fake = torch.tensor([[1.0, 0.0], [3.0, 4.0]]), torch.zeros(2, 2)
    penalty = gradient_penalty(lambda x: x.pow(2).sum(-1), real, fake, torch.tensor([[0.5], [1.0]]))
    assert penalty.item() == pytest.approx((0.0 + 81.0) / 2)
    with torch.no_grad():  # validation runs without gradients; the penalty still has them
        assert gradient_penalty(lambda x: x.pow(2).sum(-1), real, fake, torch.ones(2, 1)).item() == \
            pytest.approx((1.0 + 81.0) / 2)


def spectral(layer: torch.nn.Module) -> bool:
    return torch.nn.utils.parametrize.is_parametrized(layer, "weight")


def test_spectral_norm_is_on_every_discriminator_layer_when_asked():
    plain = build_gan(OBS, ACTIONS, GANModelConfig(discriminator_hidden_sizes=[8, 8]))
    normed = build_gan(OBS, ACTIONS, GANModelConfig(discriminator_hidden_sizes=[8, 8], spectral_norm=True))
    linears = [layer for layer in normed.discriminator.net if isinstance(layer, torch.nn.Linear)]
    assert len(linears) == 3 and all(spectral(layer) for layer in linears)
    assert not any(spectral(layer) for layer in plain.discriminator.modules())
    assert not any(spectral(layer) for layer in normed.generator.modules())
    for _ in range(20):  # power iterations converge: the weight's largest singular value is 1
        normed.discriminator(torch.zeros(4, 4), torch.zeros(4, 4))
    assert torch.linalg.matrix_norm(linears[1].weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("observation_space", [OBS, gym.spaces.Discrete(5), FRAMES])
def test_optimizer_groups_are_disjoint_and_cover_every_parameter(observation_space):
    model = WORLD_MODELS.get("gan", "model").build(observation_space, ACTIONS,
                                                   GANModelConfig(spectral_norm=True, **TINY_FRAMES))
    groups = model.optimizer_groups()
    assert set(groups) == {"generator", "discriminator"}
    ids = [[id(p) for p in params] for params in groups.values()]
    assert not set(ids[0]) & set(ids[1])
    assert set(ids[0]) | set(ids[1]) == {id(p) for p in model.parameters()}


def test_discrete_mlp_loss_and_argmax_steps_by_hand():
    """States 10, 11, 12 (start 10); zero weights: next-state logits (0, ln 2, 0), i.e. probabilities
    (1/4, 1/2, 1/4), reward 1, termination logit 0."""
    model = MLPWorldModel(gym.spaces.Discrete(3, start=10), ACTIONS, MLPModelConfig(hidden_sizes=[]))
    with torch.no_grad():
        model.net[0].weight.zero_()
        model.net[0].bias.copy_(torch.tensor([0.0, math.log(2.0), 0.0, 1.0, 0.0]))
    data = Transition(obs=torch.tensor([10, 12]), actions=torch.tensor([0, 1]), rewards=torch.tensor([0.0, 1.0]),
                      next_obs=torch.tensor([11, 12]), terminations=torch.tensor([False, True]))
    loss, figures = model.loss(data)
    assert figures["next_obs"] == pytest.approx((math.log(2.0) + math.log(4.0)) / 2)
    assert figures["reward"] == pytest.approx(0.5) and figures["termination"] == pytest.approx(math.log(2.0))
    assert loss.item() == pytest.approx(1.5 * math.log(2.0) + 0.5 + math.log(2.0))
    step = model.sample(data.obs, data.actions)
    assert step.next_obs.dtype == torch.int64 and step.next_obs.tolist() == [11, 11]
    assert model.point_prediction(data.obs, data.actions).tolist() == [11, 11]
    assert "norm.obs.mean" not in model.state_dict()  # one-hot inputs: no normalisers


def test_discrete_gan_samples_its_logits_and_points_at_their_argmax():
    """Gumbel-max draws with the passed generator follow softmax(logits); the point prediction is the argmax."""
    model = build_gan(gym.spaces.Discrete(3, start=10), ACTIONS, GANModelConfig(generator_hidden_sizes=[]))
    with torch.no_grad():
        model.generator.state[0].weight.zero_()
        model.generator.state[0].bias.copy_(torch.tensor([0.0, math.log(2.0), 0.0]))
    obs, actions = torch.full((40_000,), 10), torch.zeros(40_000, dtype=torch.long)
    first = model.sample(obs, actions, torch.Generator().manual_seed(0))
    again = model.sample(obs, actions, torch.Generator().manual_seed(0))
    assert torch.equal(first.next_obs, again.next_obs) and first.next_obs.dtype == torch.int64
    frequencies = torch.bincount(first.next_obs - 10, minlength=3).float() / 40_000
    torch.testing.assert_close(frequencies, torch.tensor([0.25, 0.5, 0.25]), atol=0.01, rtol=0)
    assert model.point_prediction(obs[:3], actions[:3]).tolist() == [11, 11, 11]


def test_frame_gan_trains_both_networks_and_draws_bool_frames():
    """On MinAtar-like bool frames the generator is the `frame` network; a step moves both networks, samples are
    bool frames, and the point prediction keeps the cells above probability 0.5 at z = 0."""
    model = build_gan(FRAMES, ACTIONS, GANModelConfig(loss="wgan_gp", spectral_norm=True, **TINY_FRAMES))
    rng = torch.Generator().manual_seed(0)
    frames = torch.rand(6, 2, 10, 10, generator=rng) < 0.2
    data = Transition(frames, torch.tensor([0, 1, 0, 1, 0, 1]), torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0]),
                      torch.roll(frames, 1, dims=3), torch.tensor([False, False, True, False, False, False]))
    model.fit_normalizer(data)
    optimizers = {name: torch.optim.Adam(params, lr=1e-3) for name, params in model.optimizer_groups().items()}
    before = {name: [p.detach().clone() for p in params] for name, params in model.optimizer_groups().items()}
    figures = model.update(data, optimizers)
    assert all(math.isfinite(value) for value in figures.values()) and "gradient_penalty" in figures
    for name, params in model.optimizer_groups().items():
        assert any(not torch.equal(p, q) for p, q in zip(params, before[name], strict=True)), name
    step = model.sample(data.obs, data.actions, torch.Generator().manual_seed(1))
    assert step.next_obs.shape == (6, 2, 10, 10) and step.next_obs.dtype == torch.bool
    assert step.rewards.shape == (6,) and step.terminations.dtype == torch.bool
    logits = model.generator(data.obs, data.actions, torch.zeros(6, model.cfg.noise_dim))[0]
    assert torch.equal(model.point_prediction(data.obs, data.actions), logits > 0)


def test_a_non_finite_loss_raises_by_name_and_keeps_the_weights(monkeypatch):
    """Two discriminator steps; the second one's loss is NaN: the first step is undone (weights and optimizer
    state), the generator never steps, and the error names the discriminator loss."""
    model = build_gan(OBS, ACTIONS, GANModelConfig(discriminator_steps=2, generator_hidden_sizes=[8],
                                                   discriminator_hidden_sizes=[8]))
    optimizers = {name: torch.optim.Adam(params, lr=0.1) for name, params in model.optimizer_groups().items()}
    model.update(hand_batch(), optimizers)  # the optimizers have state
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    adam_steps = optimizers["discriminator"].state_dict()["state"][0]["step"].item()
    original, calls = type(model).discriminator_loss, []

    def nan_on_the_second(self, data):
        total, figures = original(self, data)
        calls.append(1)
        return (total * math.nan, {**figures, "discriminator": math.nan}) if len(calls) == 2 else (total, figures)

    monkeypatch.setattr(type(model), "discriminator_loss", nan_on_the_second)
    with pytest.raises(TrainingFailed, match=r"^agent.model: the discriminator loss is nan; the weights before"):
        model.update(hand_batch(), optimizers, what="agent.model")
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert optimizers["discriminator"].state_dict()["state"][0]["step"].item() == adam_steps


def test_next_state_tv_of_a_point_mass_by_hand():
    """State 0 goes to 1 (on) or 2 (terminated), 1/2 each; state 1 stays, terminated; state 2 is reached only by
    terminating, so the pairs are (0, 0) and (1, 0). A model that always says 1: TV 0.5 and 0."""
    from rl_platform.mdp import model_from_outcomes
    from rl_platform.model_eval import discrete_next_state_tv

    table = model_from_outcomes([[[(0.5, 1, 0.0, False), (0.5, 2, 1.0, True)]], [[(1.0, 1, 0.0, True)]],
                                 [[(1.0, 2, 0.0, True)]]], np.array([1.0, 0.0, 0.0]))
    model = MLPWorldModel(gym.spaces.Discrete(3), gym.spaces.Discrete(1), MLPModelConfig(hidden_sizes=[]))
    with torch.no_grad():
        model.net[0].weight.zero_()
        model.net[0].bias.copy_(torch.tensor([0.0, 5.0, 0.0, 0.0, 0.0]))
    result = discrete_next_state_tv(model, table, samples=50)
    assert result["pairs"] == 2 and result["per_pair_tv"] == pytest.approx([0.5, 0.0])
    assert result["tv"] == pytest.approx(0.25) and 0 < result["floor"] < 0.25


# -- rlp pretrain ----------------------------------------------------------------------------------------------------

TINY = ["pretrain.dataset=test/frozenlake-random-v0", "pretrain.objective.model.generator_hidden_sizes=[16]",
        "pretrain.objective.model.discriminator_hidden_sizes=[16]", "pretrain.batch_size=64",
        "pretrain.validate_every=10", "pretrain.validation_fraction=0.2", "train.eval_episodes=1",
        "train.checkpoint_every=0", "log.log_every=10"]


@pytest.fixture
def frozenlake_data(tmp_path, monkeypatch):
    from rl_platform.collect import collect

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    collect("test/frozenlake-random-v0", policy="random", env_id="rlp/FrozenLake8x8-v1", num_envs=8, steps=2000,
            seed=0)


def rlp_pretrain(*args: str) -> None:
    assert cli.main(["pretrain", *args, "--quiet"]) == 0


def test_gan_pretrain_names_its_optimizers_logs_its_losses_and_resumes(tmp_path, frozenlake_data):
    config = "configs/world_model_gan_frozenlake.yaml"
    rlp_pretrain(config, *TINY, "pretrain.steps=40", "--run-dir", str(tmp_path / "straight"))
    rlp_pretrain(config, *TINY, "pretrain.steps=20", "--run-dir", str(tmp_path / "resumed"))
    rlp_pretrain("--resume", str(tmp_path / "resumed"), "train.total_steps=40")
    straight, resumed = (load_checkpoint(tmp_path / name / "checkpoints" / "latest.pt")
                         for name in ("straight", "resumed"))
    assert set(straight["optimizers"]) == {"generator", "discriminator"} and resumed["global_step"] == 40
    assert straight["objective"].keys() == resumed["objective"].keys()
    assert all(torch.equal(straight["objective"][key], resumed["objective"][key]) for key in straight["objective"])
    events = EventAccumulator(str(tmp_path / "straight"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"pretrain/generator", "pretrain/discriminator", "pretrain/val_generator", "pretrain/loss"} <= tags


def test_gan_pretrain_stops_on_a_non_finite_loss_with_the_last_finite_step(tmp_path, frozenlake_data, monkeypatch,
                                                                           capsys):
    from rl_platform.world_models.gan import AdversarialWorldModel

    original, calls = AdversarialWorldModel.generator_loss, []

    def nan_on_the_fifth(self, data):
        total, figures = original(self, data)
        calls.append(1)
        return (total * math.nan, {**figures, "generator": math.nan}) if len(calls) == 5 else (total, figures)

    monkeypatch.setattr(AdversarialWorldModel, "generator_loss", nan_on_the_fifth)
    run_dir = tmp_path / "run"
    assert cli.main(["pretrain", "configs/world_model_gan_frozenlake.yaml", *TINY, "pretrain.steps=30",
                     "pretrain.validate_every=0", "--run-dir", str(run_dir), "--quiet"]) != 0
    error = capsys.readouterr().err
    assert "pretrain.objective 'world_model' at gradient step 5: the generator loss is nan" in error, error
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert checkpoint["global_step"] == 4
    assert all(torch.isfinite(value).all() for value in checkpoint["objective"].values())
