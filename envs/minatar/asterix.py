"""MinAtar Asterix (Young & Tian, 2019): the rules, rewards and termination of `minatar` 1.0.15.

The player moves freely on rows 1..8; each of those rows holds at most one entity, an enemy or a piece
of gold, that enters at the left or right edge and crosses the screen. Reward +1 per piece of gold
touched (the gold disappears); terminates when the player touches an enemy. A new entity spawns every
`spawn_speed` steps in a random free row (if any); entities move one cell every `move_speed` steps.
With difficulty ramping, every 102 steps the spawn interval shrinks by one (from 10 down to 1) and every
second time the move interval too (from 5 down to 1).

| v1 action | v0 action | Meaning |   | Channel  | Shows |
|-----------|-----------|---------|---|----------|-------|
| 0         | 0         | no-op   |   | 0 player | the player |
| 1         | 1         | left    |   | 1 enemy  | the enemies |
| 2         | 2         | up      |   | 2 trail  | the cell behind each entity (its direction) |
| 3         | 3         | right   |   | 3 gold   | the gold |
| 4         | 4         | down    |   |          |       |
|           | 5         | no-op (fire) | |       |       |

Observation: bool (4, 10, 10), channel first. Reset: player at (row 5, column 5), no entities, no
random draws. Random draws per spawn: side (`rand() < 1/2`: enters at the left, moving right), kind
(`rand() < 1/3`: gold) and, if a row is free, which free row (`randint(free rows)`), in that order.
Sticky actions (`sticky_action_prob`, 0.1 by default) as `minatar.Environment`. MinAtar has no time
limit: the registered envs truncate at 100,000 steps only to guard against endless episodes.
"""

from __future__ import annotations

import numba

from rl_platform.envs.minatar.common import (
    COMMON_STATE,
    DIFFICULTY_RAMPING,
    DOWN,
    GRID,
    LAST_ACTION,
    LEFT,
    NOOP,
    RIGHT,
    UP,
    MinAtarGame,
    clear_observation,
    clip,
    random_int,
    sticky_action,
)
from rl_platform.envs.rng import next_uniform

INIT_SPAWN_SPEED, INIT_MOVE_SPEED, RAMP_INTERVAL = 10, 5, 100  # the reference's constants
NUM_SLOTS = 8  # entity slot k lives on row k + 1

(PLAYER_X, PLAYER_Y, SPAWN_SPEED, SPAWN_TIMER, MOVE_SPEED, MOVE_TIMER, RAMP_TIMER, RAMP_INDEX,
 TERMINAL) = range(COMMON_STATE, COMMON_STATE + 9)
# Entity slots: (present, column, moving right, is gold) each; a free slot is all zeros.
ENTITIES = COMMON_STATE + 9
PRESENT, COLUMN, MOVING_RIGHT, IS_GOLD = range(4)
SLOT_SIZE = 4
STATE_SIZE = ENTITIES + NUM_SLOTS * SLOT_SIZE
PLAYER_CHANNEL, ENEMY_CHANNEL, TRAIL_CHANNEL, GOLD_CHANNEL = range(4)


def reset_one(state, params, rng):
    state[LAST_ACTION] = NOOP
    state[PLAYER_X], state[PLAYER_Y] = 5.0, 5.0
    state[SPAWN_SPEED] = state[SPAWN_TIMER] = INIT_SPAWN_SPEED
    state[MOVE_SPEED] = state[MOVE_TIMER] = INIT_MOVE_SPEED
    state[RAMP_TIMER] = RAMP_INTERVAL
    state[RAMP_INDEX] = 0.0
    state[TERMINAL] = 0.0
    for k in range(NUM_SLOTS * SLOT_SIZE):
        state[ENTITIES + k] = 0.0


@numba.njit
def spawn_entity(state, rng):
    """The reference's `_spawn_entity`: side and kind are drawn even when every row is taken."""
    moving_right = next_uniform(rng) < 0.5
    is_gold = next_uniform(rng) < 1.0 / 3.0
    free = 0
    for slot in range(NUM_SLOTS):
        if state[ENTITIES + slot * SLOT_SIZE + PRESENT] == 0.0:
            free += 1
    if free == 0:
        return
    chosen = random_int(0, free, rng)  # the chosen-th free slot, in slot order
    for slot in range(NUM_SLOTS):
        base = ENTITIES + slot * SLOT_SIZE
        if state[base + PRESENT] == 0.0:
            if chosen == 0:
                state[base + PRESENT] = 1.0
                state[base + COLUMN] = 0.0 if moving_right else GRID - 1.0
                state[base + MOVING_RIGHT] = 1.0 if moving_right else 0.0
                state[base + IS_GOLD] = 1.0 if is_gold else 0.0
                return
            chosen -= 1


@numba.njit
def clear_slot(state, base):
    for k in range(SLOT_SIZE):
        state[base + k] = 0.0


def step_one(state, action, params, rng):
    action = sticky_action(state, action, params, rng)
    if state[TERMINAL] != 0.0:  # as the reference: an ended game stays put
        return 0.0, True
    reward = 0.0
    terminal = False

    if state[SPAWN_TIMER] == 0.0:
        spawn_entity(state, rng)
        state[SPAWN_TIMER] = state[SPAWN_SPEED]

    player_x, player_y = state[PLAYER_X], state[PLAYER_Y]  # columns 0..9, rows 1..8
    if action == LEFT:
        player_x = clip(player_x - 1.0, 0.0, GRID - 1.0)
    elif action == RIGHT:
        player_x = clip(player_x + 1.0, 0.0, GRID - 1.0)
    elif action == UP:
        player_y = clip(player_y - 1.0, 1.0, GRID - 2.0)
    elif action == DOWN:
        player_y = clip(player_y + 1.0, 1.0, GRID - 2.0)
    state[PLAYER_X], state[PLAYER_Y] = player_x, player_y

    # Contact after the player's move, then again after the entities' move (if they move this step).
    for slot in range(NUM_SLOTS):
        base = ENTITIES + slot * SLOT_SIZE
        if state[base + PRESENT] != 0.0 and state[base + COLUMN] == player_x and slot + 1 == player_y:
            if state[base + IS_GOLD] != 0.0:
                clear_slot(state, base)
                reward += 1.0
            else:
                terminal = True
    if state[MOVE_TIMER] == 0.0:
        state[MOVE_TIMER] = state[MOVE_SPEED]
        for slot in range(NUM_SLOTS):
            base = ENTITIES + slot * SLOT_SIZE
            if state[base + PRESENT] != 0.0:
                column = state[base + COLUMN] + (1.0 if state[base + MOVING_RIGHT] != 0.0 else -1.0)
                state[base + COLUMN] = column
                if column < 0.0 or column > GRID - 1.0:  # left the screen
                    clear_slot(state, base)
                elif column == player_x and slot + 1 == player_y:
                    if state[base + IS_GOLD] != 0.0:
                        clear_slot(state, base)
                        reward += 1.0
                    else:
                        terminal = True

    state[SPAWN_TIMER] -= 1.0
    state[MOVE_TIMER] -= 1.0

    # The reference counts its ramp timer down to -1, so a ramp step comes every RAMP_INTERVAL + 2 steps.
    if params[DIFFICULTY_RAMPING] != 0.0 and (state[SPAWN_SPEED] > 1.0 or state[MOVE_SPEED] > 1.0):
        if state[RAMP_TIMER] >= 0.0:
            state[RAMP_TIMER] -= 1.0
        else:
            if state[MOVE_SPEED] > 1.0 and state[RAMP_INDEX] % 2 == 1.0:
                state[MOVE_SPEED] -= 1.0
            if state[SPAWN_SPEED] > 1.0:
                state[SPAWN_SPEED] -= 1.0
            state[RAMP_INDEX] += 1.0
            state[RAMP_TIMER] = RAMP_INTERVAL
    state[TERMINAL] = 1.0 if terminal else 0.0
    return reward, terminal


def observe_one(state, params, obs):
    clear_observation(obs)
    obs[PLAYER_CHANNEL, int(state[PLAYER_Y]), int(state[PLAYER_X])] = True
    for slot in range(NUM_SLOTS):
        base = ENTITIES + slot * SLOT_SIZE
        if state[base + PRESENT] != 0.0:
            column = int(state[base + COLUMN])
            channel = GOLD_CHANNEL if state[base + IS_GOLD] != 0.0 else ENEMY_CHANNEL
            obs[channel, slot + 1, column] = True
            behind = column - 1 if state[base + MOVING_RIGHT] != 0.0 else column + 1
            if 0 <= behind <= GRID - 1:
                obs[TRAIL_CHANNEL, slot + 1, behind] = True


ASTERIX = MinAtarGame(
    name="Asterix", channels=("player", "enemy", "trail", "gold"), minimal_actions="nlurd",
    state_size=STATE_SIZE, reset_one=reset_one, step_one=step_one, observe_one=observe_one,
)
