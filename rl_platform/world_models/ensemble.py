"""`ensemble`: K probabilistic members, PETS/MBPO-style (Chua et al., 2018; Janner et al., 2019); importing this
module registers it.

Each member is an MLP on [normalised observation, action] whose output is a Gaussian over (normalised state
change, reward) (mean and log-variance, the log-variance kept between learned bounds by softplus as in PETS)
plus a termination logit. The members are evaluated together as batched matrix products. Every member trains
on the same batches from its own random initialisation; its loss is the Gaussian negative log-likelihood
(beta-NLL: each term weighted by its variance^beta, so that a nearly deterministic target, whose variance goes
to the lower bound, does not dominate the gradients), a small penalty that keeps the learned log-variance bounds
tight, and binary cross-entropy on termination.

An imagined step picks one member per row uniformly at random and samples from its Gaussian (PETS's "TS1"
propagation). The uncertainty of a step is the members' disagreement: the standard deviation of their mean
predictions of the normalised next observation, averaged over its dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

from rl_platform.nn.layers import check_widths
from rl_platform.options import option
from rl_platform.registry import WORLD_MODELS, ComponentSpec
from rl_platform.world_models.base import Imagined, Transition
from rl_platform.world_models.mlp import VectorWorldModel

LOGVAR_BOUND_PENALTY = 0.01


@dataclass
class EnsembleConfig:
    """Options of the `ensemble` world model."""

    members: int = option(5, "number of ensemble members", ge=1)
    hidden_sizes: list[int] = option([200, 200], "hidden layers of each member")
    termination_weight: float = option(1.0, "weight of the termination loss (binary cross-entropy)", ge=0)
    beta: float = option(0.5, "beta-NLL exponent: 0 is the plain Gaussian NLL, 1 gives the means MSE gradients",
                         ge=0, le=1)

    def __post_init__(self) -> None:
        check_widths(self.hidden_sizes)


class EnsembleLinear(nn.Module):
    """K independent linear layers applied to (K, B, in) at once; each initialised like nn.Linear."""

    def __init__(self, members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleWorldModel(VectorWorldModel):
    """K members: (mean, log-variance) of [normalised delta, reward] and a termination logit each."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, cfg: EnsembleConfig) -> None:
        super().__init__(observation_space, action_space, "ensemble")
        self.cfg = cfg
        self.target_dim = self.spaces.obs_dim + 1  # state change and reward
        widths = [self.input_dim, *cfg.hidden_sizes]
        layers: list[nn.Module] = []
        for in_dim, out_dim in zip(widths[:-1], widths[1:], strict=True):
            layers += [EnsembleLinear(cfg.members, in_dim, out_dim), nn.SiLU()]
        layers.append(EnsembleLinear(cfg.members, widths[-1], 2 * self.target_dim + 1))
        self.net = nn.Sequential(*layers)
        self.max_logvar = nn.Parameter(torch.full((self.target_dim,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((self.target_dim,), -10.0))

    def predict(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean (K, B, D + 1), bounded log-variance (K, B, D + 1), termination logit (K, B)); the last target
        column is the reward."""
        out = self.net(self.inputs(obs, actions).unsqueeze(0).expand(self.cfg.members, -1, -1))
        mean, raw_logvar = out[..., :self.target_dim], out[..., self.target_dim:2 * self.target_dim]
        logvar = self.max_logvar - nn.functional.softplus(self.max_logvar - raw_logvar)
        logvar = self.min_logvar + nn.functional.softplus(logvar - self.min_logvar)
        return mean, logvar, out[..., -1]

    def loss(self, data: Transition) -> tuple[torch.Tensor, dict[str, float]]:
        mean, logvar, termination = self.predict(data.obs, data.actions)
        target = torch.cat([self.norm.target(data), data.rewards.float().unsqueeze(-1)], dim=-1)
        squared = (mean - target).pow(2)
        # beta-NLL (Seitzer et al., 2022): each term weighted by its own variance^beta (no gradient through the
        # weight), so a near-deterministic target (CartPole's constant reward) cannot swamp the shared layers.
        weight = torch.exp(self.cfg.beta * logvar.detach())
        nll = (weight * (squared * torch.exp(-logvar) + logvar)).mean()
        bounds = LOGVAR_BOUND_PENALTY * (self.max_logvar.sum() - self.min_logvar.sum())
        termination_loss = nn.functional.binary_cross_entropy_with_logits(
            termination, data.terminations.float().expand_as(termination))
        total = nll + bounds + self.cfg.termination_weight * termination_loss
        squared = squared.detach()
        return total, {"nll": float(nll.detach()), "next_obs_mse": float(squared[..., :-1].mean()),
                       "reward_mse": float(squared[..., -1].mean()), "termination": float(termination_loss.detach())}

    @torch.no_grad()
    def point_prediction(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.norm.next_obs(obs, self.predict(obs, actions)[0][..., :-1].mean(0))

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None) -> Imagined:
        mean, logvar, termination = self.predict(obs, actions)
        rows = torch.arange(obs.shape[0], device=obs.device)
        member = torch.randint(0, self.cfg.members, (obs.shape[0],), generator=generator, device=obs.device)
        noise = torch.randn(mean.shape[1:], generator=generator, device=obs.device)
        drawn = mean[member, rows] + torch.exp(0.5 * logvar[member, rows]) * noise
        disagreement = mean[..., :-1].std(0, unbiased=False).mean(-1) if self.cfg.members > 1 \
            else torch.zeros(obs.shape[0], device=obs.device)
        return Imagined(self.norm.next_obs(obs, drawn[:, :-1]), drawn[:, -1], termination[member, rows] > 0,
                        disagreement)


WORLD_MODELS.register("ensemble", ComponentSpec(
    "ensemble", EnsembleConfig, EnsembleWorldModel,
    "K Gaussian MLP members (PETS/MBPO): sampled next state and reward, disagreement as uncertainty"))
