"""FrozenLake-v1 and FrozenLake8x8-v1: cross a frozen lake from start (S) to goal (G) without falling into a hole (H).

Same model as Gymnasium's `FrozenLakeEnv` (v1, Gymnasium 1.4), outcome for outcome.

| Action | Meaning |     | Observation (Discrete(nrow * ncol)) |
|--------|---------|-----|-------------------------------------|
| 0      | left    |     | row * ncol + col of the player       |
| 1      | down    |     |                                     |
| 2      | right   |     |                                     |
| 3      | up      |     |                                     |

Moves off the grid leave the player in place. Reward on entering a tile: `reward_schedule` =
(goal, hole, frozen or start), default (1, 0, 0). Terminates on entering G or H; truncates at 100
steps (FrozenLake-v1) or 200 (FrozenLake8x8-v1). Reset: uniform over the S tiles.

Kwargs (as Gymnasium's): `desc` (list of row strings over S, F, H, G; overrides `map_name`),
`map_name` ("4x4" or "8x8"; `desc=None, map_name=None`: a random valid 8x8 map), `is_slippery`
(default True: the player moves in the intended direction with probability `success_rate`, default
1/3, else in one of the two perpendicular directions, each `(1 - success_rate) / 2`).

The env is its transition table (:func:`transition_model`), sampled by the shared tabular kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium.envs.toy_text.frozen_lake import MAPS, generate_random_map

from rl_platform.envs.kernel import NumbaEnvDef
from rl_platform.envs.toy_text import tabular
from rl_platform.mdp import TransitionModel, model_from_outcomes

LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3


def _board(desc: Sequence[str] | None, map_name: str | None) -> list[str]:
    """The map as row strings; `desc` may be anything Gymnasium accepts (strings, lists of letters, bytes)."""
    if desc is None and map_name is None:
        desc = generate_random_map()
    elif desc is None:
        desc = MAPS[map_name]
    return ["".join(letter.decode() for letter in row) for row in np.asarray(desc, dtype="c")]


def transition_model(desc: Sequence[str] | None = None, map_name: str | None = "4x4", is_slippery: bool = True,
                     success_rate: float = 1.0 / 3.0,
                     reward_schedule: tuple[float, float, float] = (1, 0, 0)) -> TransitionModel:
    """The exact model (Gymnasium's `P` and `initial_state_distrib`) for these FrozenLake kwargs.

    In G and H every action keeps the player there with reward 0, terminated (never reached in an
    episode, which ends on entering them).
    """
    board = _board(desc, map_name)
    nrow, ncol = len(board), len(board[0])
    fail_rate = (1.0 - success_rate) / 2.0

    def move(row: int, col: int, a: int) -> tuple[int, float, bool]:
        if a == LEFT:
            col = max(col - 1, 0)
        elif a == DOWN:
            row = min(row + 1, nrow - 1)
        elif a == RIGHT:
            col = min(col + 1, ncol - 1)
        elif a == UP:
            row = max(row - 1, 0)
        letter = board[row][col]
        reward = reward_schedule["GHF".index(letter if letter in "GHF" else "F")]
        return row * ncol + col, reward, letter in "GH"

    outcomes = []
    for row in range(nrow):
        for col in range(ncol):
            s = row * ncol + col
            per_action = []
            for a in range(4):
                if board[row][col] in "GH":
                    per_action.append([(1.0, s, 0, True)])
                elif is_slippery:
                    per_action.append([(success_rate if b == a else fail_rate, *move(row, col, b))
                                       for b in [(a - 1) % 4, a, (a + 1) % 4]])
                else:
                    per_action.append([(1.0, *move(row, col, a))])
            outcomes.append(per_action)
    initial = np.array([letter == "S" for line in board for letter in line], dtype=np.float64)
    initial /= initial.sum()
    return model_from_outcomes(outcomes, initial)


def _env_def(name: str, max_episode_steps: int, desc, map_name, is_slippery, success_rate,
             reward_schedule) -> NumbaEnvDef:
    model = transition_model(desc, map_name, is_slippery, success_rate, reward_schedule)
    return NumbaEnvDef(
        name=name, state_size=1,
        observation_space=gym.spaces.Discrete(model.num_states), action_space=gym.spaces.Discrete(4),
        max_episode_steps=max_episode_steps, reset_one=tabular.reset_one, step_one=tabular.step_one,
        observe_one=tabular.observe_one, params=tabular.pack_params(model),
        transition_model=model,
    )


def frozen_lake_v1(desc: Sequence[str] | None = None, map_name: str | None = "4x4", is_slippery: bool = True,
                success_rate: float = 1.0 / 3.0, reward_schedule: tuple[float, float, float] = (1, 0, 0)
                ) -> NumbaEnvDef:
    """FrozenLake-v1 (4x4 map unless `desc`/`map_name` say otherwise), 100-step limit."""
    return _env_def("FrozenLake-v1", 100, desc, map_name, is_slippery, success_rate, reward_schedule)


def frozen_lake_8x8_v1(desc: Sequence[str] | None = None, map_name: str | None = "8x8", is_slippery: bool = True,
                    success_rate: float = 1.0 / 3.0, reward_schedule: tuple[float, float, float] = (1, 0, 0)
                    ) -> NumbaEnvDef:
    """FrozenLake8x8-v1 (8x8 map unless `desc`/`map_name` say otherwise), 200-step limit."""
    return _env_def("FrozenLake8x8-v1", 200, desc, map_name, is_slippery, success_rate, reward_schedule)
