"""Tabular Q-learning, double Q-learning, SARSA and expected SARSA over vectorized envs.

Read top to bottom: config, agent (act / update over a batch of env steps), the two loops that feed
it, then `train`. On a Numba vector env (`rlp/...` ids) the fused loop runs act -> step -> learn for
millions of steps inside one compiled kernel (:mod:`.fused`); on any other Gymnasium env with a
discrete (or discretized, :mod:`.features`) observation space the Python loop steps the env and the
compiled rules learn from each vector step. Both give the same numbers on the same env.

Where the env publishes its exact model (the toy-text envs, or any env with Gymnasium's `P` and
`initial_state_distrib`), evaluations also report the greedy policy's exact return under the
time limit and its gap to the best stationary policy found by value iteration (:mod:`rl_platform.mdp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from rl_platform.agents.tabular_q.dyna import MAX_MODEL_ENTRIES, CountModel
from rl_platform.agents.tabular_q.features import DISCRETE, FeatureSpec, active_features_batch, feature_spec
from rl_platform.agents.tabular_q.fused import fused_kernel
from rl_platform.agents.tabular_q.rules import RULES, SARSA, act_batch, learn_batch
from rl_platform.config import ExperimentConfig, option
from rl_platform.envs.model import vector_env_model
from rl_platform.envs.rng import seed_streams
from rl_platform.envs.vector import NumbaVectorEnv
from rl_platform.errors import ConfigError, EnvError
from rl_platform.mdp import TransitionModel, best_stationary_policy, evaluate_policy
from rl_platform.policy import StatelessPolicy
from rl_platform.rollout import Transitions, VectorStepper
from rl_platform.run import Run, seed_for
from rl_platform.schedules import linear_schedule
from rl_platform.trainer import Advance, TrainLoop, fit

MAX_TABLE_ENTRIES = 200_000_000
FUSED_CHUNK = 2**18  # env steps per kernel call: keeps progress, logging and Ctrl-C responsive
PYTHON_CHUNK = 256  # vector steps per call of the Python loop


@dataclass
class TabularQConfig:
    """Tabular Q-learning hyperparameters (the `agent:` section)."""

    rule: str = option("q_learning", "update rule", choices=tuple(RULES))
    gamma: float = option(0.99, "discount factor", ge=0, le=1)
    lr: float = option(0.1, "learning rate (step size) at the start", gt=0, le=1)
    lr_final: float | None = option(None, "learning rate after the decay (null: constant lr)", ge=0, le=1)
    lr_fraction: float = option(1.0, "fraction of train.total_steps over which lr decays linearly", gt=0, le=1)
    exploration_initial_eps: float = option(1.0, "epsilon at the start", ge=0, le=1)
    exploration_final_eps: float = option(0.05, "epsilon after the decay", ge=0, le=1)
    exploration_fraction: float = option(0.5, "fraction of train.total_steps over which epsilon decays",
                                         gt=0, le=1)
    q_init: float = option(0.0, "initial Q-value of every state-action pair (optimistic values explore)")
    discretization: str = option("none", "continuous observations: 'bins' (uniform grid) or 'tiles' "
                                 "(tile coding); 'none' for discrete ones", choices=("none", "bins", "tiles"))
    bins: list[int] = option([10], "tiles per observation dimension (one value for all, or one per dimension)")
    num_tilings: int = option(8, "number of offset tilings for 'tiles'", ge=1)
    obs_low: list[float] | None = option(None, "lower end of each observation dimension's range for bins/tiles "
                                         "(null: the observation space's bounds)")
    obs_high: list[float] | None = option(None, "upper end of each dimension's range (null: the space's bounds)")
    planning_steps: int = option(0, "Dyna-Q: simulated Q-learning updates from a count-based model of the env "
                                 "after every real step (0: plain Q-learning; needs rule q_learning and a "
                                 "discrete observation space)", ge=0)
    planning_update: str = option("sample", "Dyna-Q's planning update: 'sample' (Q-learning on an outcome drawn "
                                  "from the model, at lr) or 'expected' (the model's expectation, no step size)",
                                  choices=("sample", "expected"))
    fused: bool = option(True, "on Numba vector envs, run act -> step -> learn in one compiled kernel")


class TabularQAgent(StatelessPolicy):
    """Q-tables (or tile-coded weights) with epsilon-greedy behaviour; `num_envs` random streams."""

    def __init__(self, cfg: TabularQConfig, observation_space: gym.Space, action_space: gym.Space,
                 num_envs: int, seed: int) -> None:
        if not isinstance(action_space, gym.spaces.Discrete) or int(action_space.start) != 0:
            raise EnvError(f"tabular_q needs a Discrete action space starting at 0; this env has {action_space}.")
        if any(b < 1 for b in cfg.bins):
            raise ConfigError("agent.bins", f"every bin count must be at least 1, got {cfg.bins}.")
        self.cfg = cfg
        self.rule = RULES[cfg.rule]
        self.spec = feature_spec(observation_space, cfg.discretization, cfg.bins, cfg.num_tilings,
                                 cfg.obs_low, cfg.obs_high)
        num_tables = 2 if cfg.rule == "double_q" else 1
        shape = (num_tables, self.spec.num_features, int(action_space.n))
        if np.prod(shape) > MAX_TABLE_ENTRIES:
            raise ConfigError("agent.bins", f"the Q-table would have {np.prod(shape):,} entries {shape}; "
                              "use fewer bins or tilings.")
        self.q = np.full(shape, cfg.q_init / self.spec.num_active)
        self.model = dyna_model(cfg, self.spec, int(action_space.n))
        self.planning = np.array([cfg.planning_steps, cfg.planning_update == "expected"], dtype=np.int64)
        self.rng = seed_streams(seed, num_envs)  # one SplitMix64 stream per env
        self.epsilon = cfg.exploration_initial_eps
        self.lr = cfg.lr
        self.pending = np.full(num_envs, -1, dtype=np.int64)  # SARSA: each env's next action
        self.pending_ready = False

    def set_schedules(self, step: int, total_steps: int) -> None:
        self.epsilon, self.lr = schedules(self.cfg, total_steps, step)

    def features(self, obs: np.ndarray) -> np.ndarray:
        """Active feature indices, (num_envs, num_active), of a batch of observations."""
        obs = np.asarray(obs)
        out = np.empty((obs.shape[0], self.spec.num_active), dtype=np.int64)
        active_features_batch(obs.reshape(obs.shape[0], -1), self.spec, out)
        return out

    def act(self, obs: np.ndarray, state: None = None, explore: bool = False) -> tuple[np.ndarray, None]:
        """(actions, None): the Policy protocol's form of :meth:`choose`."""
        return self.choose(obs, explore), None

    def choose(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Greedy actions (lowest index among ties), or epsilon-greedy ones with random tie-breaking."""
        if explore and len(obs) > len(self.rng):
            raise ValueError(f"this agent explores with {len(self.rng)} random streams, got {len(obs)} observations")
        actions = np.empty(len(obs), dtype=np.int64)
        act_batch(self.q, self.features(obs), explore, self.epsilon, self.rng, actions)
        return actions

    def behaviour_actions(self, obs: np.ndarray) -> np.ndarray:
        """The actions to take now: SARSA's already drawn next actions, else fresh epsilon-greedy draws."""
        return self.pending.copy() if self.pending_ready else self.choose(obs, explore=True)

    def update(self, batch: Transitions, obs: np.ndarray | None = None) -> dict[str, float]:
        """Learn from one vector step, env by env. `obs`: the observations after it (the new episodes'
        first ones where episodes ended), from which SARSA draws its next actions."""
        dones = batch.terminations | batch.truncations
        next_features = self.features(batch.next_obs)
        # Only SARSA reads the features after the step (its next actions); the others get a stand-in.
        current = self.features(obs) if self.rule == SARSA and obs is not None else next_features
        abs_td = learn_batch(self.q, self.rule, self.features(batch.obs), np.asarray(batch.actions, dtype=np.int64),
                             np.asarray(batch.rewards, dtype=np.float64), next_features, batch.terminations, dones,
                             batch.valid, current, self.cfg.gamma, self.lr, self.epsilon, self.rng, self.pending,
                             self.model, self.planning)
        self.pending_ready = self.rule == SARSA
        return {"td_error": abs_td / max(int(batch.valid.sum()), 1)}

    def greedy_policy(self) -> np.ndarray | None:
        """The greedy action of every state, for a plain table over a Discrete space (else None)."""
        if self.spec.kind != DISCRETE or self.spec.num_active != 1:
            return None
        return self.q.sum(axis=0).argmax(axis=1)

    def state_dict(self) -> dict[str, Any]:
        return {"q": self.q, "rng": self.rng, "pending": self.pending, "pending_ready": self.pending_ready,
                "model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["q"].shape != self.q.shape:
            raise EnvError(f"checkpoint Q-table has shape {state['q'].shape}, this agent {self.q.shape}.")
        self.q[...] = state["q"]
        if "model" in state:  # checkpoints from before Dyna-Q have none (and no planning)
            self.model.load_state_dict(state["model"])
        if state["rng"].shape == self.rng.shape:  # an eval agent may have another number of envs
            self.rng[:] = state["rng"]
            self.pending[:] = state["pending"]
            self.pending_ready = bool(state["pending_ready"])


def dyna_model(cfg: TabularQConfig, spec: FeatureSpec, num_actions: int) -> CountModel:
    """Dyna-Q's count model (an empty 0 x 0 one when agent.planning_steps is 0), or a ConfigError saying why not."""
    if cfg.planning_steps == 0:
        return CountModel.allocate(0, 0)
    if cfg.rule != "q_learning":
        raise ConfigError("agent.planning_steps", f"Dyna-Q plans with Q-learning updates; set agent.rule: "
                          f"q_learning (got {cfg.rule!r}) or agent.planning_steps: 0.")
    if spec.kind != DISCRETE or spec.num_active != 1:
        raise ConfigError("agent.planning_steps", "Dyna-Q's count model needs a discrete observation space "
                          "(a plain table, agent.discretization: none); this env's is continuous.")
    num_states = spec.num_features
    if num_states * num_actions * num_states > MAX_MODEL_ENTRIES:
        raise ConfigError("agent.planning_steps", f"the count model would have {num_states:,} x {num_actions} x "
                          f"{num_states:,} entries (more than {MAX_MODEL_ENTRIES:,}).")
    return CountModel.allocate(num_states, num_actions)


def schedule_params(cfg: TabularQConfig, total_steps: int) -> np.ndarray:
    """(eps start, eps end, eps decay steps, lr start, lr end, lr decay steps), as the fused kernel reads them."""
    lr_final = cfg.lr if cfg.lr_final is None else cfg.lr_final
    return np.array([cfg.exploration_initial_eps, cfg.exploration_final_eps, cfg.exploration_fraction * total_steps,
                     cfg.lr, lr_final, cfg.lr_fraction * total_steps])


def schedules(cfg: TabularQConfig, total_steps: int, step: int) -> tuple[float, float]:
    """(epsilon, learning rate) at env step `step`."""
    p = schedule_params(cfg, total_steps)
    return linear_schedule(p[0], p[1], p[2], step), linear_schedule(p[3], p[4], p[5], step)


# ---------------------------------------------------------------------------------------------
# The two loops: each runs about `env_steps` env steps and returns what happened.


@dataclass
class Chunk:
    env_steps: int
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    abs_td_sum: float


class PythonLoop:
    """Any Gymnasium vector env: Python steps the env, the compiled rules learn from each vector step."""

    def __init__(self, envs: gym.vector.VectorEnv, agent: TabularQAgent, seed: int, total_steps: int) -> None:
        self.agent, self.total_steps = agent, total_steps
        self.stepper = VectorStepper(envs, seed)

    def run(self, step: int, env_steps: int) -> Chunk:
        num_envs = self.stepper.num_envs
        returns, lengths, abs_td = [], [], 0.0
        vector_steps = min(-(-env_steps // num_envs), PYTHON_CHUNK)
        for _ in range(vector_steps):
            self.agent.set_schedules(step, self.total_steps)
            batch = self.stepper.step(self.agent.behaviour_actions(self.stepper.obs))
            abs_td += self.agent.update(batch, self.stepper.obs)["td_error"] * int(batch.valid.sum())
            returns.append(batch.episode_returns)
            lengths.append(batch.episode_lengths)
            step += num_envs
        return Chunk(vector_steps * num_envs, np.concatenate(returns), np.concatenate(lengths), abs_td)

    def state_dict(self) -> dict[str, Any]:
        return {}  # Gymnasium envs' state cannot be saved: a resumed run starts fresh episodes

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.pending_ready = False  # fresh episodes: SARSA's saved next actions were for other states


class FusedLoop:
    """A Numba vector env: act -> step -> learn in one compiled kernel, on the env's own state arrays."""

    def __init__(self, envs: NumbaVectorEnv, agent: TabularQAgent, seed: int, total_steps: int) -> None:
        self.envs, self.agent, self.total_steps = envs, agent, total_steps
        obs, _ = envs.reset(seed=seed)
        self.env_state = envs.kernel_state()  # the env's own arrays: the kernel advances the env in place
        self.kernel = fused_kernel(self.env_state.env_def)
        num_envs = envs.num_envs
        self.features = agent.features(obs)
        self.actions = agent.choose(obs, explore=True) if agent.rule == SARSA else np.zeros(num_envs, np.int64)
        self.running_returns = np.zeros(num_envs)
        self.running_lengths = np.zeros(num_envs, dtype=np.int64)
        # Scratch outputs of the env's step body (discrete observations as one-element rows).
        self.obs = np.zeros((2, num_envs, *(obs.shape[1:] or (1,))), dtype=obs.dtype)  # (next obs, final obs)
        self.step_outputs = (np.zeros(num_envs), np.zeros(num_envs, np.bool_), np.zeros(num_envs, np.bool_))
        self.next_features = np.zeros(agent.spec.num_active, dtype=np.int64)
        capacity = max(FUSED_CHUNK // num_envs, 1) * num_envs
        self.episode_returns = np.zeros(capacity)
        self.episode_lengths = np.zeros(capacity, dtype=np.int64)

    def run(self, step: int, env_steps: int) -> Chunk:
        envs, agent, cfg, env = self.envs, self.agent, self.agent.cfg, self.env_state
        vector_steps = min(-(-env_steps // envs.num_envs), max(FUSED_CHUNK // envs.num_envs, 1))
        finished, abs_td = self.kernel(
            env.states, env.rng, env.elapsed, env.max_episode_steps, env.params, agent.q, agent.spec,
            agent.rule, cfg.gamma, schedule_params(cfg, self.total_steps), step, vector_steps, agent.rng,
            self.actions, self.features, self.obs[0], self.obs[1], *self.step_outputs, self.next_features,
            self.running_returns, self.running_lengths, self.episode_returns, self.episode_lengths, agent.model,
            agent.planning)
        done_steps = vector_steps * envs.num_envs
        agent.set_schedules(step + done_steps, self.total_steps)
        return Chunk(done_steps, self.episode_returns[:finished].copy(), self.episode_lengths[:finished].copy(),
                     abs_td)

    def state_dict(self) -> dict[str, Any]:
        """Everything the kernel carries between steps, so a resumed run continues exactly."""
        return {"env": self.envs.get_state(), "features": self.features, "actions": self.actions,
                "running_returns": self.running_returns, "running_lengths": self.running_lengths}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state or state["features"].shape != self.features.shape:
            return  # saved by the other loop or with another env count: keep the fresh episodes
        self.envs.set_state(state["env"])
        for name in ("features", "actions", "running_returns", "running_lengths"):
            getattr(self, name)[...] = state[name]


# ---------------------------------------------------------------------------------------------
# Exact reference, where the env publishes its model


def env_model(envs: gym.vector.VectorEnv) -> tuple[TransitionModel | None, int | None]:
    """(exact model, time limit) of a vector env's envs; (None, None) if it has no model
    (:func:`rl_platform.envs.model.vector_env_model`)."""
    return vector_env_model(envs)


class ExactReference:
    """The best stationary policy's exact return (computed once) and the greedy policy's gap to it."""

    def __init__(self, envs: gym.vector.VectorEnv, agent: TabularQAgent) -> None:
        self.model, self.horizon = env_model(envs)
        self.available = (self.model is not None and agent.greedy_policy() is not None
                          and self.model.num_states == agent.q.shape[1])
        self._best = best_stationary_policy(self.model, self.horizon) if self.available else None

    def report(self, agent: TabularQAgent) -> dict[str, Any]:
        if self._best is None:
            return {}
        exact = evaluate_policy(self.model, agent.greedy_policy(), self.horizon)
        return {"exact_return": exact, "optimal_return": self._best.expected_return,
                "gap_to_optimal": self._best.expected_return - exact, "optimal_policy_gamma": self._best.gamma,
                "time_limit": self.horizon}


# ---------------------------------------------------------------------------------------------
# Training


def make_agent(cfg: ExperimentConfig, envs: gym.vector.VectorEnv, device: Any = None) -> TabularQAgent:
    return TabularQAgent(cfg.agent, envs.single_observation_space, envs.single_action_space, envs.num_envs,
                         seed_for(cfg.seed, 2))


def report(cfg: ExperimentConfig, agent: TabularQAgent, envs: gym.vector.VectorEnv) -> dict[str, Any]:
    """Extra `rlp eval` figures: exact return of the greedy policy and its gap to optimal, if known."""
    return ExactReference(envs, agent).report(agent)


def make_loop(cfg: ExperimentConfig, envs: gym.vector.VectorEnv, agent: TabularQAgent,
              seed: int) -> FusedLoop | PythonLoop:
    """The fused loop on a Numba vector env (unless agent.fused is off), else the Python loop."""
    fused = cfg.agent.fused and isinstance(envs, NumbaVectorEnv)
    return (FusedLoop if fused else PythonLoop)(envs, agent, seed, cfg.train.total_steps)


class TabularLoop(TrainLoop):
    """The fused loop on a Numba vector env, else the Python loop; the exact reference where the env has one."""

    def __init__(self, run: Run) -> None:
        self.total = run.cfg.train.total_steps
        self.envs = run.make_envs()
        self.policy = self.agent = make_agent(run.cfg, self.envs)
        self.loop = make_loop(run.cfg, self.envs, self.agent, run.env_seed)
        self.reference = ExactReference(self.envs, self.agent)
        self.agent.set_schedules(run.start_step, self.total)
        self.abs_td, self.td_count = 0.0, 0

    def advance(self, step: int, max_steps: int) -> Advance:
        chunk = self.loop.run(step, max_steps)
        self.abs_td, self.td_count = self.abs_td + chunk.abs_td_sum, self.td_count + chunk.env_steps
        return Advance(step + chunk.env_steps, chunk.episode_returns, chunk.episode_lengths, self.stats)

    def stats(self) -> dict[str, float]:
        """Mean |TD error| since the last log write, and the schedules."""
        out = {"td_error": self.abs_td / max(self.td_count, 1), "charts/epsilon": self.agent.epsilon,
               "charts/learning_rate": self.agent.lr}
        self.abs_td, self.td_count = 0.0, 0
        return out

    def eval_scalars(self) -> dict[str, float]:
        return {f"eval/{k}": v for k, v in self.reference.report(self.agent).items()
                if k in ("exact_return", "gap_to_optimal")}

    def final_metrics(self) -> dict[str, Any]:
        return self.reference.report(self.agent)

    def snapshot(self) -> dict[str, Any]:
        return {"agent": self.agent.state_dict()}

    def state_dict(self) -> dict[str, Any]:
        return {"agent": self.agent.state_dict(), "loop": self.loop.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.loop.load_state_dict(state.get("loop", {}))
        self.agent.set_schedules(int(state["global_step"]), self.total)

    def close(self) -> None:
        self.envs.close()


def train(run: Run) -> dict:
    return fit(run, TabularLoop(run))
