"""`gan`: a conditional GAN world model, for stochastic transitions that a deterministic model averages away
(slippery FrozenLake, MinAtar spawns); importing this module registers it.

The generator G(enc(s), a, z), z ~ N(0, I), draws the next state, then the reward and the termination given it;
the discriminator D(s, a, s', r, termination) scores a transition, real or generated. What D sees of an outcome
(s', r, termination) is one flat vector: the normalised state change (1-D float Box observations), the one-hot
next state (Discrete observations, drawn from the generator's logits by straight-through Gumbel-softmax, so D
sees exact one-hot vectors and G still gets gradients), or the next frame's cells (MinAtar's bool frames: the
`frame` model's network as the generator, every cell a straight-through Bernoulli: gan_frames.py); then the
normalised reward (with `reward_noise` added, real and generated alike: instance noise, so that D cannot tell a
real reward by its exact value) and the termination (a straight-through Bernoulli, 0 or 1).

Losses (`loss`): `nonsaturating` (Goodfellow et al., 2014): D minimises softplus(-D(real)) + softplus(D(fake)),
G minimises softplus(-D(fake)); `wgan_gp` (Gulrajani et al., 2017): D minimises D(fake) - D(real) +
gradient_penalty * (|grad D(x_hat)| - 1)^2 at x_hat between a real and a generated outcome of the same (s, a), G
minimises -D(fake). Optionally spectral norm (Miyato et al., 2018) on D's layers. To the generator's loss a small
supervised term is added: the reward (mean squared error, normalised units) and termination (binary
cross-entropy) predicted from the *real* next state, `supervised_weight` times; the next state itself is
learned adversarially alone unless `next_obs_weight` > 0 (then also by cross-entropy / mean squared error).

Training is the model's own step (:meth:`AdversarialWorldModel.update`) with two named optimizers, `generator` and
`discriminator`: `discriminator_steps` discriminator steps (each on the same real batch with fresh generated
outcomes), then one generator step. Every loss is checked finite before it reaches the weights; a non-finite one
restores the discriminator as it was before the call and raises TrainingFailed naming it.

A step (`sample`) draws z, the Gumbel and Bernoulli noise from the passed torch generator. The point prediction
is the generator at z = 0 (the mode of z's distribution): the state change there, the most likely next state of
its logits (Discrete), the cells above probability 0.5 (frames). Discrete next states come back as integer
states (B,) int64, like the env's observations.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.errors import TrainingFailed
from rl_platform.nn import clip_grad_norm
from rl_platform.nn.gan_losses import (
    gradient_penalty,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    spectral_normalize,
    wasserstein_critic_loss,
)
from rl_platform.nn.layers import check_widths, mlp
from rl_platform.options import option
from rl_platform.registry import WORLD_MODELS, ComponentSpec
from rl_platform.world_models.base import Imagined, Normalizer, Transition, WorldModel, check_finite
from rl_platform.world_models.mlp import VectorWorldModel

LOSSES = ("nonsaturating", "wgan_gp")


@dataclass
class GANModelConfig:
    """Options of the `gan` world model."""

    loss: str = option("nonsaturating", "nonsaturating (Goodfellow et al., 2014) or wgan_gp (Wasserstein loss "
                       "with gradient penalty, Gulrajani et al., 2017)", choices=LOSSES)
    gradient_penalty: float = option(10.0, "wgan_gp: weight of the gradient penalty", ge=0)
    spectral_norm: bool = option(False, "spectral normalisation of every layer of the discriminator")
    noise_dim: int = option(8, "width of the generator's noise z ~ N(0, I)", ge=1)
    generator_hidden_sizes: list[int] = option([256, 256], "hidden layers of the generator's networks (vector "
                                               "and discrete states; frames use `frame`'s network)")
    discriminator_hidden_sizes: list[int] = option([256, 256], "hidden layers of the discriminator's MLP")
    discriminator_steps: int = option(1, "discriminator steps per generator step", ge=1)
    supervised_weight: float = option(1.0, "weight of the supervised reward (MSE) and termination (BCE) terms, "
                                      "predicted from the real next state", ge=0)
    next_obs_weight: float = option(0.0, "weight of a supervised next-state term (cross-entropy for Discrete, "
                                    "MSE of the normalised state change for Box, BCE per cell for frames); "
                                    "0: the next state is learned adversarially alone", ge=0)
    reward_noise: float = option(0.1, "std of Gaussian noise added to the normalised reward the discriminator "
                                 "sees, real and generated alike (instance noise): a real reward is an exact "
                                 "value that a generated one never quite hits, and D would tell them apart by "
                                 "that alone", ge=0)
    temperature: float = option(1.0, "temperature of the straight-through Gumbel-softmax (the gradient's "
                                "softmax; samples are exact one-hot draws)", gt=0)
    discriminator_channels: list[int] = option([32, 32], "frames only: output channels of the discriminator's "
                                               "3 x 3 conv layers (before its MLP)")

    def __post_init__(self) -> None:
        check_widths(self.generator_hidden_sizes, "generator_hidden_sizes")
        check_widths(self.discriminator_hidden_sizes, "discriminator_hidden_sizes")
        check_widths(self.discriminator_channels, "discriminator_channels")


# -- straight-through draws ---------------------------------------------------------------------------------------


def gumbel(shape: torch.Size, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise, -log(-log(u)) with u uniform (kept off 0 and 1)."""
    uniforms = torch.rand(shape, generator=generator, device=device).clamp(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(uniforms))


def straight_through_categorical(logits: torch.Tensor, temperature: float,
                                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A one-hot draw from softmax(logits) (Gumbel-max, exact) whose gradient is that of the Gumbel-softmax."""
    soft = torch.softmax((logits + gumbel(logits.shape, generator, logits.device)) / temperature, dim=-1)
    hard = nn.functional.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return hard + soft - soft.detach()


def straight_through_bernoulli(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 draws from sigmoid(logits) whose gradient is that of the probability."""
    probs = torch.sigmoid(logits)
    hard = (torch.rand(logits.shape, generator=generator, device=logits.device) < probs).to(probs.dtype)
    return hard + probs - probs.detach()


class Discriminator(nn.Module):
    """D([condition, outcome]) -> score (B,): an MLP, spectrally normalised if asked."""

    def __init__(self, condition_dim: int, outcome_dim: int, hidden_sizes: list[int], spectral: bool) -> None:
        super().__init__()
        self.net = mlp(condition_dim + outcome_dim, hidden_sizes, 1)
        if spectral:
            spectral_normalize(self.net)

    def forward(self, condition: torch.Tensor, outcome: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, outcome], dim=-1)).squeeze(-1)


class Generated(NamedTuple):
    """One generated outcome of a batch. `outcome` is what the discriminator sees (B, outcome_dim), differentiable
    through the straight-through draws; `state` is the generator's raw next-state output (normalised state change,
    next-state logits or cell logits); `reward` is normalised; `termination` is 0/1."""

    outcome: torch.Tensor
    state: torch.Tensor
    drawn: torch.Tensor  # the drawn next state as the discriminator sees it
    reward: torch.Tensor
    termination: torch.Tensor
    termination_logit: torch.Tensor


class AdversarialWorldModel(WorldModel):
    """The GAN's losses and training step. Subclasses hold `generator` and `discriminator` (modules that own
    every parameter) and provide `condition` (what D is conditioned on), `generate`, `real_outcome` and
    `supervised_losses`."""

    cfg: GANModelConfig
    generator: nn.Module
    discriminator: nn.Module

    def condition(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """(s, a) as the discriminator's flat conditioning input (B, condition_dim)."""
        raise NotImplementedError

    def generate(self, obs: torch.Tensor, actions: torch.Tensor, noise: torch.Tensor,
                 generator: torch.Generator | None = None, mode: bool = False) -> Generated:
        """G(enc(s), a, z): draws (or, with `mode`, the most likely values) of the next state, reward, termination."""
        raise NotImplementedError

    def real_outcome(self, data: Transition) -> torch.Tensor:
        """The real (s', r, termination) as the discriminator sees it (B, outcome_dim)."""
        raise NotImplementedError

    def supervised_losses(self, data: Transition, generated: Generated) -> dict[str, torch.Tensor]:
        """The supervised terms: reward and termination given the real next state, and `next_obs`."""
        raise NotImplementedError

    def noise(self, batch: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(batch, self.cfg.noise_dim, generator=generator, device=device)

    def with_reward_noise(self, outcome: torch.Tensor) -> torch.Tensor:
        """The outcome with `reward_noise` added to its reward (the second-to-last column)."""
        if self.cfg.reward_noise == 0:
            return outcome
        noise = torch.zeros_like(outcome)
        noise[:, -2] = self.cfg.reward_noise * torch.randn(outcome.shape[0], device=outcome.device)
        return outcome + noise

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"generator": [p for p in self.generator.parameters() if p.requires_grad],
                "discriminator": [p for p in self.discriminator.parameters() if p.requires_grad]}

    def discriminator_loss(self, data: Transition) -> tuple[torch.Tensor, dict[str, float]]:
        """D's loss on real transitions and outcomes generated for the same (s, a) (no gradient into G)."""
        condition, real = self.condition(data.obs, data.actions), self.with_reward_noise(self.real_outcome(data))
        with torch.no_grad():
            fake = self.generate(data.obs, data.actions, self.noise(real.shape[0], real.device)).outcome
        fake = self.with_reward_noise(fake)
        real_scores, fake_scores = self.discriminator(condition, real), self.discriminator(condition, fake)
        figures = {"d_real": float(real_scores.detach().mean()), "d_fake": float(fake_scores.detach().mean())}
        if self.cfg.loss == "wgan_gp":
            mix = torch.rand(real.shape[0], 1, device=real.device)
            penalty = gradient_penalty(lambda outcome: self.discriminator(condition, outcome), real, fake, mix)
            total = wasserstein_critic_loss(real_scores, fake_scores) + self.cfg.gradient_penalty * penalty
            figures["gradient_penalty"] = float(penalty.detach())
        else:
            total = nonsaturating_discriminator_loss(real_scores, fake_scores)
        return total, {"discriminator": float(total.detach()), **figures}

    def generator_loss(self, data: Transition) -> tuple[torch.Tensor, dict[str, float]]:
        """G's adversarial loss on generated outcomes plus the weighted supervised terms."""
        generated = self.generate(data.obs, data.actions, self.noise(data.obs.shape[0], data.obs.device))
        fake_scores = self.discriminator(self.condition(data.obs, data.actions),
                                         self.with_reward_noise(generated.outcome))
        adversarial = nonsaturating_generator_loss(fake_scores) if self.cfg.loss == "nonsaturating" \
            else -fake_scores.mean()
        terms = self.supervised_losses(data, generated)
        total = adversarial + self.cfg.supervised_weight * (terms["reward"] + terms["termination"]) \
            + self.cfg.next_obs_weight * terms["next_obs"]
        return total, {"generator": float(adversarial.detach()),
                       **{name: float(term.detach()) for name, term in terms.items()}}

    def loss(self, data: Transition) -> tuple[torch.Tensor, dict[str, float]]:
        """The generator's loss (what validation reports as the loss), with the discriminator's figures."""
        discriminator_total, discriminator_figures = self.discriminator_loss(data)
        total, figures = self.generator_loss(data)
        return total, {**figures, **discriminator_figures}

    def update(self, data: Transition, optimizers, max_grad_norm: float = 0.0,
               what: str = "world model") -> dict[str, float]:
        """`discriminator_steps` discriminator steps, then one generator step; see the module docstring."""
        discriminator_optimizer, generator_optimizer = optimizers["discriminator"], optimizers["generator"]
        saved = copy.deepcopy((self.discriminator.state_dict(), discriminator_optimizer.state_dict()))
        try:
            for _ in range(self.cfg.discriminator_steps):
                discriminator_total, discriminator_figures = self.discriminator_loss(data)
                check_finite(discriminator_figures["discriminator"], discriminator_figures, what)
                take_step(discriminator_optimizer, discriminator_total, self.discriminator, max_grad_norm)
            total, figures = self.generator_loss(data)
            check_finite(float(total.detach()), figures, what)
        except TrainingFailed:
            self.discriminator.load_state_dict(saved[0])
            discriminator_optimizer.load_state_dict(saved[1])
            raise
        take_step(generator_optimizer, total, self.generator, max_grad_norm)
        return {"loss": float(total.detach()), **figures, **discriminator_figures}

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None) -> Imagined:
        generated = self.generate(obs, actions, self.noise(obs.shape[0], obs.device, generator), generator)
        return Imagined(self.next_obs(obs, generated), self.reward(generated), generated.termination > 0.5,
                        torch.zeros(obs.shape[0], device=obs.device))

    @torch.no_grad()
    def point_prediction(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        noise = torch.zeros(obs.shape[0], self.cfg.noise_dim, device=obs.device)
        return self.next_obs(obs, self.generate(obs, actions, noise, mode=True))

    def next_obs(self, obs: torch.Tensor, generated: Generated) -> torch.Tensor:
        """The next observation of a generated outcome, in the observation space's terms."""
        raise NotImplementedError

    def reward(self, generated: Generated) -> torch.Tensor:
        """The reward of a generated outcome, in the env's units."""
        raise NotImplementedError


def take_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, module: nn.Module, max_grad_norm: float) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm > 0:
        clip_grad_norm([p.grad for p in module.parameters() if p.grad is not None], max_grad_norm)
    optimizer.step()


class VectorGenerator(nn.Module):
    """The next state from [condition, z]; the normalised reward and the termination logit from [condition, the
    drawn next state]."""

    def __init__(self, condition_dim: int, state_dim: int, noise_dim: int, hidden_sizes: list[int]) -> None:
        super().__init__()
        self.state = mlp(condition_dim + noise_dim, hidden_sizes, state_dim)
        self.outcome = mlp(condition_dim + state_dim, hidden_sizes, 2)


class VectorGANWorldModel(VectorWorldModel, AdversarialWorldModel):
    """The GAN on 1-D float Box observations (normalised state changes) or Discrete ones (one-hot next states)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, cfg: GANModelConfig) -> None:
        super().__init__(observation_space, action_space, "gan", discrete_obs=True)
        self.cfg = cfg
        self.reward_norm = Normalizer(1)
        state_dim = self.spaces.obs_dim
        self.generator = VectorGenerator(self.input_dim, state_dim, cfg.noise_dim, cfg.generator_hidden_sizes)
        self.discriminator = Discriminator(self.input_dim, state_dim + 2, cfg.discriminator_hidden_sizes,
                                           cfg.spectral_norm)

    def fit_normalizer(self, data: Transition) -> None:
        super().fit_normalizer(data)
        self.reward_norm.fit(data.rewards.reshape(-1, 1))

    def condition(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.inputs(obs, actions)

    def real_state(self, data: Transition) -> torch.Tensor:
        """The real next state as the discriminator sees it: one-hot, or the normalised state change."""
        return self.spaces.obs_one_hot(data.next_obs) if self.norm is None else self.norm.target(data)

    def real_outcome(self, data: Transition) -> torch.Tensor:
        rewards = self.reward_norm(data.rewards.float().reshape(-1, 1))
        return torch.cat([self.real_state(data), rewards, data.terminations.float().reshape(-1, 1)], dim=-1)

    def generate(self, obs: torch.Tensor, actions: torch.Tensor, noise: torch.Tensor,
                 generator: torch.Generator | None = None, mode: bool = False) -> Generated:
        condition = self.inputs(obs, actions)
        state = self.generator.state(torch.cat([condition, noise], dim=-1))
        drawn = state
        if self.norm is None:
            drawn = nn.functional.one_hot(state.argmax(-1), state.shape[-1]).to(state.dtype) if mode \
                else straight_through_categorical(state, self.cfg.temperature, generator)
        reward, termination_logit = self.generator.outcome(torch.cat([condition, drawn], dim=-1)).unbind(-1)
        termination = (termination_logit > 0).to(reward.dtype) if mode \
            else straight_through_bernoulli(termination_logit, generator)
        outcome = torch.cat([drawn, reward.unsqueeze(-1), termination.unsqueeze(-1)], dim=-1)
        return Generated(outcome, state, drawn, reward, termination, termination_logit)

    def supervised_losses(self, data: Transition, generated: Generated) -> dict[str, torch.Tensor]:
        condition, real_state = self.inputs(data.obs, data.actions), self.real_state(data)
        reward, termination_logit = self.generator.outcome(torch.cat([condition, real_state], dim=-1)).unbind(-1)
        rewards = self.reward_norm(data.rewards.float().reshape(-1, 1)).reshape(-1)
        if self.norm is None:
            next_obs = nn.functional.cross_entropy(generated.state, self.spaces.obs_index(data.next_obs))
        else:
            next_obs = (generated.state - real_state).pow(2).mean()
        return {"reward": (reward - rewards).pow(2).mean(), "termination":
                nn.functional.binary_cross_entropy_with_logits(termination_logit, data.terminations.float()),
                "next_obs": next_obs}

    def next_obs(self, obs: torch.Tensor, generated: Generated) -> torch.Tensor:
        if self.norm is None:
            return generated.drawn.argmax(-1) + self.spaces.obs_start
        return self.norm.next_obs(obs, generated.state)

    def reward(self, generated: Generated) -> torch.Tensor:
        return self.reward_norm.inverse(generated.reward.unsqueeze(-1)).squeeze(-1)


def build_gan(observation_space: gym.Space, action_space: gym.Space, cfg: GANModelConfig) -> AdversarialWorldModel:
    """The GAN for these spaces: bool image frames (MinAtar), else vector and discrete states."""
    if isinstance(observation_space, gym.spaces.Box) and observation_space.dtype == np.bool_:
        from rl_platform.world_models.gan_frames import FrameGANWorldModel  # it builds on this module

        return FrameGANWorldModel(observation_space, action_space, cfg)
    return VectorGANWorldModel(observation_space, action_space, cfg)


WORLD_MODELS.register("gan", ComponentSpec(
    "gan", GANModelConfig, build_gan,
    "conditional GAN: generator G(s, a, z) -> (s', r, termination) against a discriminator D(s, a, s', r, "
    "termination); for stochastic transitions (vector, discrete states and MinAtar frames)"))
