"""Taxi-v4 (Dietterich, 2000): drive to the passenger, pick them up, drop them off at their destination.

Same model as Gymnasium's `TaxiEnv` (v4, Gymnasium 1.4), including `is_rainy` and `fickle_passenger`.

| Action | Meaning |     | Observation (Discrete(500)) |
|--------|---------|-----|-----------------------------|
| 0      | south (down) |  | ((taxi_row * 5 + taxi_col) * 5 + passenger_location) * 4 + destination |
| 1      | north (up)   |  | passenger_location: 0-3 = R, G, Y, B; 4 = in the taxi |
| 2      | east (right) |  | destination: 0-3 = R (0,0), G (0,4), Y (4,0), B (4,3) |
| 3      | west (left)  |  |                             |
| 4      | pickup       |  |                             |
| 5      | dropoff      |  |                             |

Map (walls `|` block east/west moves)::

    +---------+
    |R: | : :G|
    | : | : : |
    | : : : : |
    | | : | : |
    |Y| : |B: |
    +---------+

Reward -1 per step, +20 for delivering the passenger (terminates), -10 for an illegal pickup or
dropoff. Dropping the passenger at another pad leaves them there (-1). Truncates at 200 steps.
Reset: uniform over taxi position, passenger at a pad and a different destination (300 states).

`is_rainy` (default False): a move goes in the intended direction with probability
`rainy_probability` (0.8), else to either side, `(1 - p) / 2` each (no drift when the intended move
is blocked). `fickle_passenger` (default False): with probability `fickle_probability` (0.3), drawn at
reset, the passenger changes destination (uniformly to one of the three others) on the first step in
which the taxi moves with them aboard. That choice is made once per episode and hidden from the
observation, so the env state is [observation, fickle pending (0/1)]; :func:`transition_model`
(Gymnasium's `P`) does not include it, as in Gymnasium.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rl_platform.envs.kernel import NumbaEnvDef
from rl_platform.envs.rng import next_uniform
from rl_platform.envs.toy_text import tabular
from rl_platform.envs.toy_text.tabular import sample_initial, sample_outcome  # by name: the CUDA build swaps them
from rl_platform.mdp import TransitionModel, model_from_outcomes

MAP = [
    "+---------+",
    "|R: | : :G|",
    "| : | : : |",
    "| : : : : |",
    "| | : | : |",
    "|Y| : |B: |",
    "+---------+",
]
LOCS = [(0, 0), (0, 4), (4, 0), (4, 3)]
MAX_ROW = MAX_COL = 4
IN_TAXI = 4
FICKLE, FICKLE_PROBABILITY = tabular.EXTRA, tabular.EXTRA + 1  # params indices


def encode(taxi_row: int, taxi_col: int, pass_loc: int, dest_idx: int) -> int:
    return ((taxi_row * 5 + taxi_col) * 5 + pass_loc) * 4 + dest_idx


def decode(s: int) -> tuple[int, int, int, int]:
    return s // 100, (s // 20) % 5, (s // 4) % 5, s % 4


def _open(row: int, col: int) -> bool:
    """No wall between column `col - 1` and `col` in `row` (the map character left of `col`)."""
    return MAP[1 + row][2 * col] == ":"


def _pickup(taxi_loc, pass_idx):
    if pass_idx < 4 and taxi_loc == LOCS[pass_idx]:
        return IN_TAXI, -1
    return pass_idx, -10


def _dropoff(taxi_loc, pass_idx, dest_idx):
    if taxi_loc == LOCS[dest_idx] and pass_idx == IN_TAXI:
        return dest_idx, 20, True
    if taxi_loc in LOCS and pass_idx == IN_TAXI:
        return LOCS.index(taxi_loc), -1, False
    return pass_idx, -10, False


def _lateral(row: int, col: int, dr: int, dc: int) -> tuple[int, int]:
    """Where a sideways drift lands (Gymnasium's `_calc_new_position`, walls checked at the clamped target)."""
    new_row, new_col = max(0, min(row + dr, MAX_ROW)), max(0, min(col + dc, MAX_COL))
    if dc == 1 and not _open(new_row, new_col):
        return row, col
    if dc == -1 and not _open(new_row, new_col + 1):
        return row, col
    return new_row, new_col


# (forward, left, right) for each heading, as in Gymnasium.
_RAINY_MOVES = {0: ((1, 0), (0, 1), (0, -1)), 1: ((-1, 0), (0, -1), (0, 1)),
                2: ((0, 1), (-1, 0), (1, 0)), 3: ((0, -1), (1, 0), (-1, 0))}


def _outcomes(row, col, pass_idx, dest_idx, action, is_rainy, rainy_probability):
    taxi_loc = (row, col)
    can_move = ((action == 0 and row < MAX_ROW) or (action == 1 and row > 0)
                or (action == 2 and _open(row, col + 1)) or (action == 3 and _open(row, col)))
    if action == 4:
        new_pass, reward = _pickup(taxi_loc, pass_idx)
        return [(1.0, encode(row, col, new_pass, dest_idx), reward, False)]
    if action == 5:
        new_pass, reward, terminated = _dropoff(taxi_loc, pass_idx, dest_idx)
        return [(1.0, encode(row, col, new_pass, dest_idx), reward, terminated)]
    forward, left, right = _RAINY_MOVES[action]
    intended = (max(0, min(row + forward[0], MAX_ROW)), max(0, min(col + forward[1], MAX_COL))) if can_move \
        else taxi_loc
    if not is_rainy:
        return [(1.0, encode(*intended, pass_idx, dest_idx), -1, False)]
    left_pos = _lateral(row, col, *left) if can_move else taxi_loc
    right_pos = _lateral(row, col, *right) if can_move else taxi_loc
    lateral_probability = (1.0 - rainy_probability) / 2.0
    return [(rainy_probability, encode(*intended, pass_idx, dest_idx), -1, False),
            (lateral_probability, encode(*left_pos, pass_idx, dest_idx), -1, False),
            (lateral_probability, encode(*right_pos, pass_idx, dest_idx), -1, False)]


def transition_model(is_rainy: bool = False, fickle_passenger: bool = False, rainy_probability: float = 0.8,
                     fickle_probability: float = 0.3) -> TransitionModel:
    """The exact model (Gymnasium's `P` and `initial_state_distrib`) of Taxi.

    Takes the env's kwargs; `fickle_passenger` and `fickle_probability` do not change it: the fickle
    passenger is not part of `P` (see the module docstring).
    """
    outcomes = [[] for _ in range(500)]
    initial = np.zeros(500)
    for row in range(5):
        for col in range(5):
            for pass_idx in range(5):
                for dest_idx in range(4):
                    s = encode(row, col, pass_idx, dest_idx)
                    if pass_idx < 4 and pass_idx != dest_idx:
                        initial[s] += 1
                    outcomes[s] = [_outcomes(row, col, pass_idx, dest_idx, a, is_rainy, rainy_probability)
                                   for a in range(6)]
    return model_from_outcomes(outcomes, initial / initial.sum())


# -- per-env functions (state = [s, fickle pending]) ---------------------------------------------
def reset_one(state, params, rng):
    state[0] = sample_initial(params, rng)
    state[1] = 0.0
    if params[FICKLE] != 0.0 and next_uniform(rng) < params[FICKLE_PROBABILITY]:
        state[1] = 1.0


def step_one(state, action, params, rng):
    s = int(state[0])
    s_next, reward, terminated = sample_outcome(s, action, params, rng)
    if params[FICKLE] != 0.0 and state[1] != 0.0 and (s // 4) % 5 == IN_TAXI:
        row, col = s_next // 100, (s_next // 20) % 5
        if row != s // 100 or col != (s // 20) % 5:  # the taxi moved with the passenger aboard
            state[1] = 0.0
            old_dest = s % 4
            new_dest = int(next_uniform(rng) * 3.0)  # uniform over the three other destinations
            if new_dest >= old_dest:
                new_dest += 1
            s_next = s_next - s_next % 4 + new_dest
    state[0] = s_next
    return reward, terminated


def taxi_v4(is_rainy: bool = False, fickle_passenger: bool = False, rainy_probability: float = 0.8,
         fickle_probability: float = 0.3) -> NumbaEnvDef:
    """Taxi-v4 with Gymnasium's kwargs."""
    model = transition_model(is_rainy, rainy_probability=rainy_probability)
    params = tabular.pack_params(model, extra=(float(fickle_passenger), fickle_probability))
    return NumbaEnvDef(
        name="Taxi-v4", state_size=2,
        observation_space=gym.spaces.Discrete(500), action_space=gym.spaces.Discrete(6),
        max_episode_steps=200, reset_one=reset_one, step_one=step_one, observe_one=tabular.observe_one,
        params=params,
        # A fickle passenger's hidden flag makes the table alone inexact.
        transition_model=None if fickle_passenger else model,
    )
