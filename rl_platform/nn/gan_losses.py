"""The GAN losses, as functions of a discriminator's scores (logits), shared by the `gan` world model and the
adversarial-imitation discriminators (GAIL, AIRL): one implementation of each.

A score s is the logit of D = sigmoid(s), the probability that a sample is real (expert).
`nonsaturating` (Goodfellow et al., 2014): D minimises softplus(-s_real) + softplus(s_fake) (binary
cross-entropy), G minimises softplus(-s_fake). `wgan_gp` (Gulrajani et al., 2017): the critic minimises
s_fake - s_real + weight * gradient_penalty, G minimises -s_fake.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def nonsaturating_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor,
                                     label_smoothing: float = 0.0) -> torch.Tensor:
    """Binary cross-entropy of D with target 1 - `label_smoothing` on real rows (one-sided smoothing, Salimans et
    al., 2016) and 0 on fake rows; the mean over each batch, summed. With no smoothing:
    mean softplus(-s_real) + mean softplus(s_fake)."""
    real_targets = torch.full_like(real_scores, 1.0 - label_smoothing)
    return nn.functional.binary_cross_entropy_with_logits(real_scores, real_targets) \
        + nn.functional.softplus(fake_scores).mean()


def nonsaturating_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(D(fake)), a mean: the generator's non-saturating loss."""
    return nn.functional.softplus(-fake_scores).mean()


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """mean s_fake - mean s_real (WGAN's critic; add the gradient penalty)."""
    return fake_scores.mean() - real_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     mix: torch.Tensor) -> torch.Tensor:
    """mean over rows of (|d critic(x_hat) / d x_hat| - 1)^2 at x_hat = mix * real + (1 - mix) * fake, `mix` (B, 1)
    in [0, 1] (WGAN-GP); computed under `torch.no_grad()` too (validation)."""
    with torch.enable_grad():
        x_hat = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)
        gradients, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return (gradients.reshape(gradients.shape[0], -1).norm(dim=1) - 1).pow(2).mean()


def logit_entropy(scores: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the Bernoulli distributions sigmoid(scores): a bonus on it keeps D from certainty."""
    probs = torch.sigmoid(scores)
    return (nn.functional.softplus(scores) - probs * scores).mean()


def accuracy(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> float:
    """The fraction of rows D classifies right (real: s > 0, fake: s < 0), over both batches."""
    correct = (real_scores > 0).sum() + (fake_scores < 0).sum()
    return float(correct) / (real_scores.numel() + fake_scores.numel())


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Spectral norm (Miyato et al., 2018) on every Linear and Conv2d layer inside `module`, in place."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.utils.parametrizations.spectral_norm(layer)
    return module
