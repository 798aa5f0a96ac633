"""CliffWalking-v1 (Sutton & Barto, Example 6.6): walk along a 4x12 grid from [3, 0] to [3, 11] avoiding the cliff.

Same model as Gymnasium's `CliffWalkingEnv` (v1, Gymnasium 1.4), outcome for outcome.

| Action | Meaning |     | Observation (Discrete(48)) |
|--------|---------|-----|----------------------------|
| 0      | up      |     | row * 12 + col of the player |
| 1      | right   |     |                            |
| 2      | down    |     |                            |
| 3      | left    |     |                            |

Reward -1 per step; stepping into the cliff ([3, 1..10]) gives -100 and sends the player back to
the start (36), not terminated. Terminates on entering the goal (47). Moves off the grid leave the
player in place. Reset: always 36. No time limit (Gymnasium registers CliffWalking-v1 without one).

`is_slippery` (default False; True for CliffWalkingSlippery-v1): the player moves in the intended
direction or one of the two perpendicular ones, each with probability 1/3.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rl_platform.envs.kernel import NumbaEnvDef
from rl_platform.envs.toy_text import tabular
from rl_platform.mdp import TransitionModel, model_from_outcomes

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
NROW, NCOL = 4, 12
START, GOAL = 3 * NCOL + 0, 3 * NCOL + 11
_DELTAS = {UP: (-1, 0), RIGHT: (0, 1), DOWN: (1, 0), LEFT: (0, -1)}


def transition_model(is_slippery: bool = False) -> TransitionModel:
    """The exact model (Gymnasium's `P` and `initial_state_distrib`) of CliffWalking.

    The goal and cliff cells have rows too (as in Gymnasium), though an episode never stands on them.
    """
    outcomes = []
    for s in range(NROW * NCOL):
        row, col = divmod(s, NCOL)
        per_action = []
        for a in range(4):
            moves = [(a - 1) % 4, a, (a + 1) % 4] if is_slippery else [a]
            row_outcomes = []
            for b in moves:
                new_row = max(min(row + _DELTAS[b][0], NROW - 1), 0)
                new_col = max(min(col + _DELTAS[b][1], NCOL - 1), 0)
                if new_row == NROW - 1 and 0 < new_col < NCOL - 1:  # the cliff
                    row_outcomes.append((1 / len(moves), START, -100, False))
                else:
                    new_s = new_row * NCOL + new_col
                    row_outcomes.append((1 / len(moves), new_s, -1, new_s == GOAL))
            per_action.append(row_outcomes)
        outcomes.append(per_action)
    initial = np.zeros(NROW * NCOL)
    initial[START] = 1.0
    return model_from_outcomes(outcomes, initial)


def _env_def(name: str, is_slippery: bool) -> NumbaEnvDef:
    model = transition_model(is_slippery)
    return NumbaEnvDef(
        name=name, state_size=1,
        observation_space=gym.spaces.Discrete(NROW * NCOL), action_space=gym.spaces.Discrete(4),
        max_episode_steps=tabular.NO_TIME_LIMIT, reset_one=tabular.reset_one, step_one=tabular.step_one,
        observe_one=tabular.observe_one, params=tabular.pack_params(model),
        transition_model=model,
    )


def cliff_walking_v1(is_slippery: bool = False) -> NumbaEnvDef:
    """CliffWalking-v1 (deterministic unless `is_slippery`)."""
    return _env_def("CliffWalking-v1", is_slippery)


def cliff_walking_slippery_v1(is_slippery: bool = True) -> NumbaEnvDef:
    """CliffWalkingSlippery-v1: CliffWalking-v1 with `is_slippery=True`."""
    return _env_def("CliffWalkingSlippery-v1", is_slippery)
