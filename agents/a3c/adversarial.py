"""GAIL (Ho & Ermon, 2016) and AIRL (Fu et al., 2018) on the A2C/A3C learner: the policy is the GAN's generator,
a discriminator learned against expert transitions gives its reward. Importing this module registers 'gail' and
'airl'.

Read top to bottom: the options (A3C's plus the adversarial ones), the agent (an A3C agent whose `update` first
trains the discriminator on the rollout and relabels the rollout's rewards with it:
:class:`rl_platform.imitation.adversarial.AdversarialReward`), the synchronous loop (A2C) and the asynchronous one
(A3C worker processes: every worker holds a copy of the shared discriminator and applies its gradients to it
lock-free, as it does the policy's). The episodic returns logged are the env's own rewards; the discriminator's
figures are `losses/disc_*` and `charts/disc_accuracy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl_platform.agents.a3c import pretrain_network, raw_actions, run_label
from rl_platform.agents.a3c.a3c import A2CLoop, A3CAgent, A3CConfig, build_model, build_optimizer, make_agent
from rl_platform.agents.a3c.hogwild import HogwildLoop
from rl_platform.agents.a3c.shared_optim import OPTIMIZERS, SharedOptimizer
from rl_platform.components import Component, component_option, normalize_components
from rl_platform.config import ExperimentConfig
from rl_platform.errors import ConfigError
from rl_platform.imitation.adversarial import REWARD_FORMS, AdversarialReward
from rl_platform.imitation.discriminators import (
    AIRLDiscriminator,
    Discriminator,
    DiscriminatorBatch,
    build_discriminator,
)
from rl_platform.imitation.expert import ExpertData, load_expert
from rl_platform.logger import Progress
from rl_platform.nn import ActorCritic
from rl_platform.options import option
from rl_platform.registry import AGENTS, DISCRIMINATORS, AgentSpec
from rl_platform.rollout import Rollout
from rl_platform.run import Run, seed_for
from rl_platform.trainer import Advance, fit


@dataclass
class GAILConfig(A3CConfig):
    """GAIL's options (the `agent:` section): A3C / A2C's, plus the expert data and the discriminator."""

    expert: str | None = option(None, "expert dataset (a Minari dataset id or a dataset directory; required), e.g. "
                                "made with `rlp collect --from RUN_DIR --env ENV --episodes N --out ID`")
    expert_episodes: int | None = option(None, "use the dataset's first N episodes (null: all)", ge=1)
    discriminator: Component = component_option(
        DISCRIMINATORS, "sa", "the discriminator: sa (D(s,a)), sas (D(s,a,s')), airl, or a plugin's; a name or "
        "{name: ..., <option>: ...}")
    reward_form: str = option("-log(1-D)", "the agent's reward from D: -log(1-D) (GAIL), log(D), or "
                              "log(D)-log(1-D) (the logit; AIRL's)", choices=tuple(REWARD_FORMS))
    disc_updates: int = option(1, "discriminator gradient steps after every rollout", ge=1)
    disc_batch: int = option(256, "agent and expert transitions (each) per discriminator step", ge=1)
    disc_lr: float = option(3e-4, "Adam learning rate of the discriminator", gt=0)
    gp_weight: float = option(0.0, "weight of the gradient penalty (between expert and agent inputs); 0: off",
                              ge=0)
    disc_entropy_coef: float = option(0.0, "bonus on the entropy of D's outputs (keeps it from certainty)", ge=0)
    label_smoothing: float = option(0.0, "one-sided label smoothing: expert targets 1 - this", ge=0, lt=0.5)
    disc_max_grad_norm: float = option(10.0, "gradient-norm clip of the discriminator (0: none)", ge=0)
    bc_warm_start_steps: int = option(0, "behaviour-cloning steps on the expert data before training (a fresh "
                                      "run only)", ge=0)
    bc_lr: float = option(1e-3, "Adam learning rate of the behaviour-cloning warm start", gt=0)
    bc_batch: int = option(256, "expert transitions per behaviour-cloning step", ge=1)
    collapse_updates: int = option(200, "warn when the discriminator has classified every row right for this "
                                   "many updates in a row (it has collapsed: the reward carries no signal)", ge=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        normalize_components(self, "agent")
        if self.backend == "ray":
            raise ConfigError("agent.backend", "gail and airl run with the torch backend (agent.backend=torch) or "
                              "agent.mode=sync; their Ray workers are not built yet.")


@dataclass
class AIRLConfig(GAILConfig):
    """AIRL's options: GAIL's, with the `airl` discriminator and the logit as the reward."""

    discriminator: Component = component_option(
        DISCRIMINATORS, "airl", "the airl discriminator (f = g(s) + gamma h(s') - h(s) against log pi); a name or "
        "{name: airl, <option>: ...}")
    reward_form: str = option("log(D)-log(1-D)", "the agent's reward from D (AIRL: the logit, f - log pi)",
                              choices=tuple(REWARD_FORMS))

    def __post_init__(self) -> None:
        super().__post_init__()
        if DISCRIMINATORS.get(self.discriminator.name, "agent.discriminator").build is not AIRLDiscriminator:
            raise ConfigError("agent.discriminator", f"airl needs the 'airl' discriminator, got "
                              f"'{self.discriminator.name}' (use agent: gail for the others).")


def expert_raw_actions(model: ActorCritic, expert: ExpertData) -> torch.Tensor:
    """The expert's env actions as the policy's raw actions (what its log-probabilities take)."""
    return raw_actions(model.policy_head, torch.as_tensor(expert.actions))


class AdversarialAgent(A3CAgent):
    """An A3C agent whose every update first trains the discriminator on the rollout, then takes D's rewards."""

    def __init__(self, cfg: GAILConfig, model: ActorCritic, reward: AdversarialReward,
                 target: ActorCritic | None = None, optimizer: SharedOptimizer | None = None) -> None:
        super().__init__(cfg, model, target, optimizer)
        self.reward = reward
        if optimizer is not None:
            self.optimizers["discriminator"] = reward.optimizer

    def log_probs(self, obs: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return self.model.policy(obs).log_prob(raw)

    def relabel(self, rollout: Rollout) -> dict[str, float]:
        """Train D on the rollout's valid transitions, then replace the rollout's rewards with D's."""
        valid = rollout.valid.reshape(-1)
        flat = lambda array: torch.as_tensor(array.reshape(-1, *array.shape[2:]))  # noqa: E731
        batch = DiscriminatorBatch(flat(rollout.obs), flat(rollout.env_actions), flat(rollout.next_obs),
                                   flat(rollout.terminations))
        raw = flat(rollout.raw_actions)
        rows = torch.as_tensor(np.flatnonzero(valid))
        valid_batch = DiscriminatorBatch(*(part[rows] for part in batch[:4]))
        stats = self.reward.update(valid_batch, raw[rows], self.log_probs)
        if self.reward.discriminator.uses_log_probs:
            with torch.no_grad():
                batch = batch._replace(log_probs=self.log_probs(batch.obs, raw))
        rewards = self.reward.rewards(batch).numpy().reshape(rollout.rewards.shape)
        rollout.rewards[:] = np.where(rollout.valid, rewards, 0.0)
        stats["disc_reward"] = float(rewards.reshape(-1)[valid].mean())
        return stats

    def update(self, rollout: Rollout) -> dict[str, float]:
        stats = self.relabel(rollout)
        return {**stats, **super().update(rollout)}

    def warm_start(self, progress: Progress) -> None:
        """`bc_warm_start_steps` steps of behaviour cloning (max log pi(a_E|s_E)) on the expert data."""
        cfg, expert = self.cfg, self.reward.expert
        if cfg.bc_warm_start_steps == 0:
            return
        optimizer = torch.optim.Adam(self.target.parameters(), lr=cfg.bc_lr)
        obs, raw = torch.as_tensor(expert.obs), self.reward.expert_raw
        loss = torch.zeros(())
        for _ in range(cfg.bc_warm_start_steps):
            rows = torch.as_tensor(expert.sample(cfg.bc_batch, self.reward.rng))
            loss = -self.target.policy(obs[rows]).log_prob(raw[rows]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if self.target is not self.model:
            self.pull()
        progress.message(f"agent.bc_warm_start_steps: {cfg.bc_warm_start_steps} behaviour-cloning steps on "
                         f"{len(expert)} expert transitions (final loss {loss.item():.3f})")

    def state_dict(self) -> dict:
        return {**super().state_dict(), "reward": self.reward.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if "reward" in state:  # (the discriminator's optimizer is one of the named ones A3CAgent restores)
            self.reward.load_state_dict(state["reward"])


def build_reward(cfg: GAILConfig, discriminator: Discriminator, expert: ExpertData, model: ActorCritic,
                 seed: int, target: Discriminator | None = None, state: Any = None) -> AdversarialReward:
    """The adversarial reward for `discriminator` (maybe a copy of the shared `target`, whose Adam statistics are
    `state`)."""
    optimizer = OPTIMIZERS["adam"]((target or discriminator).parameters(), cfg.disc_lr, state=state)
    return AdversarialReward(cfg, discriminator, expert, optimizer, seed, target, expert_raw_actions(model, expert))


def new_discriminator(cfg: GAILConfig, observation_space: gym.Space, action_space: gym.Space) -> Discriminator:
    discriminator = build_discriminator(cfg.discriminator, observation_space, action_space)
    if isinstance(discriminator, AIRLDiscriminator) and discriminator.cfg.gamma is None:
        discriminator.gamma = cfg.gamma
    return discriminator


def make_training_agent(cfg: ExperimentConfig, envs: gym.vector.VectorEnv, device: torch.device) -> AdversarialAgent:
    """A fresh agent to train: the actor-critic, the discriminator, the expert data (checked against the env's
    spaces). `rlp eval`, `rlp collect --from` and the like build A3C's plain agent (the policy; a checkpoint's
    discriminator is ignored), so they need no expert data."""
    if device.type != "cpu":
        raise ConfigError("train.device", f"{cfg.agent_name} runs on the CPU; set train.device=cpu.")
    torch.manual_seed(cfg.seed)
    obs_space, action_space = envs.single_observation_space, envs.single_action_space
    model = build_model(cfg.agent, cfg.model, obs_space, action_space)
    if cfg.agent.expert is None:
        raise ConfigError("agent.expert", f"{cfg.agent_name} needs an expert dataset (a Minari id or a dataset "
                          "directory); make one with `rlp collect --from RUN_DIR`.")
    expert = load_expert(cfg.agent.expert, obs_space, action_space, cfg.agent.expert_episodes)
    discriminator = new_discriminator(cfg.agent, obs_space, action_space)
    discriminator.fit_normalizer(torch.as_tensor(expert.obs))
    reward = build_reward(cfg.agent, discriminator, expert, model, seed_for(cfg.seed, 5))
    return AdversarialAgent(cfg.agent, model, reward, optimizer=build_optimizer(cfg.agent, model))


@dataclass
class WorkerExtension:
    """What an A3C worker needs to build its adversarial agent: the shared discriminator and its optimizer's
    shared statistics, and the expert data (every worker keeps its own copy)."""

    shared_discriminator: Discriminator
    optimizer_state: Any
    expert: ExpertData

    def worker_agent(self, cfg: ExperimentConfig, local: ActorCritic, shared_model: ActorCritic,
                     optimizer: SharedOptimizer, seed: int) -> AdversarialAgent:
        shared = self.shared_discriminator
        local_discriminator = new_discriminator(cfg.agent, *shared.spaces)
        local_discriminator.load_state_dict(shared.state_dict())
        reward = build_reward(cfg.agent, local_discriminator, self.expert, local, seed, shared, self.optimizer_state)
        return AdversarialAgent(cfg.agent, local, reward, shared_model, optimizer)


def warn_if_collapsed(stats: dict[str, float], cfg: GAILConfig, progress: Progress) -> None:
    """A progress-line warning when the discriminator has just been perfect for `collapse_updates` updates."""
    if stats.get("disc_collapse_streak") == cfg.collapse_updates:
        progress.message(f"warning: the discriminator has classified every expert and agent transition right for "
                         f"{cfg.collapse_updates} updates in a row (charts/disc_accuracy 1.0): it has collapsed and "
                         "its reward no longer guides the policy. Try agent.gp_weight, agent.label_smoothing, "
                         "agent.disc_entropy_coef or a lower agent.disc_lr.")


class AdversarialA2CLoop(A2CLoop):
    """A2C with the adversarial reward; a fresh run starts with the behaviour-cloning warm start."""

    def __init__(self, run: Run) -> None:
        super().__init__(run, make_training_agent, keep_transitions=True)
        self.run = run

    def start(self) -> None:
        if self.run.resumed is None:
            self.agent.warm_start(self.run.progress)

    def advance(self, step: int, max_steps: int) -> Advance:
        advance = super().advance(step, max_steps)
        warn_if_collapsed(advance.stats, self.agent.cfg, self.run.progress)
        return advance


class AdversarialHogwildLoop(HogwildLoop):
    """A3C worker processes with the adversarial reward on one shared discriminator."""

    def __init__(self, run: Run) -> None:
        super().__init__(run, make_training_agent)

    def start(self) -> None:
        if self.run.resumed is None:
            self.agent.warm_start(self.run.progress)
        super().start()

    def worker_extension(self) -> WorkerExtension:
        reward = self.agent.reward
        reward.target.share_memory()
        reward.optimizer.share_memory()
        return WorkerExtension(reward.target, reward.optimizer.shared, reward.expert)

    def advance(self, step: int, max_steps: int) -> Advance | None:
        advance = super().advance(step, max_steps)
        if advance is not None:
            warn_if_collapsed(advance.stats, self.cfg.agent, self.run.progress)
        return advance


def train(run: Run) -> dict:
    loop = AdversarialHogwildLoop(run) if run.cfg.agent.mode == "async" else AdversarialA2CLoop(run)
    return fit(run, loop)


def gail_label(cfg: GAILConfig) -> str:
    """`gail` (A2C: sync) or `gail-a3c` (worker processes); `airl`, `airl-a3c` likewise."""
    name = "airl" if isinstance(cfg, AIRLConfig) else "gail"
    return name if run_label(cfg) == "a2c" else f"{name}-a3c"


AGENTS.register("gail", AgentSpec(
    name="gail", config_cls=GAILConfig, train=train, make_agent=make_agent, label=gail_label,
    pretrain_network=pretrain_network,
    description="GAIL: A2C/A3C on the reward of a discriminator trained against expert transitions "
                "(agent.expert); discrete and continuous actions",
))
AGENTS.register("airl", AgentSpec(
    name="airl", config_cls=AIRLConfig, train=train, make_agent=make_agent, label=gail_label,
    pretrain_network=pretrain_network,
    description="AIRL: GAIL with the airl discriminator, whose recovered reward g(s) trains fresh agents "
                "(env.reward_model)",
))
