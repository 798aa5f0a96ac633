"""The `gan` world model on bool image frames (MinAtar): the `frame` model's network as the generator and a
convolutional discriminator. Built by `rl_platform.world_models.gan.build_gan` for bool frame spaces; the losses and
the training step are those of :class:`rl_platform.world_models.gan.AdversarialWorldModel`.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rl_platform.nn.gan_losses import spectral_normalize
from rl_platform.world_models.base import Normalizer, Transition
from rl_platform.world_models.frame import FrameModelConfig, FrameNetwork, torch_dtype
from rl_platform.world_models.gan import (
    AdversarialWorldModel,
    Discriminator,
    GANModelConfig,
    Generated,
    straight_through_bernoulli,
)


class FrameDiscriminator(nn.Module):
    """D for frames: 3 x 3 convolutions over [frame, next frame, action planes], flattened and joined with the
    (normalised reward, termination), then an MLP. Its condition is [flat frame, one-hot action], its outcome
    [flat next frame, reward, termination], as for the vector discriminator."""

    def __init__(self, image: tuple[int, int, int], num_actions: int, cfg: GANModelConfig) -> None:
        super().__init__()
        self.image, self.num_actions = image, num_actions
        channels, height, width = image
        layers: list[nn.Module] = []
        in_channels = 2 * channels + num_actions
        for out_channels in cfg.discriminator_channels:
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
            in_channels = out_channels
        self.convs = nn.Sequential(*layers)
        self.head = Discriminator(in_channels * height * width, 2, cfg.discriminator_hidden_sizes, cfg.spectral_norm)
        if cfg.spectral_norm:
            spectral_normalize(self.convs)

    def forward(self, condition: torch.Tensor, outcome: torch.Tensor) -> torch.Tensor:
        channels, height, width = self.image
        cells, batch = channels * height * width, condition.shape[0]
        planes = condition[:, cells:, None, None].expand(-1, -1, height, width)
        images = torch.cat([condition[:, :cells].reshape(batch, channels, height, width),
                            outcome[:, :cells].reshape(batch, channels, height, width), planes], dim=1)
        return self.head(self.convs(images).reshape(batch, -1), outcome[:, cells:])


class FrameGANWorldModel(AdversarialWorldModel):
    """The GAN on bool image frames: the generator is the `frame` model's network with z as its extra input,
    every cell and the termination a straight-through Bernoulli; its reward head gives the normalised reward.
    The supervised terms are on the network's own reward and termination outputs (not conditioned on the drawn
    frame), and per-cell binary cross-entropy for `next_obs`."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, cfg: GANModelConfig) -> None:
        super().__init__(observation_space, action_space)
        self.cfg = cfg
        self.reward_norm = Normalizer(1)
        self.generator = FrameNetwork(observation_space, action_space, cfg.noise_dim,
                                      FrameModelConfig(hidden_sizes=list(cfg.generator_hidden_sizes)))
        self.frame_shape, self.frame_dtype = tuple(observation_space.shape), torch_dtype(observation_space)
        self.discriminator = FrameDiscriminator(self.generator.image_shape, self.generator.num_actions, cfg)

    def fit_normalizer(self, data: Transition) -> None:
        self.reward_norm.fit(data.rewards.reshape(-1, 1))

    def condition(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        one_hot = nn.functional.one_hot(actions.long().reshape(-1) - self.generator.action_start,
                                        self.generator.num_actions)
        return torch.cat([obs.float().reshape(obs.shape[0], -1), one_hot.float()], dim=-1)

    def real_outcome(self, data: Transition) -> torch.Tensor:
        rewards = self.reward_norm(data.rewards.float().reshape(-1, 1))
        return torch.cat([data.next_obs.float().reshape(data.next_obs.shape[0], -1), rewards,
                          data.terminations.float().reshape(-1, 1)], dim=-1)

    def generate(self, obs: torch.Tensor, actions: torch.Tensor, noise: torch.Tensor,
                 generator: torch.Generator | None = None, mode: bool = False) -> Generated:
        cell_logits, reward, termination_logit = self.generator(obs, actions, noise)
        state = cell_logits.reshape(obs.shape[0], -1)
        if mode:
            drawn, termination = (state > 0).to(state.dtype), (termination_logit > 0).to(state.dtype)
        else:
            drawn = straight_through_bernoulli(state, generator)
            termination = straight_through_bernoulli(termination_logit, generator)
        outcome = torch.cat([drawn, reward.unsqueeze(-1), termination.unsqueeze(-1)], dim=-1)
        return Generated(outcome, state, drawn, reward, termination, termination_logit)

    def supervised_losses(self, data: Transition, generated: Generated) -> dict[str, torch.Tensor]:
        rewards = self.reward_norm(data.rewards.float().reshape(-1, 1)).reshape(-1)
        cells = data.next_obs.float().reshape(generated.state.shape)
        return {"reward": (generated.reward - rewards).pow(2).mean(),
                "termination": nn.functional.binary_cross_entropy_with_logits(generated.termination_logit,
                                                                              data.terminations.float()),
                "next_obs": nn.functional.binary_cross_entropy_with_logits(generated.state, cells)}

    def next_obs(self, obs: torch.Tensor, generated: Generated) -> torch.Tensor:
        return (generated.drawn > 0.5).reshape(obs.shape[0], *self.frame_shape).to(self.frame_dtype)

    def reward(self, generated: Generated) -> torch.Tensor:
        return self.reward_norm.inverse(generated.reward.unsqueeze(-1)).squeeze(-1)
