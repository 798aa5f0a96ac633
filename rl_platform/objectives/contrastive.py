"""`contrastive`: temporal InfoNCE between an observation and the one `offset` steps later in the same episode
(ATC, Stooke et al., 2021; CURL's bilinear similarity, Laskin et al., 2020). Importing this module registers it.

Anchor features go through a projection head; the positive of anchor i is the projected future observation of
the same pair, and the other pairs' futures in the batch are its negatives. Similarity is cosine or bilinear,
divided by a temperature. With `momentum` > 0 the futures are encoded by an exponential moving average of the
encoder and projection (no gradient), as in ATC and MoCo; with 0 by the online ones.

No image augmentation: the usual random shift of CURL and ATC moves a 10 x 10 MinAtar frame by whole cells,
which changes where the ball and paddle are, i.e. what the observation means, rather than making a nuisance
change the features should ignore. The temporal offset alone defines the positives.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

from rl_platform.objectives.base import AgentNetwork, Batch, Objective
from rl_platform.options import option
from rl_platform.registry import OBJECTIVES, ComponentSpec


@dataclass
class ContrastiveConfig:
    """Options of the `contrastive` objective."""

    offset: int = option(3, "the positive of the observation at step t is the one at t + offset (same episode)",
                         ge=1)
    temperature: float = option(0.1, "InfoNCE temperature: logits are similarities divided by it", gt=0)
    projection_dim: int = option(128, "width of the projection head (a linear layer on the encoder's features)",
                                 ge=1)
    similarity: str = option("cosine", "'cosine' (of the projections) or 'bilinear' (z_t^T W z_t+k, CURL)",
                             choices=("cosine", "bilinear"))
    momentum: float = option(0.0, "EMA rate of the target encoder that encodes the futures (ATC: 0.99); 0: the "
                             "online encoder, with gradients through both sides", ge=0, lt=1)


class Contrastive(Objective):
    """InfoNCE: cross-entropy of the batch's similarity matrix (anchors x futures) with the diagonal as labels."""

    def __init__(self, network: AgentNetwork, observation_space: gym.Space, action_space: gym.Space,
                 cfg: ContrastiveConfig) -> None:
        super().__init__(network)
        self.cfg = cfg
        self.pair_offset = cfg.offset
        self.projection = nn.Linear(network.encoder.out_dim, cfg.projection_dim)
        self.bilinear = nn.Parameter(torch.eye(cfg.projection_dim)) if cfg.similarity == "bilinear" else None
        if cfg.momentum > 0:
            # Copied from the encoder as the objective is built, i.e. after model.init_from was applied.
            self.target_encoder: nn.Module | None = copy.deepcopy(network.encoder).requires_grad_(False)
            self.target_projection: nn.Module | None = copy.deepcopy(self.projection).requires_grad_(False)
        else:
            self.target_encoder = self.target_projection = None

    def logits(self, anchors: torch.Tensor, futures: torch.Tensor) -> torch.Tensor:
        """Similarities of every anchor projection (rows) to every future projection (columns) / temperature."""
        if self.bilinear is None:
            anchors = nn.functional.normalize(anchors, dim=1)
            futures = nn.functional.normalize(futures, dim=1)
            return anchors @ futures.T / self.cfg.temperature
        return anchors @ self.bilinear @ futures.T / self.cfg.temperature

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        if batch.future_obs is None:
            raise ValueError("contrastive needs batches with future_obs (a BatchSource with its pair_offset)")
        anchors = self.projection(self.network.encoder(batch.obs))
        if self.target_encoder is None:
            futures = self.projection(self.network.encoder(batch.future_obs))
        else:
            with torch.no_grad():
                futures = self.target_projection(self.target_encoder(batch.future_obs))
        logits = self.logits(anchors, futures)
        labels = torch.arange(len(batch), device=logits.device)
        loss = nn.functional.cross_entropy(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return loss, {"contrastive_loss": loss.item(), "accuracy": accuracy.item()}

    @torch.no_grad()
    def after_step(self) -> None:
        if self.target_encoder is None:
            return
        for target, online in ((self.target_encoder, self.network.encoder),
                               (self.target_projection, self.projection)):
            target_params, online_params = list(target.parameters()), list(online.parameters())
            if target_params:  # an encoder may have no parameters (an MLP without hidden layers)
                torch._foreach_lerp_(target_params, online_params, 1.0 - self.cfg.momentum)


OBJECTIVES.register("contrastive", ComponentSpec(
    name="contrastive", config_cls=ContrastiveConfig, build=Contrastive,
    description="temporal InfoNCE between an observation and the one `offset` steps later in its episode "
                "(ATC/CURL-style, in-batch negatives, optional momentum target encoder)"))
