"""A3C (Mnih et al., 2016) and its synchronous variant A2C, for discrete and continuous actions.

Read top to bottom: config, the agent (act / update on an n-step rollout from
:class:`rl_platform.rollout.RolloutCollector`), then the synchronous training loop (driven by the core
trainer, :func:`rl_platform.trainer.fit`). The asynchronous loops (worker processes in `hogwild.py`, Ray
actors in `ray_backend.py`) run the same collector and `A3CAgent.compute_gradients`.
Bootstrapping follows Gymnasium's split: a terminated step has no future value; a truncated step
bootstraps from the value of its true final observation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from rl_platform.agents.a3c.shared_optim import OPTIMIZERS, SharedOptimizer
from rl_platform.config import ExperimentConfig, ModelConfig, option
from rl_platform.errors import ConfigError
from rl_platform.nn import ActorCritic, build_actor_critic, clip_grad_norm
from rl_platform.nn.numpy_actor import NumpyCategoricalActor
from rl_platform.policy import StatelessPolicy, load_optimizer_states, optimizer_states
from rl_platform.returns import gae_advantages, n_step_returns
from rl_platform.rollout import Rollout, RolloutCollector
from rl_platform.run import Run
from rl_platform.trainer import Advance, TrainLoop, fit


@dataclass
class A3CConfig:
    """A3C / A2C hyperparameters (the `agent:` section)."""

    mode: str = option("async", "'async': A3C worker processes on a shared model; 'sync': A2C on one vector env",
                       choices=("async", "sync"))
    backend: str = option("torch", "async workers as torch.multiprocessing processes ('torch') or Ray actors ('ray')",
                          choices=("torch", "ray"))
    num_workers: int = option(2, "async workers, each with its own vector env of env.num_envs envs", ge=1)
    n_steps: int = option(5, "steps per env in each rollout (the n of the n-step return)", ge=1)
    gamma: float = option(0.99, "discount factor", ge=0, le=1)
    gae_lambda: float = option(1.0, "1: advantage = n-step return - V(s) (A3C); < 1: GAE(lambda) advantages",
                               ge=0, le=1)
    reward_scale: float = option(1.0, "rewards are multiplied by this in the loss (not in logged returns)", gt=0)
    lr: float = option(7e-4, "learning rate at the start", gt=0)
    anneal_lr: bool = option(True, "anneal the learning rate linearly to 0 over train.total_steps")
    optimizer: str = option("rmsprop", "shared optimizer; its statistics are shared by all workers",
                            choices=tuple(OPTIMIZERS))
    rmsprop_alpha: float = option(0.99, "RMSProp decay of the squared-gradient average", gt=0, lt=1)
    optimizer_eps: float = option(1e-5, "optimizer epsilon", gt=0)
    ent_coef: float = option(0.01, "entropy bonus coefficient", ge=0)
    vf_coef: float = option(0.5, "value-loss coefficient", ge=0)
    max_grad_norm: float = option(0.5, "gradient-norm clip (0: no clipping)", ge=0)
    normalize_advantage: bool = option(False, "normalize advantages within each rollout")
    shared_encoder: bool = option(False, "actor and critic share one encoder (else each has its own)")
    log_std_init: float = option(0.0, "continuous actions: initial log standard deviation")
    state_dependent_std: bool = option(False, "continuous actions: log-std is a function of the state, not a vector")
    squash: str = option("clip", "continuous actions: map the Gaussian sample into the bounds by 'clip' or 'tanh'",
                         choices=("clip", "tanh"))
    max_restarts: int = option(3, "async: a worker that dies is restarted this many times in all, then training "
                               "stops with an error and a checkpoint", ge=0)
    start_method: str = option("forkserver", "torch backend: how worker processes start. 'fork': in milliseconds, "
                               "inheriting the trainer's imports and compiled env (CPU torch, workers use one "
                               "thread); 'forkserver': from a clean server process that imports torch first (about "
                               "1-2 s more); 'spawn': fresh interpreters", choices=("fork", "forkserver", "spawn"))
    ray_address: str | None = option(None, "ray backend: cluster address for ray.init ('auto', 'ray://host:10001'); "
                                     "null starts a local instance")
    ray_num_cpus: int | None = option(None, "ray backend: CPUs of a local instance (null: all)", ge=1)

    def __post_init__(self) -> None:
        if self.backend == "ray" and self.mode != "async":
            raise ConfigError("agent.backend", "'ray' runs asynchronous workers; it needs agent.mode=async.")


def annealed_lr(cfg: A3CConfig, step: int, total_steps: int) -> float:
    """`cfg.lr`, annealed linearly to 0 at `total_steps` if `cfg.anneal_lr`."""
    return cfg.lr * max(1.0 - step / total_steps, 0.0) if cfg.anneal_lr else cfg.lr


class A3CAgent(StatelessPolicy):
    """An actor-critic model, and the optimizer that applies its gradients to the (possibly shared) parameters.

    `model` computes the loss. `target` is the model whose parameters the optimizer updates: the same
    module in A2C; the shared-memory model in A3C, where `model` is the worker's local copy that
    is refreshed from `target` after every update.
    """

    def __init__(self, cfg: A3CConfig, model: ActorCritic, target: ActorCritic | None = None,
                 optimizer: SharedOptimizer | None = None) -> None:
        self.cfg = cfg
        self.model = model
        self.target = model if target is None else target
        # One named optimizer (an evaluation-only agent has none); its statistics may be shared by all workers.
        self.optimizers: dict[str, SharedOptimizer] = {} if optimizer is None else {"actor_critic": optimizer}
        self.lr = cfg.lr
        # Listed once: walking the module tree on every update costs about a tenth of a small model's update.
        self.model_params = list(self.model.parameters())
        self.target_params = list(self.target.parameters())
        # Acting in NumPy where the model allows (small MLP, categorical head): a quarter of torch's per-call cost.
        self.numpy_actor = NumpyCategoricalActor.of(model)
        self.action_rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))

    def sample(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw actions the loss needs, actions for the env), sampled from the policy."""
        if self.numpy_actor is not None:
            raw = self.numpy_actor.sample(obs, self.action_rng)
            return raw, raw + self.numpy_actor.start
        with torch.no_grad():
            raw = self.model.policy(torch.as_tensor(obs)).sample()
        return raw.numpy(), self.model.env_actions(raw)

    def act(self, obs: np.ndarray, state: None = None, explore: bool = False) -> tuple[np.ndarray, None]:
        if explore:
            return self.sample(obs)[1], None
        if self.numpy_actor is not None:
            return self.numpy_actor.greedy(obs), None
        with torch.no_grad():
            return self.model.env_actions(self.model.greedy(torch.as_tensor(obs))), None

    def value_targets(self, rollout: Rollout, values: np.ndarray) -> np.ndarray:
        """R_t, shape (T, num_envs): the n-step return (or GAE advantage + V(s_t) if gae_lambda < 1), bootstrapped
        from V(last_obs) and, for truncated steps, from V(final observation). Advantages are R_t - V(s_t)."""
        steps, num_envs = rollout.rewards.shape
        with torch.no_grad():
            bootstrap = self.model.value(torch.as_tensor(np.concatenate([rollout.last_obs, rollout.final_obs])))
        last_values = bootstrap[:num_envs].numpy()
        final_values = np.zeros((steps, num_envs), dtype=np.float32)
        t, i = rollout.final_index.T
        final_values[t, i] = bootstrap[num_envs:].numpy()
        rewards = rollout.rewards * self.cfg.reward_scale
        if self.cfg.gae_lambda < 1.0:
            return values + gae_advantages(rewards, rollout.terminations, rollout.truncations, values, final_values,
                                           last_values, self.cfg.gamma, self.cfg.gae_lambda)
        return n_step_returns(rewards, rollout.terminations, rollout.truncations, final_values, last_values,
                              self.cfg.gamma)

    def loss(self, rollout: Rollout) -> tuple[torch.Tensor, dict[str, float]]:
        """policy loss - ent_coef * entropy + vf_coef * value loss, averaged over valid steps."""
        dist, values = self.model(torch.as_tensor(rollout.obs).flatten(0, 1))
        returns = torch.as_tensor(self.value_targets(rollout, values.detach().numpy().reshape(rollout.rewards.shape)))
        returns = returns.flatten()
        valid = torch.as_tensor(rollout.valid).flatten().float()
        count = valid.sum().clamp(min=1.0)
        advantages = (returns - values).detach()
        if self.cfg.normalize_advantage:
            mean = (advantages * valid).sum() / count
            std = (((advantages - mean) ** 2 * valid).sum() / count).sqrt()
            advantages = (advantages - mean) / (std + 1e-8)
        log_probs = dist.log_prob(torch.as_tensor(rollout.raw_actions).flatten(0, 1))
        policy_loss = -(log_probs * advantages * valid).sum() / count
        value_loss = ((returns - values) ** 2 * valid).sum() / count
        entropy = (dist.entropy() * valid).sum() / count
        loss = policy_loss + self.cfg.vf_coef * value_loss - self.cfg.ent_coef * entropy
        return loss, {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                      "entropy": entropy.item()}

    def compute_gradients(self, rollout: Rollout) -> dict[str, float]:
        """Gradients of the loss (clipped) in `model`'s `.grad`; returns the stats."""
        loss, stats = self.loss(rollout)
        for param in self.model_params:
            if param.grad is not None:
                param.grad.zero_()
        loss.backward()
        if self.cfg.max_grad_norm > 0:
            present = [grad for grad in self.gradients() if grad is not None]
            stats["grad_norm"] = clip_grad_norm(present, self.cfg.max_grad_norm).item()
        return stats

    def gradients(self) -> list[torch.Tensor | None]:
        """`model`'s gradients, None for frozen parameters (`model.freeze`)."""
        return [p.grad for p in self.model_params]

    def apply_gradients(self, gradients: list[torch.Tensor | None]) -> None:
        """One optimizer step on `target` with `gradients` at the current learning rate (None: left as it is)."""
        for param, grad in zip(self.target_params, gradients, strict=True):
            param.grad = grad
        optimizer = self.optimizers["actor_critic"]
        optimizer.param_groups[0]["lr"] = self.lr
        optimizer.step()

    def update(self, rollout: Rollout) -> dict[str, float]:
        """Gradient step from one rollout (A2C; in A3C a lock-free step on the shared model, then a refresh)."""
        stats = self.compute_gradients(rollout)
        self.apply_gradients(self.gradients())
        if self.target is not self.model:
            self.pull()
        return stats

    def pull(self) -> None:
        """Copy `target`'s parameters into `model`."""
        with torch.no_grad():
            torch._foreach_copy_(self.model_params, self.target_params)

    def set_lr_for(self, step: int, total_steps: int) -> float:
        self.lr = annealed_lr(self.cfg, step, total_steps)
        return self.lr

    def state_dict(self) -> dict:
        return {"model": self.target.state_dict(), "torch_rng": torch.get_rng_state(),
                "action_rng": self.action_rng.bit_generator.state, "optimizers": optimizer_states(self.optimizers)}

    def load_state_dict(self, state: dict) -> None:
        self.target.load_state_dict(state["model"])
        if self.target is not self.model:
            self.pull()
        load_optimizer_states(self.optimizers, state)
        if "action_rng" in state:  # absent from checkpoints written before the NumPy actor
            self.action_rng.bit_generator.state = state["action_rng"]


def build_model(cfg: A3CConfig, model_cfg: ModelConfig, observation_space: gym.Space,
                action_space: gym.Space) -> ActorCritic:
    return build_actor_critic(observation_space, action_space, model_cfg, cfg.shared_encoder, cfg.log_std_init,
                              cfg.state_dependent_std, cfg.squash)


def build_optimizer(cfg: A3CConfig, model: ActorCritic, state: dict | None = None) -> SharedOptimizer:
    if cfg.optimizer == "rmsprop":
        return OPTIMIZERS["rmsprop"](model.parameters(), cfg.lr, cfg.rmsprop_alpha, cfg.optimizer_eps, state=state)
    return OPTIMIZERS["adam"](model.parameters(), cfg.lr, eps=cfg.optimizer_eps, state=state)


def make_agent(cfg: ExperimentConfig, envs: gym.vector.VectorEnv, device: torch.device) -> A3CAgent:
    """A fresh agent (model + optimizer) for `envs`' spaces; seeds torch from `cfg.seed`."""
    if device.type != "cpu":
        raise ConfigError("train.device", "a3c runs on the CPU (its workers are CPU processes); set train.device=cpu.")
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.agent, cfg.model, envs.single_observation_space, envs.single_action_space)
    return A3CAgent(cfg.agent, model, optimizer=build_optimizer(cfg.agent, model))


def train(run: Run) -> dict:
    if run.cfg.agent.mode == "async":
        if run.cfg.agent.backend == "ray":
            from rl_platform.agents.a3c.ray_backend import train_ray

            return train_ray(run)
        from rl_platform.agents.a3c.hogwild import train_async

        return train_async(run)
    return train_sync(run)


class A2CLoop(TrainLoop):
    """A2C: one vector env, one model, a gradient step after every rollout of n_steps x num_envs steps."""

    def __init__(self, run: Run, agent_factory: Callable[..., A3CAgent] = make_agent,
                 keep_transitions: bool = False) -> None:
        """`agent_factory(cfg, envs, device)` builds the agent (an A3CAgent or a subclass); `keep_transitions`
        keeps the env actions and next observations in every rollout."""
        self.total = run.cfg.train.total_steps
        self.envs = run.make_envs()
        self.policy = self.agent = agent_factory(run.cfg, self.envs, run.device)
        run.init_model(self.agent.model)
        self.collector = RolloutCollector(self.envs, run.cfg.agent.n_steps, run.env_seed, keep_transitions)

    def advance(self, step: int, max_steps: int) -> Advance:
        rollout = self.collector.collect(self.agent)
        self.agent.set_lr_for(step, self.total)
        stats = self.agent.update(rollout)
        return Advance(step + rollout.rewards.size, rollout.episode_returns, rollout.episode_lengths,
                       {**stats, "charts/learning_rate": self.agent.lr})

    def state_dict(self) -> dict:
        return {"agent": self.agent.state_dict(), "model": self.agent.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        torch.set_rng_state(state["agent"]["torch_rng"])

    def close(self) -> None:
        self.envs.close()


def train_sync(run: Run) -> dict:
    return fit(run, A2CLoop(run))
