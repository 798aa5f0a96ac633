"""Policies with memory: their state resets at every episode start, in evaluation and by `reset_state`, in each
Gymnasium autoreset mode; named optimizers round-trip through checkpoints."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from rl_platform.policy import FunctionPolicy, load_optimizer_states, optimizer_states, reset_state
from rl_platform.run import evaluate
from tests.user_envs import GoodEnv


class CountingPolicy:
    """Plays action 1 for the first `good` steps of each episode, then 0; its state is each env's step count in
    the episode. On GoodEnv (reward = action, 10-step episodes) every episode returns exactly `good` if and only
    if the state restarts at each episode's first observation."""

    def __init__(self, good: int) -> None:
        self.good = good

    def initial_state(self, num_envs: int) -> np.ndarray:
        return np.zeros(num_envs, dtype=np.int64)

    def act(self, obs: np.ndarray, state: np.ndarray | None = None, explore: bool = False):
        return (state < self.good).astype(np.int64), state + 1


def test_reset_state_replaces_only_the_rows_of_envs_that_start_an_episode():
    starts = np.array([True, False, True])
    fresh = lambda n: (np.zeros((n, 2)), torch.zeros(n, 1), {"h": np.full(n, -1.0)})  # noqa: E731
    state = (np.arange(6.0).reshape(3, 2), torch.tensor([[7.0], [8.0], [9.0]]), {"h": np.array([1.0, 2.0, 3.0])})
    array, tensor, mapping = reset_state(state, starts, fresh)
    np.testing.assert_array_equal(array, [[0, 0], [2, 3], [0, 0]])
    assert torch.equal(tensor, torch.tensor([[0.0], [8.0], [0.0]]))
    np.testing.assert_array_equal(mapping["h"], [-1.0, 2.0, -1.0])
    assert reset_state(None, starts, fresh) is None
    unchanged = np.ones(3)
    assert reset_state(unchanged, np.zeros(3, dtype=bool), fresh) is unchanged


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_evaluation_restarts_a_policy_state_at_every_episode(mode):
    envs = gym.vector.SyncVectorEnv([GoodEnv for _ in range(3)], autoreset_mode=mode)
    try:
        returns = evaluate(CountingPolicy(good=4), envs, episodes=9, seed=0)
    finally:
        envs.close()
    np.testing.assert_array_equal(returns, np.full(9, 4.0))


def test_function_policy_is_stateless():
    policy = FunctionPolicy(lambda obs: np.zeros(len(obs), dtype=np.int64))
    actions, state = policy.act(np.zeros((2, 4)), policy.initial_state(2))
    assert state is None and actions.tolist() == [0, 0]


def test_named_optimizers_round_trip_and_old_single_optimizer_checkpoints_load():
    weights = torch.nn.Parameter(torch.ones(2))
    trained = {"q_network": torch.optim.Adam([weights], lr=0.1)}
    weights.grad = torch.ones(2)
    trained["q_network"].step()
    saved = optimizer_states(trained)
    fresh = {"q_network": torch.optim.Adam([torch.nn.Parameter(torch.ones(2))], lr=0.1)}
    load_optimizer_states(fresh, {"optimizers": saved})
    assert fresh["q_network"].state_dict()["state"][0]["step"] == 1
    old = {"q_network": torch.optim.Adam([torch.nn.Parameter(torch.ones(2))], lr=0.1)}
    load_optimizer_states(old, {"optimizer": saved["q_network"]})  # written before optimizers had names
    assert old["q_network"].state_dict()["state"][0]["step"] == 1
