"""The adversarial reward of GAIL (Ho & Ermon, 2016) and AIRL (Fu et al., 2018): a discriminator trained to tell
the expert's transitions from the agent's, whose score becomes the agent's reward.

One update (`AdversarialReward.update`, after every rollout): `disc_updates` gradient steps, each on `disc_batch`
agent transitions of the rollout (drawn with replacement) and as many expert transitions, on the non-saturating
loss (binary cross-entropy, expert = 1, optional one-sided `label_smoothing`), minus `disc_entropy_coef` times the
mean entropy of D's Bernoulli outputs, plus `gp_weight` times the gradient penalty (WGAN-GP's, at points between an
expert and an agent input). Then `rewards` scores every transition of the rollout, by `reward_form`:

    -log(1 - D) = softplus(logit)     GAIL's default (positive: on an env that ends episodes, it pays to live)
    log(D) = -softplus(-logit)        (negative: pays to end episodes)
    log(D) - log(1 - D) = logit       AIRL's (for AIRL: f(s, a, s') - log pi(a|s))

The fixed-horizon envs (rlp/CartPoleFixed-v0, rlp/PendulumFixed-v0) end no episode early, so no form can be
rewarded by episode ends there. D may be a copy of a shared discriminator (A3C workers): the gradients computed
on the copy are applied to the shared one, whose parameters the copy then takes (as A3C does for the policy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from rl_platform.errors import TrainingFailed
from rl_platform.imitation.discriminators import Discriminator, DiscriminatorBatch
from rl_platform.imitation.expert import ExpertData
from rl_platform.nn import clip_grad_norm
from rl_platform.nn.gan_losses import accuracy, gradient_penalty, logit_entropy, nonsaturating_discriminator_loss

REWARD_FORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "-log(1-D)": nn.functional.softplus,
    "log(D)": lambda logits: -nn.functional.softplus(-logits),
    "log(D)-log(1-D)": lambda logits: logits,
}
LogProbs = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (obs, raw actions) -> log pi(a|s), (B,)


class AdversarialOptions(Protocol):
    """The agent options the adversarial reward reads (an agent config carries them)."""

    disc_updates: int
    disc_batch: int
    disc_lr: float
    gp_weight: float
    disc_entropy_coef: float
    label_smoothing: float
    disc_max_grad_norm: float
    reward_form: str


class AdversarialReward:
    """A discriminator (maybe a local copy of `target`), its optimizer (on `target`'s parameters) and the expert's
    transitions; `expert_raw` are the expert's actions as the policy's raw actions (for log pi, AIRL)."""

    def __init__(self, cfg: AdversarialOptions, discriminator: Discriminator, expert: ExpertData, optimizer: Any,
                 seed: int, target: Discriminator | None = None, expert_raw: torch.Tensor | None = None) -> None:
        self.cfg = cfg
        self.discriminator = discriminator
        self.target = discriminator if target is None else target
        self.optimizer = optimizer
        self.params = list(discriminator.parameters())
        self.target_params = list(self.target.parameters())
        self.expert = expert
        self.expert_tensors = [torch.as_tensor(array) for array in
                               (expert.obs, expert.actions, expert.next_obs, expert.terminations)]
        self.expert_raw = expert_raw
        self.rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator().manual_seed(int(self.rng.integers(0, 2**62)))
        self.collapse_streak = 0  # consecutive updates that ended with D classifying every row right

    def expert_batch(self, indices: np.ndarray, log_probs: LogProbs | None) -> DiscriminatorBatch:
        rows = torch.as_tensor(indices)
        obs, actions, next_obs, terminations = (tensor[rows] for tensor in self.expert_tensors)
        policy_log_probs = None
        if self.discriminator.uses_log_probs:
            with torch.no_grad():
                policy_log_probs = log_probs(obs, self.expert_raw[rows])
        return DiscriminatorBatch(obs, actions, next_obs, terminations, policy_log_probs)

    def loss(self, expert: DiscriminatorBatch, agent: DiscriminatorBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The discriminator's loss on an expert and an agent batch (module docstring), and its figures."""
        cfg, discriminator = self.cfg, self.discriminator
        expert_inputs, agent_inputs = discriminator.inputs(expert), discriminator.inputs(agent)
        expert_scores = discriminator.score(expert_inputs, expert)
        agent_scores = discriminator.score(agent_inputs, agent)
        loss = nonsaturating_discriminator_loss(expert_scores, agent_scores, cfg.label_smoothing)
        entropy = logit_entropy(torch.cat([expert_scores, agent_scores]))
        figures = {"disc_expert_logit": float(expert_scores.detach().mean()),
                   "disc_agent_logit": float(agent_scores.detach().mean()),
                   "charts/disc_accuracy": accuracy(expert_scores.detach(), agent_scores.detach()),
                   "disc_entropy": float(entropy.detach())}
        if cfg.disc_entropy_coef > 0:
            loss = loss - cfg.disc_entropy_coef * entropy
        if cfg.gp_weight > 0:
            mix = torch.rand(len(agent_inputs), 1, generator=self.torch_rng)
            penalty = gradient_penalty(lambda inputs: discriminator.critic(inputs, agent), expert_inputs,
                                       agent_inputs, mix)
            loss = loss + cfg.gp_weight * penalty
            figures["disc_gradient_penalty"] = float(penalty.detach())
        return loss, {"disc_loss": float(loss.detach()), **figures}

    def update(self, agent: DiscriminatorBatch, agent_raw: torch.Tensor, log_probs: LogProbs | None
               ) -> dict[str, float]:
        """`disc_updates` steps on the agent transitions `agent` (their raw actions `agent_raw`) against the expert's;
        the last step's figures and `disc_collapse_streak`. A non-finite loss raises TrainingFailed, weights as
        they were."""
        cfg, figures = self.cfg, {}
        for _ in range(cfg.disc_updates):
            rows = torch.as_tensor(self.rng.integers(0, len(agent.obs), size=cfg.disc_batch))
            agent_log_probs = None
            if self.discriminator.uses_log_probs:
                with torch.no_grad():
                    agent_log_probs = log_probs(agent.obs[rows], agent_raw[rows])
            agent_rows = DiscriminatorBatch(agent.obs[rows], agent.actions[rows], agent.next_obs[rows],
                                            agent.terminations[rows], agent_log_probs)
            loss, figures = self.loss(self.expert_batch(self.expert.sample(cfg.disc_batch, self.rng), log_probs),
                                      agent_rows)
            if not np.isfinite(figures["disc_loss"]):
                raise TrainingFailed(f"the discriminator's loss is {figures['disc_loss']} ({figures}); the weights "
                                     "were left as they were.")
            self.step(loss)
        self.collapse_streak = self.collapse_streak + 1 if figures["charts/disc_accuracy"] == 1.0 else 0
        return {**figures, "disc_collapse_streak": float(self.collapse_streak)}

    def step(self, loss: torch.Tensor) -> None:
        """Gradients of `loss` (clipped to `disc_max_grad_norm`) applied to the target's parameters."""
        for param in self.params:
            param.grad = None
        loss.backward()
        if self.cfg.disc_max_grad_norm > 0:
            clip_grad_norm([p.grad for p in self.params if p.grad is not None], self.cfg.disc_max_grad_norm)
        for target, param in zip(self.target_params, self.params, strict=True):
            target.grad = param.grad
        self.optimizer.param_groups[0]["lr"] = self.cfg.disc_lr
        self.optimizer.step()
        if self.target is not self.discriminator:
            with torch.no_grad():
                torch._foreach_copy_(self.params, self.target_params)

    @torch.no_grad()
    def rewards(self, batch: DiscriminatorBatch) -> torch.Tensor:
        """The agent's reward for each transition of `batch` (`reward_form` of D's logit), (B,)."""
        return REWARD_FORMS[self.cfg.reward_form](self.discriminator(batch))

    def state_dict(self) -> dict:
        return {"discriminator": self.target.state_dict(), "rng": self.rng.bit_generator.state,
                "torch_rng": self.torch_rng.get_state(), "collapse_streak": self.collapse_streak}

    def load_state_dict(self, state: dict) -> None:
        self.target.load_state_dict(state["discriminator"])
        if self.target is not self.discriminator:
            self.discriminator.load_state_dict(state["discriminator"])
        self.rng.bit_generator.state = state["rng"]
        self.torch_rng.set_state(state["torch_rng"])
        self.collapse_streak = int(state["collapse_streak"])
