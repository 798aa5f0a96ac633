"""DQN (Mnih et al., 2015) with double-Q, dueling, n-step and prioritized replay, on vector envs; with
`agent.demos`, DQN from demonstrations (DQfD, Hester et al., 2018: the demo replay and losses are in `demos.py`);
with `agent.model`, Dyna-DQN: a world model learned online adds imagined transitions to every batch (`dyna.py`).

Read top to bottom: config, agent (act / update), then the training loop (the data source and update that
the core trainer, :func:`rl_platform.trainer.fit`, drives). Bootstrapping follows
Gymnasium's split: a terminated transition has no future value; a truncated one bootstraps from
the true final observation, which the replay buffer stores.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.agents.dqn.demos import DemoBatch, batch_split, dqfd_loss, load_demo_replay
from rl_platform.agents.dqn.dyna import Imagination, join_batches
from rl_platform.buffers import Batch, PrioritizedReplayBuffer, ReplayBuffer
from rl_platform.checkpoint import restore_rng_state, rng_state
from rl_platform.components import Component, component_option
from rl_platform.config import ExperimentConfig, option
from rl_platform.errors import ConfigError, EnvError
from rl_platform.nn import build_q_network, clip_grad_norm
from rl_platform.policy import StatelessPolicy, load_optimizer_states, optimizer_states
from rl_platform.registry import WORLD_MODELS
from rl_platform.rollout import VectorStepper
from rl_platform.run import Run, seed_for
from rl_platform.schedules import linear_schedule
from rl_platform.trainer import Advance, TrainLoop, fit


@dataclass
class DQNConfig:
    """DQN hyperparameters (the `agent:` section)."""

    lr: float = option(1e-3, "Adam learning rate", gt=0)
    gamma: float = option(0.99, "discount factor", ge=0, le=1)
    buffer_size: int = option(100_000, "replay capacity in transitions", ge=1)
    batch_size: int = option(64, "transitions per gradient step", ge=1)
    learning_starts: int = option(1_000, "environment steps collected before the first gradient step", ge=0)
    train_freq: int = option(1, "vector-env steps between rounds of gradient steps", ge=1)
    gradient_steps: int = option(1, "gradient steps per round", ge=1)
    target_update_interval: int = option(500, "gradient steps between target-network updates", ge=1)
    tau: float = option(1.0, "target update rate: 1.0 copies (hard), < 1 is Polyak averaging", gt=0, le=1)
    double: bool = option(True, "double DQN: online net picks the next action, target net rates it")
    dueling: bool = option(False, "dueling head: Q = V + A - mean(A)")
    n_step: int = option(1, "n-step returns", ge=1)
    prioritized: bool = option(False, "proportional prioritized replay")
    priority_alpha: float = option(0.6, "prioritization exponent", ge=0)
    priority_beta: float = option(0.4, "initial importance-sampling exponent, annealed to 1", ge=0, le=1)
    exploration_initial_eps: float = option(1.0, "epsilon at the start", ge=0, le=1)
    exploration_final_eps: float = option(0.05, "epsilon after the decay", ge=0, le=1)
    exploration_fraction: float = option(0.1, "fraction of train.total_steps over which epsilon decays",
                                         gt=0, le=1)
    loss: str = option("huber", "TD loss", choices=("huber", "mse"))
    max_grad_norm: float = option(10.0, "gradient-norm clip (0: no clipping)", ge=0)
    demos: str | None = option(None, "DQfD: dataset of expert demonstrations (a Minari dataset id or a dataset "
                               "directory), kept in a replay of its own that online data never overwrites "
                               "and rebuilt from the dataset on resume (not in replay.pt); null: plain DQN")
    demo_fraction: float = option(0.25, "DQfD: fraction of every batch drawn from the demonstrations", ge=0, lt=1)
    margin: float = option(0.8, "DQfD: large margin l(a_E, a) added to Q(s, a) for every a but the expert's",
                           ge=0)
    margin_weight: float = option(1.0, "DQfD: weight lambda_E of the large-margin loss on demo rows", ge=0)
    demo_n_step_weight: float = option(1.0, "DQfD: weight of the agent.n_step TD loss on demo rows, next to "
                                       "their 1-step TD loss", ge=0)
    demo_pretrain_steps: int = option(0, "DQfD: gradient steps on demonstrations alone before the first env "
                                      "step (a fresh run only)", ge=0)
    model: Component | None = component_option(
        WORLD_MODELS, None, "Dyna-DQN: a world model (mlp, ensemble, or a plugin's; a name or {name: ..., "
        "<option>: ...}) learned online from the replay, whose short rollouts from real replay states fill an "
        "imagined replay that every batch draws from (MBPO-style); null: plain DQN")
    model_lr: float = option(1e-3, "Dyna-DQN: Adam learning rate of the world model's optimizers", gt=0)
    model_batch_size: int = option(256, "Dyna-DQN: real transitions per world-model gradient step", ge=1)
    model_train_freq: int = option(25, "Dyna-DQN: vector-env steps between rounds of world-model gradient steps "
                                   "(once learning has started)", ge=1)
    model_gradient_steps: int = option(50, "Dyna-DQN: world-model gradient steps per round", ge=1)
    imagination_ratio: float = option(0.5, "Dyna-DQN: fraction of every batch drawn from imagined transitions "
                                      "(once there are enough)", ge=0, lt=1)
    rollout_horizon: int = option(1, "Dyna-DQN: model steps per imagined rollout", ge=1)
    rollout_batch_size: int = option(256, "Dyna-DQN: rollouts branched from real replay states before every "
                                     "round of agent gradient steps", ge=1)
    imagined_buffer_size: int = option(50_000, "Dyna-DQN: capacity of the imagined replay in transitions", ge=1)
    max_disagreement: float | None = option(
        None, "Dyna-DQN: a rollout stops before a step whose model uncertainty (the ensemble's disagreement, in "
        "normalised units) exceeds this; null: rollouts run to the horizon or an imagined termination", gt=0)

    def __post_init__(self) -> None:
        if self.model is not None and self.demos is not None:
            raise ConfigError("agent.model", "Dyna-DQN (agent.model) and DQfD (agent.demos) do not combine yet: "
                              "set one of them to null.")


class DQNAgent(StatelessPolicy):
    """Online and target Q-networks with an epsilon-greedy policy; the learner of its one optimizer."""

    def __init__(self, cfg: DQNConfig, observation_space: gym.Space, action_space: gym.Space,
                 model_cfg, device: torch.device, seed: int) -> None:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise EnvError(f"dqn needs a Discrete action space; this env has {action_space}.")
        self.cfg = cfg
        self.device = device
        self.num_actions = int(action_space.n)
        self.q_network = build_q_network(observation_space, action_space, model_cfg, cfg.dueling).to(device)
        self.target_network = copy.deepcopy(self.q_network).requires_grad_(False)
        self.optimizers = {"q_network": torch.optim.Adam(self.q_network.parameters(), lr=cfg.lr, fused=True)}
        self.rng = np.random.default_rng(seed)
        self.imagination = None  # Dyna-DQN: the world model, whose optimizers are the agent's too
        if cfg.model is not None:
            self.imagination = Imagination(cfg, observation_space, action_space, device, seed)
            self.optimizers.update(self.imagination.optimizers)
        self.epsilon = cfg.exploration_initial_eps
        self.num_updates = 0

    def q_values(self, obs: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return self.q_network(torch.as_tensor(obs, device=self.device))

    def act(self, obs: np.ndarray, state: None = None, explore: bool = False) -> tuple[np.ndarray, None]:
        greedy = self.q_values(obs).argmax(dim=1).cpu().numpy()
        if not explore:
            return greedy, None
        random_actions = self.rng.integers(0, self.num_actions, size=greedy.shape[0])
        return np.where(self.rng.random(greedy.shape[0]) < self.epsilon, random_actions, greedy), None

    def sync_target(self) -> None:
        """Target network := online network (after the online one was loaded from elsewhere)."""
        self.target_network.load_state_dict(self.q_network.state_dict())

    def td_target(self, batch: Batch) -> torch.Tensor:
        """returns + discount * Q_target(s', a*), a* = argmax of the online net if double DQN."""
        next_obs = torch.as_tensor(batch.next_obs, device=self.device)
        with torch.no_grad():
            next_q_target = self.target_network(next_obs)
            if self.cfg.double:
                next_actions = self.q_network(next_obs).argmax(dim=1, keepdim=True)
            else:
                next_actions = next_q_target.argmax(dim=1, keepdim=True)
            next_value = next_q_target.gather(1, next_actions).squeeze(1)
        returns = torch.as_tensor(batch.returns, device=self.device)
        discounts = torch.as_tensor(batch.discounts, device=self.device)
        return returns + discounts * next_value

    def elementwise_td_loss(self, q_taken: torch.Tensor, q_target: torch.Tensor) -> torch.Tensor:
        """`agent.loss` (huber or squared error) of each row, unreduced."""
        if self.cfg.loss == "huber":
            return nn.functional.huber_loss(q_taken, q_target, reduction="none")
        return (q_target - q_taken).pow(2)

    def online_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The importance-weighted mean TD loss of a replay batch and its stats; keeps the TD errors in
        `last_td_errors` for priorities."""
        q_target = self.td_target(batch)
        obs = torch.as_tensor(batch.obs, device=self.device)
        actions = torch.as_tensor(batch.actions, device=self.device).long()
        q_taken = self.q_network(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        loss = (torch.as_tensor(batch.weights, device=self.device) * self.elementwise_td_loss(q_taken, q_target)).mean()
        self.last_td_errors = (q_target - q_taken).detach().cpu().numpy()
        return loss, {"td_loss": loss.item(), "q_values": q_taken.detach().mean().item()}

    def update(self, batch: Batch | None, demos: DemoBatch | None = None) -> dict[str, float]:
        """One gradient step on a replay batch, and with DQfD on demonstration rows too (`batch` None: on them
        alone); returns stats."""
        loss, stats = self.online_loss(batch) if demos is None else dqfd_loss(self, batch, demos)
        optimizer = self.optimizers["q_network"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.max_grad_norm > 0:
            clip_grad_norm(self.gradients(), self.cfg.max_grad_norm)
        optimizer.step()
        self.num_updates += 1
        if self.num_updates % self.cfg.target_update_interval == 0:
            self.update_target()
        return stats

    def gradients(self) -> list[torch.Tensor]:
        return [p.grad for p in self.q_network.parameters() if p.grad is not None]

    def update_target(self) -> None:
        with torch.no_grad():
            torch._foreach_lerp_(list(self.target_network.parameters()), list(self.q_network.parameters()),
                                 self.cfg.tau)

    def state_dict(self) -> dict:
        state = {"q_network": self.q_network.state_dict(), "target_network": self.target_network.state_dict(),
                 "optimizers": optimizer_states(self.optimizers), "num_updates": self.num_updates,
                 "rng": rng_state(self.rng)}
        if self.imagination is not None:
            state["imagination"] = self.imagination.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.q_network.load_state_dict(state["q_network"])
        self.target_network.load_state_dict(state["target_network"])
        if "num_updates" in state:
            load_optimizer_states(self.optimizers, state)
            self.num_updates = int(state["num_updates"])
            restore_rng_state(self.rng, state["rng"])
        if self.imagination is not None:
            self.imagination.load_state_dict(state["imagination"])


def make_agent(cfg: ExperimentConfig, envs: gym.vector.VectorEnv, device: torch.device) -> DQNAgent:
    torch.manual_seed(cfg.seed)
    return DQNAgent(cfg.agent, envs.single_observation_space, envs.single_action_space, cfg.model,
                    device, seed_for(cfg.seed, 2))


class DQNLoop(TrainLoop):
    """Epsilon-greedy steps on a vector env into replay; gradient steps every `train_freq` vector steps."""

    def __init__(self, run: Run) -> None:
        cfg, self.agent_cfg = run.cfg, run.cfg.agent
        self.total = cfg.train.total_steps
        self.envs = run.make_envs()
        self.policy = self.agent = make_agent(cfg, self.envs, run.device)
        run.init_model(self.agent.q_network)
        self.agent.sync_target()
        space = self.envs.single_observation_space
        buffer_cls = PrioritizedReplayBuffer if self.agent_cfg.prioritized else ReplayBuffer
        extra = {"alpha": self.agent_cfg.priority_alpha} if self.agent_cfg.prioritized else {}
        self.buffer = buffer_cls(self.agent_cfg.buffer_size, self.envs.num_envs, space.shape, space.dtype,
                                 n_step=self.agent_cfg.n_step, gamma=self.agent_cfg.gamma, **extra)
        self.stepper = VectorStepper(self.envs, seed=run.env_seed)
        self.stats: dict[str, float] = {}
        self.iteration = run.start_step // self.envs.num_envs  # vector steps so far: a resume keeps the rhythm
        # DQfD: the demo replay is rebuilt from the dataset on every start, a resume included.
        self.demos, self.online_rows, self.demo_rows = None, self.agent_cfg.batch_size, 0
        if self.agent_cfg.demos is not None:
            self.online_rows, self.demo_rows = batch_split(self.agent_cfg.batch_size, self.agent_cfg.demo_fraction)
            self.demos = load_demo_replay(self.agent_cfg.demos, space, self.envs.single_action_space,
                                          self.agent_cfg.n_step, self.agent_cfg.gamma)
        self.pretrain_due = run.resumed is None and self.demos is not None
        self.imagination = self.agent.imagination  # Dyna-DQN
        self.imagined_rows = round(self.agent_cfg.imagination_ratio * self.agent_cfg.batch_size) \
            if self.imagination is not None else 0
        self.model_stats: dict[str, float] = {}
        self.progress = run.progress

    def start(self) -> None:
        """DQfD pre-training of a fresh run: `demo_pretrain_steps` gradient steps on demonstrations alone."""
        steps = self.agent_cfg.demo_pretrain_steps if self.pretrain_due else 0
        for _ in range(steps):
            self.stats = self.agent.update(None, self.demos.sample(self.agent_cfg.batch_size, self.agent.rng))
        if steps:
            self.progress.message(f"agent.demo_pretrain_steps: {steps} gradient steps on {len(self.demos)} "
                                  f"demonstration steps")

    def advance(self, step: int, max_steps: int) -> Advance:
        agent, agent_cfg, buffer, num_envs = self.agent, self.agent_cfg, self.buffer, self.envs.num_envs
        agent.epsilon = linear_schedule(agent_cfg.exploration_initial_eps, agent_cfg.exploration_final_eps,
                                        agent_cfg.exploration_fraction * self.total, step)
        actions, _ = agent.act(self.stepper.obs, explore=True)
        transitions = self.stepper.step(actions)
        buffer.add(transitions.obs, transitions.actions, self.replay_rewards(transitions.rewards),
                   transitions.next_obs, transitions.terminations, transitions.truncations, transitions.valid)
        step += num_envs
        self.iteration += 1
        # Counted from what the buffer holds, so a run resumed without its buffer refills it first.
        learning = buffer.filled_rows * num_envs > min(agent_cfg.learning_starts, buffer.rows * num_envs - 1)
        if learning and self.imagination is not None and self.iteration % agent_cfg.model_train_freq == 0:
            self.model_stats = self.imagination.train(buffer, agent.rng)
        if learning and self.iteration % agent_cfg.train_freq == 0:
            if isinstance(buffer, PrioritizedReplayBuffer):
                buffer.beta = linear_schedule(agent_cfg.priority_beta, 1.0, self.total, step)
            imagined = self.imagine()
            for batch in buffer.sample_batches(self.online_rows - imagined, agent_cfg.gradient_steps, agent.rng):
                real_rows = len(batch.indices)
                if imagined:
                    batch = join_batches(batch, self.imagination.replay.sample(imagined, agent_cfg.gamma, agent.rng))
                batch = self.with_expert_rows(batch)
                demos = self.demos.sample(self.demo_rows, agent.rng) if self.demo_rows else None
                self.stats = agent.update(batch, demos)
                buffer.update_priorities(batch.indices[:real_rows], agent.last_td_errors[:real_rows])
        return Advance(step, transitions.episode_returns, transitions.episode_lengths,
                       lambda stats={**self.stats, **self.model_stats}: {**stats, "charts/epsilon": agent.epsilon})

    def replay_rewards(self, rewards: np.ndarray) -> np.ndarray:
        """The rewards the replay stores (SQIL relabels them); the logged episode returns are the env's."""
        return rewards

    def with_expert_rows(self, batch: Batch) -> Batch:
        """The batch a gradient step takes, with rows of other sources appended after the replay's (SQIL)."""
        return batch

    def imagine(self) -> int:
        """Dyna-DQN: branch this round's model rollouts into the imagined replay (once the model has trained);
        the imagined rows each batch takes (0 until the imagined replay holds a batch's worth)."""
        if self.imagination is None or not self.imagination.trained:
            return 0
        explore = lambda obs: self.agent.act(obs, explore=True)[0]  # noqa: E731 - the agent's behaviour policy
        self.model_stats.update(self.imagination.rollout(self.buffer, explore, self.agent.rng))
        return self.imagined_rows if len(self.imagination.replay) >= self.imagined_rows else 0

    def state_dict(self) -> dict:
        return {"agent": self.agent.state_dict(), "model": self.agent.q_network.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])

    def buffer_state(self) -> dict:
        state = self.buffer.state_dict()
        if self.imagination is not None:
            state["imagined"] = self.imagination.replay.state_dict()
        return state

    def load_buffer_state(self, state: dict) -> None:
        state = dict(state)
        imagined = state.pop("imagined", None)
        self.buffer.load_state_dict(state)
        if self.imagination is not None and imagined is not None:
            self.imagination.replay.load_state_dict(imagined)

    def close(self) -> None:
        self.envs.close()


def train(run: Run) -> dict:
    return fit(run, DQNLoop(run))
