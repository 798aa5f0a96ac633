"""`rlp probe`: how much a run's encoder knows, by linear probes on its frozen features.

The run's encoder (the one `model.init_from` would load: best.pt, else latest.pt) encodes a dataset's
observations; linear probes are fitted on the features of a training split of the episodes and scored on the
held-out episodes. Probed: the reward (accuracy of a multinomial logistic regression when it takes at most
`MAX_REWARD_CLASSES` values, else R^2 of ridge regression) and the dataset's action (accuracy; R^2 for Box
actions). The same probes on a randomly initialised encoder of the same config tell what the pretraining added;
the majority class is the floor of an accuracy.

Fits are deterministic: ridge in closed form, logistic regression by full-batch L-BFGS from zero weights, both
on features standardised with the training split's mean and deviation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.checkpoint import load_checkpoint
from rl_platform.datasets import Transitions, load_transitions
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import ConfigError
from rl_platform.nn.pretrained import checkpoint_file
from rl_platform.registry import AGENTS
from rl_platform.run import seed_for

MAX_REWARD_CLASSES = 10
HELD_OUT_FRACTION = 0.25
RIDGE = 1e-3  # ridge penalty per training row (features are standardised)
LOGISTIC_L2 = 1e-4  # L2 penalty of the logistic regression: finite weights on separable data
LBFGS_ITERATIONS = 100
ENCODE_BATCH = 4096


@torch.no_grad()
def encode(encoder: nn.Module, obs: np.ndarray) -> np.ndarray:
    """Features of `obs` (N, *shape) as a float64 array (N, out_dim), in batches."""
    parts = [encoder(torch.as_tensor(obs[start:start + ENCODE_BATCH])).double().numpy()
             for start in range(0, len(obs), ENCODE_BATCH)]
    return np.concatenate(parts)


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both scaled by the training split's mean and standard deviation (constant columns left at 0)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def ridge_r2(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    """R^2 on the test split of ridge regression (closed form, unpenalised intercept) of y (N,) or (N, K) on x;
    the residual and total sums of squares are summed over the K targets."""
    train_y, test_y = train_y.reshape(len(train_y), -1), test_y.reshape(len(test_y), -1)
    x_mean, y_mean = train_x.mean(axis=0), train_y.mean(axis=0)
    centred = train_x - x_mean
    gram = centred.T @ centred + RIDGE * len(train_x) * np.eye(train_x.shape[1])
    weights = np.linalg.solve(gram, centred.T @ (train_y - y_mean))
    prediction = (test_x - x_mean) @ weights + y_mean
    total = ((test_y - test_y.mean(axis=0)) ** 2).sum()
    return float(1.0 - ((test_y - prediction) ** 2).sum() / max(total, 1e-12))


def logistic_accuracy(train_x: np.ndarray, train_labels: np.ndarray, test_x: np.ndarray,
                      test_labels: np.ndarray, num_classes: int) -> float:
    """Test accuracy of a multinomial logistic regression (L-BFGS, zero initial weights, small L2 penalty).

    The gradient is written out (X^T (softmax - onehot) / N + L2 W) with X^T stored contiguously: autograd's
    product with the transposed view is 5x slower on a tall feature matrix."""
    x = torch.as_tensor(train_x)
    x_transposed = x.T.contiguous()
    onehot = nn.functional.one_hot(torch.as_tensor(train_labels, dtype=torch.long), num_classes).double()
    count = len(x)
    weights = torch.zeros(x.shape[1], num_classes, dtype=torch.float64)
    bias = torch.zeros(num_classes, dtype=torch.float64)
    optimizer = torch.optim.LBFGS([weights, bias], lr=1.0, max_iter=LBFGS_ITERATIONS, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        log_probs = (x @ weights + bias).log_softmax(dim=1)
        residual = (log_probs.exp() - onehot) / count
        weights.grad = x_transposed @ residual + LOGISTIC_L2 * weights
        bias.grad = residual.sum(dim=0)
        return -(log_probs * onehot).sum() / count + 0.5 * LOGISTIC_L2 * weights.pow(2).sum()

    with torch.no_grad():
        optimizer.step(closure)
        predicted = (torch.as_tensor(test_x) @ weights + bias).argmax(dim=1).numpy()
    return float((predicted == test_labels).mean())


def _classes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Class indices of `values` (by their sorted distinct values) and the number of classes."""
    distinct, labels = np.unique(values, return_inverse=True)
    return labels.reshape(-1), len(distinct)


def probe_targets(train: Transitions, test: Transitions) -> dict[str, dict[str, Any]]:
    """What to probe, and how: `{name: {"metric": "accuracy" | "r2", "train": y, "test": y, ...}}`. A reward that
    never changes in the data is left out (there is nothing to predict)."""
    targets: dict[str, dict[str, Any]] = {}
    rewards = np.concatenate([train.rewards, test.rewards])
    distinct = np.unique(rewards)
    if len(distinct) > MAX_REWARD_CLASSES:
        targets["reward"] = {"metric": "r2", "train": train.rewards, "test": test.rewards}
    elif len(distinct) > 1:
        labels, count = _classes(rewards)
        targets["reward"] = {"metric": "accuracy", "classes": count, "train": labels[:len(train)],
                             "test": labels[len(train):]}
    if isinstance(train.action_space, gym.spaces.Discrete):
        actions = np.concatenate([train.actions, test.actions])
        labels, count = _classes(actions)
        targets["action"] = {"metric": "accuracy", "classes": count, "train": labels[:len(train)],
                             "test": labels[len(train):]}
    else:
        targets["action"] = {"metric": "r2", "train": train.actions, "test": test.actions}
    return targets


def probe_encoders(encoders: dict[str, nn.Module], data: Transitions, seed: int) -> dict[str, Any]:
    """Linear probes of each encoder's features (by name, e.g. pretrained and random) on `data`, fitted on a
    seeded split of the episodes and scored on the held-out ones."""
    train, test = data.split_episodes(HELD_OUT_FRACTION, seed_for(seed, 12))
    targets = probe_targets(train, test)
    features = {name: standardise(encode(encoder, train.obs), encode(encoder, test.obs))
                for name, encoder in encoders.items()}
    probes: dict[str, Any] = {}
    for target, spec in targets.items():
        row: dict[str, Any] = {"metric": spec["metric"]}
        for name, (train_x, test_x) in features.items():
            if spec["metric"] == "accuracy":
                row[name] = logistic_accuracy(train_x, spec["train"], test_x, spec["test"], spec["classes"])
            else:
                row[name] = ridge_r2(train_x, spec["train"], test_x, spec["test"])
        if spec["metric"] == "accuracy":
            row["classes"] = spec["classes"]
            row["majority"] = float((spec["test"] == np.bincount(spec["train"]).argmax()).mean())
        probes[target] = row
    return {"dataset": data.name, "train_transitions": len(train), "test_transitions": len(test),
            "train_episodes": train.num_episodes, "test_episodes": test.num_episodes,
            "features": int(next(iter(features.values()))[0].shape[1]), "probes": probes}


def probe_run(run_dir: str | Path, dataset: str, seed: int = 0) -> dict[str, Any]:
    """Probe the encoder of the run in `run_dir` (its checkpoint as `model.init_from` reads it) and a random one
    of the same config on `dataset` (see :func:`probe_encoders`)."""
    from rl_platform.experiment import resume_config

    cfg = resume_config(run_dir)
    torch.set_num_threads(cfg.train.torch_threads)
    spec = AGENTS.get(cfg.agent_name, "agent.name")
    if spec.pretrain_network is None:
        raise ConfigError("agent.name", f"'{cfg.agent_name}' names no encoder to probe (its AgentSpec has no "
                          "pretrain_network); dqn and a3c runs can be probed.")
    path = checkpoint_file(run_dir)
    envs = make_vector_env(cfg.env, 1)
    try:
        spaces = envs.single_observation_space, envs.single_action_space
        trained = spec.make_agent(cfg, envs, torch.device("cpu"))
        spec.pretrain_network(trained).model.load_state_dict(load_checkpoint(path)["model"])
        untrained = spec.make_agent(dataclasses.replace(cfg, seed=seed_for(seed, 13)), envs, torch.device("cpu"))
    finally:
        envs.close()
    encoders = {"pretrained": spec.pretrain_network(trained).encoder,
                "random": spec.pretrain_network(untrained).encoder}
    result = probe_encoders(encoders, load_transitions(dataset, *spaces), seed)
    return {"run_dir": str(run_dir), "checkpoint": str(path), **result}


def format_probe(result: dict[str, Any]) -> str:
    """A small table: one row per probe, its metric for the pretrained and the random encoder (and the floor)."""
    lines = [f"{result['checkpoint']} on {result['dataset']}: {result['features']} features; probes fitted on "
             f"{result['train_transitions']:,} transitions ({result['train_episodes']} episodes), scored on "
             f"{result['test_transitions']:,} ({result['test_episodes']} held-out episodes)",
             f"{'probe':<8} {'metric':<9} {'pretrained':>10} {'random':>8} {'majority':>8}"]
    for name, row in result["probes"].items():
        majority = f"{row['majority']:8.3f}" if "majority" in row else f"{'-':>8}"
        lines.append(f"{name:<8} {row['metric']:<9} {row['pretrained']:10.3f} {row['random']:8.3f} {majority}")
    return "\n".join(lines)
