"""Acting with a small MLP policy in NumPy, where torch's per-call overhead is most of the cost.

A [64, 64] MLP on a few dozen observations spends about 40 µs per torch call in dispatch and the
distribution object; the same matrix products in NumPy take about 10 µs. An actor that steps a fast
vector env calls its policy thousands of times a second, so A3C workers and evaluations act through
:class:`NumpyCategoricalActor` when the model allows it (an MLP encoder of Linear + tanh/ReLU layers
and a categorical head); gradients are still computed by torch. The arrays are views of the model's
parameters, so in-place updates (optimizer steps, `load_state_dict`, a worker's pull) are seen as
they happen; views are rebuilt if a parameter moves (e.g. `share_memory_()`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from rl_platform.nn.actor_critic import ActorCritic, CategoricalHead
from rl_platform.nn.encoders import MLPEncoder


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def _tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x, out=x)


NUMPY_ACTIVATIONS: dict[type[nn.Module], Callable[[np.ndarray], np.ndarray]] = {nn.Tanh: _tanh, nn.ReLU: _relu}


class NumpyCategoricalActor:
    """Logits, greedy and sampled actions of an MLP + categorical-head policy, computed in NumPy."""

    def __init__(self, layers: list[tuple[nn.Linear, Callable[[np.ndarray], np.ndarray] | None]], start: int) -> None:
        self.linears = [linear for linear, _ in layers]
        self.activations = [activation for _, activation in layers]
        self.start = start
        self._pointers: list[int] = []
        self._weights: list[tuple[np.ndarray, np.ndarray]] = []

    @classmethod
    def of(cls, model: ActorCritic) -> NumpyCategoricalActor | None:
        """The NumPy actor of `model`, or None if its actor is not a float-input MLP with a categorical head."""
        encoder, head = model.actor_encoder, model.policy_head
        if not (isinstance(encoder, MLPEncoder) and encoder.num_categories is None and encoder.scale == 1.0
                and isinstance(head, CategoricalHead)):
            return None
        layers: list[tuple[nn.Linear, Callable[[np.ndarray], np.ndarray] | None]] = []
        for module in encoder.layers:
            if isinstance(module, nn.Linear):
                layers.append((module, None))
            elif type(module) in NUMPY_ACTIVATIONS and layers and layers[-1][1] is None:
                layers[-1] = (layers[-1][0], NUMPY_ACTIVATIONS[type(module)])
            else:
                return None
        if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in model.parameters()):
            return None
        return cls([*layers, (head.logits, None)], head.start)

    def _views(self) -> list[tuple[np.ndarray, np.ndarray]]:
        pointers = [param.data_ptr() for linear in self.linears for param in (linear.weight, linear.bias)]
        if pointers != self._pointers:  # first call, or a parameter's storage moved
            self._weights = [(linear.weight.detach().numpy().T, linear.bias.detach().numpy())
                             for linear in self.linears]
            self._pointers = pointers
        return self._weights

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """(batch, num_actions) float32 logits of a batch of observations."""
        x = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        for (weight, bias), activation in zip(self._views(), self.activations, strict=True):
            x = x @ weight
            x += bias
            if activation is not None:
                x = activation(x)
        return x

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """Env actions: the most probable action of each observation."""
        return self.logits(obs).argmax(axis=-1) + self.start

    def sample(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Raw actions (0 .. n-1) sampled from softmax(logits) by inverting the cumulative distribution."""
        logits = self.logits(obs).astype(np.float64)
        logits -= logits.max(axis=-1, keepdims=True)
        cumulative = np.exp(logits, out=logits).cumsum(axis=-1)
        draws = rng.random(len(cumulative)) * cumulative[:, -1]
        actions = (draws[:, None] >= cumulative).sum(axis=-1)
        return np.minimum(actions, cumulative.shape[1] - 1)  # a draw equal to the total (rounding) stays in range
