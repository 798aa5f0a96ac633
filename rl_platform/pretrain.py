"""`rlp pretrain`: train an agent's network on a dataset with a pretraining objective, as a run like any other.

A pretraining run is a config with a `pretrain:` section (:class:`PretrainConfig`): the agent (dqn or a3c)
whose network is trained, the env (whose spaces the dataset must have), the model, and the objective. The core
trainer (:func:`rl_platform.trainer.fit`) drives a :class:`PretrainLoop` whose steps are *gradient steps*:
`train.total_steps` is set from `pretrain.steps` (or `pretrain.epochs`; a value in the config is replaced, and a
resume may raise it), and `train.eval_every`, `train.checkpoint_every` and `log.log_every` count gradient steps
too. So the run gets everything a training run
has: the progress line, TensorBoard (`pretrain/<loss>`, `pretrain/val_<loss>` on held-out episodes), greedy
evaluations in the env, `best.pt` / `latest.pt`, `--resume`, SIGINT safety and `metrics.json`.

Checkpoints hold `{"agent": <the agent's state, so `rlp eval` loads it>, "model": <its policy network: what
`model.init_from` reads>, "objective": <the objective's own modules>, "optimizers": {"pretrain": ...},
"pretrain": <sampler and early-stopping state>}`. An objective with its own training step (`optimizer_groups()`,
e.g. a `gan` world model) trains through its `update` with one AdamW optimizer per group (pretrain.lr and
weight_decay each), named so under "optimizers" (`{"generator": ..., "discriminator": ...}`).

Periodic evaluations in the env mean something only for objectives that train the policy (`bc`): for the
self-supervised ones (`dynamics`, `inverse`, `contrastive`, `reconstruction`) the policy head stays untrained,
so `train.eval_every` is set to 0 and only the final evaluation (which every run makes) is left; their
checkpoint holds the final weights, or with early stopping (`pretrain.patience` > 0) the best-validation ones.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rl_platform.checkpoint import restore_rng_state, rng_state
from rl_platform.components import Component, component_option
from rl_platform.datasets import Transitions, load_transitions
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import ConfigError, TrainingFailed, UserError
from rl_platform.nn.pretrained import trainable_parameters
from rl_platform.objectives import BatchSource, build_objective
from rl_platform.options import option
from rl_platform.registry import AGENTS, OBJECTIVES
from rl_platform.run import Run, seed_for
from rl_platform.trainer import Advance, TrainLoop, fit

if TYPE_CHECKING:
    from rl_platform.config import ExperimentConfig

PREFIX = "pretrain/"
MAX_CHUNK = 100  # gradient steps per advance() call at most, so a stop signal is answered within about that
VALIDATION_SEED = 9  # seed_for(cfg.seed, ...) streams of this module
SPLIT_SEED, SAMPLER_SEED = 7, 8


@dataclass
class PretrainConfig:
    """The `pretrain:` section: what to train on, with which objective, for how long (counts are gradient steps)."""

    dataset: str | None = option(
        None, "the dataset: a Minari dataset id (e.g. 'cartpole/dqn-expert-v0', under $MINARI_DATASETS_PATH, "
        "else ~/.minari/datasets) or a dataset directory; its spaces must be the env's (required)")
    objective: Component = component_option(
        OBJECTIVES, "bc", "the objective: bc, dynamics, inverse, contrastive, reconstruction, world_model (or a "
        "plugin's), a name or {name: <objective>, <option>: ...}")
    steps: int | None = option(None, "gradient steps to train for (sets train.total_steps); exactly one of "
                               "steps and epochs", ge=1)
    epochs: float | None = option(None, "passes over the training split instead: ceil(epochs x transitions / "
                                  "batch_size) gradient steps (batches are drawn uniformly with replacement)", gt=0)
    batch_size: int = option(256, "transitions (or pairs) per gradient step", ge=1)
    lr: float = option(1e-3, "AdamW learning rate", gt=0)
    weight_decay: float = option(0.0, "AdamW weight decay", ge=0)
    validation_fraction: float = option(
        0.1, "fraction of the episodes held out for validation (whole episodes, seeded by the run's seed); 0: none",
        ge=0, lt=1)
    validate_every: int = option(500, "gradient steps between validations on the held-out episodes (0: at the "
                                 "end only)", ge=0)
    patience: int = option(0, "early stopping: stop after this many validations without improvement of the "
                           "validation loss; the run then ends (also at the end of its steps) with the "
                           "best-validation weights (0: off, the run ends with its last weights)", ge=0)
    min_delta: float = option(0.0, "an improvement is a validation loss lower than the best by more than this",
                              ge=0)

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            both = "both are set" if self.steps is not None else "neither is set"
            raise ConfigError("steps", f"set exactly one of pretrain.steps and pretrain.epochs ({both}).")


def pretrain_section(cfg: ExperimentConfig) -> PretrainConfig:
    """`cfg.pretrain` with its dataset set; a UserError saying what is missing otherwise."""
    if cfg.pretrain is None:
        raise UserError("this config has no `pretrain:` section, so there is nothing to pretrain: add one with "
                        "pretrain.dataset (a dataset id), pretrain.objective (e.g. bc) and pretrain.steps, e.g. "
                        "configs/bc_cartpole.yaml; `rlp train` trains it with RL.")
    if cfg.pretrain.dataset is None:
        raise ConfigError("pretrain.dataset", "missing: which dataset to pretrain on (a dataset id such as "
                          "'cartpole/dqn-expert-v0', made by `rlp collect`, or a dataset directory).")
    return cfg.pretrain


def prepare(cfg: ExperimentConfig, resume: bool) -> tuple[Transitions, Transitions | None]:
    """Load the dataset of `cfg.pretrain` (checked against the env's spaces) and split off the validation episodes.

    For a new run, `train.total_steps` is set from pretrain.steps / epochs, and periodic evaluations are turned
    off (`train.eval_every = 0`) for objectives that do not train the policy. A resumed run keeps its saved
    values (so `train.total_steps=...` can lengthen it)."""
    pre = pretrain_section(cfg)
    envs = make_vector_env(cfg.env, 1)
    try:
        spaces = envs.single_observation_space, envs.single_action_space
    finally:
        envs.close()
    data = load_transitions(pre.dataset, *spaces)
    train_data, held_out = data.split_episodes(pre.validation_fraction, seed_for(cfg.seed, SPLIT_SEED))
    if not resume:
        cfg.train.total_steps = pre.steps if pre.steps is not None else \
            math.ceil(pre.epochs * len(train_data) / pre.batch_size)
        if objective_trains_policy(pre.objective) is False:
            cfg.train.eval_every = 0
    return train_data, (held_out if len(held_out) else None)


def objective_trains_policy(objective: Component) -> bool | None:
    """Whether the objective trains the policy output: its Objective class says (`trains_policy`), if its spec's
    `build` is the class; None (unknown) for a build function."""
    build = OBJECTIVES.get(objective.name, "pretrain.objective").build
    return build.trains_policy if isinstance(build, type) else None


class PretrainLoop(TrainLoop):
    """Gradient steps of the objective on batches of the training split; validation on the held-out episodes
    every `validate_every` steps, early stopping (`done`) after `patience` validations without improvement."""

    def __init__(self, run: Run, train_data: Transitions, held_out: Transitions | None) -> None:
        cfg = run.cfg
        self.run, self.cfg, self.seed = run, pretrain_section(cfg), cfg.seed
        spec = AGENTS.get(cfg.agent_name, "agent.name")
        if spec.pretrain_network is None:
            raise ConfigError("agent.name", f"'{cfg.agent_name}' cannot be pretrained: its AgentSpec names no "
                              "pretrain_network (the parts of its network pretraining trains); dqn and a3c can.")
        envs = run.make_envs(1)
        try:
            self.policy = self.agent = spec.make_agent(cfg, envs, run.device)
        finally:
            envs.close()
        self.network = spec.pretrain_network(self.agent)
        run.init_model(self.network.model)
        self.objective = build_objective(self.cfg.objective, self.network, train_data.observation_space,
                                         train_data.action_space).to(run.device)
        self.train_source = BatchSource(train_data, run.device, self.objective.pair_offset)
        self.train_transitions = len(train_data)
        self.val_source = None if held_out is None else BatchSource(held_out, run.device, self.objective.pair_offset)
        for name, source in (("training", self.train_source), ("held-out", self.val_source)):
            if source is not None and len(source) == 0:
                raise ConfigError("pretrain.objective", f"its pairs {self.objective.pair_offset} steps apart do not "
                                  f"fit in any episode of the {name} split; lower the offset.")
        if run.resumed is None:
            self.objective.setup(self.train_source.batch(self.train_source.anchors))
        groups = self.objective.optimizer_groups()
        self.own_step = groups is not None  # the objective trains itself through `update`
        if groups is None:
            network_parameters = trainable_parameters(self.network.model) if self.objective.trains_network else []
            groups = {"pretrain": network_parameters + trainable_parameters(self.objective)}
            if not groups["pretrain"]:
                raise ConfigError("model.freeze", "leaves nothing to train: every parameter is frozen.")
        self.optimizers = {name: torch.optim.AdamW(parameters, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
                           for name, parameters in groups.items()}
        self.rng = np.random.default_rng(seed_for(cfg.seed, SAMPLER_SEED))
        self.step = run.start_step
        self.best_val_loss: float | None = None
        self.best_step = -1
        self.best_weights: dict[str, Any] | None = None
        self.validations_since_best = 0
        self.last_validation: dict[str, float] = {}
        self.last_validation_step = -1
        self.stopped_early = False
        self.restored_step: int | None = None
        self.failure: str | None = None  # why training cannot go on (a non-finite loss)
        if not self.objective.trains_policy:
            trains = "the encoder" if self.objective.trains_network else "its own model"
            run.progress.message(f"pretrain.objective '{self.cfg.objective.name}' trains {trains}, not the "
                                 "policy: no periodic evaluations in the env (train.eval_every=0); the final one "
                                 "is of an untrained policy head.")

    # -- training ----------------------------------------------------------------------------
    def _non_finite(self, step: int, loss: float, stats: dict[str, float]) -> str | None:
        """Why the loss of gradient step `step + 1` must not reach the weights (it is not finite), or None."""
        if math.isfinite(loss):
            return None
        bad = [name for name, value in stats.items() if not math.isfinite(value)] or ["loss"]
        return (f"pretrain.objective '{self.cfg.objective.name}': the {', '.join(bad)} loss is {loss} at "
                f"gradient step {step + 1}; the weights of step {step} are kept. Lower pretrain.lr, or check the "
                "dataset for inf/NaN values.")

    def _what(self, step: int) -> str:
        """How the objective's own training step number `step + 1` is named in its TrainingFailed message."""
        return f"pretrain.objective '{self.cfg.objective.name}' at gradient step {step + 1}"

    def _steps_to_validation(self, step: int) -> int:
        every = self.cfg.validate_every
        return every - step % every if every > 0 and self.val_source is not None else MAX_CHUNK

    def advance(self, step: int, max_steps: int) -> Advance:
        # A non-finite loss ends the chunk before its step; the next call raises TrainingFailed, so the trainer's
        # checkpoint holds the last finite weights under their own step count.
        if self.failure is not None:
            raise TrainingFailed(self.failure)
        count = min(max_steps, self._steps_to_validation(step), MAX_CHUNK)
        sums: dict[str, float] = defaultdict(float)
        for done in range(count):
            batch = self.train_source.sample(self.cfg.batch_size, self.rng)
            if self.own_step:
                try:
                    stats = self.objective.update(batch, self.optimizers, self._what(step + done))
                    loss_value = stats.pop("loss")
                except TrainingFailed as failure:  # raised before the failed loss reached any weights
                    self.failure = str(failure)
            else:
                loss, stats = self.objective.loss(batch)
                loss_value = loss.item()
                self.failure = self._non_finite(step + done, loss_value, stats)
            if self.failure is not None:
                if done == 0:
                    raise TrainingFailed(self.failure)
                count = done
                break
            if not self.own_step:
                optimizer = self.optimizers["pretrain"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            self.objective.after_step()
            sums["loss"] += loss_value
            for name, value in stats.items():
                sums[name] += value
        self.step = step + count
        if self.val_source is not None and self.cfg.validate_every > 0 and self.step % self.cfg.validate_every == 0:
            self.validate(self.step)
        return Advance(self.step, stats={PREFIX + name: value / count for name, value in sums.items()})

    @torch.no_grad()
    def validation_figures(self) -> dict[str, float]:
        """The objective's figures (and `loss`) averaged over every held-out transition (pair), in a fixed order."""
        sums: dict[str, float] = defaultdict(float)
        total = 0
        for batch in self.val_source.batches(self.cfg.batch_size, seed_for(self.seed, VALIDATION_SEED)):
            loss, stats = self.objective.loss(batch)
            size = len(batch)
            total += size
            sums["loss"] += loss.item() * size
            for name, value in stats.items():
                sums[name] += value * size
        return {name: value / total for name, value in sums.items()}

    def validate(self, step: int) -> None:
        """Validate, log `pretrain/val_*`, keep the best weights, and decide on early stopping."""
        figures = self.validation_figures()
        self.last_validation, self.last_validation_step = figures, step
        self.run.log_scalars(step, {f"{PREFIX}val_{name}": value for name, value in figures.items()})
        if self.best_val_loss is None or figures["loss"] < self.best_val_loss - self.cfg.min_delta:
            self.best_val_loss, self.best_step, self.validations_since_best = figures["loss"], step, 0
            self.best_weights = self._weights()
        else:
            self.validations_since_best += 1
            if 0 < self.cfg.patience <= self.validations_since_best:
                self.stopped_early = True
                self.run.progress.message(f"step {step:,}: no validation improvement in {self.cfg.patience} "
                                          f"validations; stopping early (best pretrain/val_loss "
                                          f"{self.best_val_loss:.4g} at step {self.best_step:,})")

    def _weights(self) -> dict[str, Any]:
        return {"model": copy.deepcopy(self.network.model.state_dict()),
                "objective": copy.deepcopy(self.objective.state_dict())}

    @property
    def done(self) -> bool:
        return self.stopped_early

    def stop(self, solved_step: int | None) -> None:
        """A last validation at the final step, then, with early stopping on (unless the run reached
        train.stop_return), back to the best-validation weights if they are older."""
        if self.val_source is None:
            return None
        if self.last_validation_step != self.step:
            self.validate(self.step)
        if self.cfg.patience > 0 and solved_step is None and self.best_weights is not None \
                and self.best_step != self.step:
            self.network.model.load_state_dict(self.best_weights["model"])
            self.objective.load_state_dict(self.best_weights["objective"])
            self.restored_step = self.best_step
            self.run.progress.message(f"restored the weights of step {self.best_step:,}, the best validation "
                                      f"(pretrain/val_loss {self.best_val_loss:.4g})")
        return None

    def final_metrics(self) -> dict[str, Any]:
        return {"pretrain": {
            "objective": self.cfg.objective.name, "dataset": self.cfg.dataset, "steps": self.step,
            "train_transitions": self.train_transitions, "train_episodes": self.train_source.num_episodes,
            "val_episodes": 0 if self.val_source is None else self.val_source.num_episodes,
            "best_val_loss": self.best_val_loss, "best_val_step": self.best_step if self.best_step >= 0 else None,
            "final_val": self.last_validation, "stopped_early": self.stopped_early,
            "restored_step": self.restored_step}}

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        self.network.sync()
        return {"agent": self.agent.state_dict(), "model": self.network.model.state_dict(),
                "objective": self.objective.state_dict(),
                "optimizers": {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
                "pretrain": {"rng": rng_state(self.rng), "best_val_loss": self.best_val_loss,
                             "best_step": self.best_step, "best_weights": self.best_weights,
                             "validations_since_best": self.validations_since_best,
                             "stopped_early": self.stopped_early}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.objective.load_state_dict(state["objective"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        loop = state["pretrain"]
        restore_rng_state(self.rng, loop["rng"])
        self.best_val_loss, self.best_step = loop["best_val_loss"], int(loop["best_step"])
        self.best_weights, self.validations_since_best = loop["best_weights"], int(loop["validations_since_best"])
        if loop["stopped_early"]:  # resuming a run that stopped early trains on, its patience counted anew
            self.validations_since_best = 0


def run_pretraining(run: Run, train_data: Transitions, held_out: Transitions | None) -> dict[str, Any]:
    """Pretrain within `run` (see :func:`prepare`); returns the metrics."""
    return fit(run, PretrainLoop(run, train_data, held_out))
