"""MinAtar SpaceInvaders (Young & Tian, 2019): the rules, rewards and termination of `minatar` 1.0.15.

A cannon on the bottom row shoots upward (at most one shot every 5 steps) at a 4x6 block of aliens that
marches sideways, one column every `alien_move_timer` steps, and steps down a row and turns when it
reaches a side. The alien nearest to the cannon's column (nearer columns first, left before right on a
tie; the lowest alien of that column) drops a bullet every 10 steps. Reward +1 per alien shot (the alien
and the bullet disappear). Terminates when an alien or an alien bullet reaches the cannon, or when the
aliens turn on the bottom row. The aliens speed up as they thin out (they move every
min(aliens left, move interval) steps); clearing a wave brings a new block and, with difficulty
ramping, lowers the move interval by one (from 12 down to 6).

| v1 action | v0 action | Meaning |   | Channel | Shows |
|-----------|-----------|---------|---|---------|-------|
| 0         | 0         | no-op   |   | 0 cannon          | the cannon (row 9) |
| 1         | 1         | left    |   | 1 alien           | the aliens |
| 2         | 3         | right   |   | 2 alien_left      | the aliens, when they move left |
| 3         | 5         | fire    |   | 3 alien_right     | the aliens, when they move right |
|           | 2, 4      | no-op (up, down) | | 4 friendly_bullet | the cannon's bullets |
|           |           |         |   | 5 enemy_bullet    | the aliens' bullets |

Observation: bool (6, 10, 10), channel first. The game itself draws no random numbers: only sticky
actions (`sticky_action_prob`, 0.1 by default) as `minatar.Environment`. MinAtar has no time limit:
the registered envs truncate at 100,000 steps only to guard against endless episodes.
"""

from __future__ import annotations

import numba

from rl_platform.envs.minatar.common import (
    COMMON_STATE,
    DIFFICULTY_RAMPING,
    FIRE,
    GRID,
    LAST_ACTION,
    LEFT,
    NOOP,
    RIGHT,
    MinAtarGame,
    clear_observation,
    clip,
    sticky_action,
    write_map,
)

SHOT_COOL_DOWN, ENEMY_MOVE_INTERVAL, ENEMY_SHOT_INTERVAL = 5, 12, 10  # the reference's constants
MIN_MOVE_INTERVAL = 6  # ramping stops there
ALIEN_ROWS, ALIEN_COLUMNS = (0, 4), (2, 8)  # a new wave fills rows 0..3, columns 2..7

(CANNON_X, ALIEN_DIR, MOVE_INTERVAL, ALIEN_MOVE_TIMER, ALIEN_SHOT_TIMER, SHOT_TIMER, RAMP_INDEX,
 TERMINAL) = range(COMMON_STATE, COMMON_STATE + 8)
# Three 10x10 maps, row-major: MAP + row * GRID + column.
ALIENS = COMMON_STATE + 8
FRIENDLY_BULLETS = ALIENS + GRID * GRID
ENEMY_BULLETS = FRIENDLY_BULLETS + GRID * GRID
STATE_SIZE = ENEMY_BULLETS + GRID * GRID
CANNON_CHANNEL, ALIEN_CHANNEL, ALIEN_LEFT_CHANNEL, ALIEN_RIGHT_CHANNEL, FRIENDLY_CHANNEL, ENEMY_CHANNEL = range(6)
BOTTOM = GRID - 1


@numba.njit
def fill_alien_wave(state):
    for y in range(ALIEN_ROWS[0], ALIEN_ROWS[1]):
        for x in range(ALIEN_COLUMNS[0], ALIEN_COLUMNS[1]):
            state[ALIENS + y * GRID + x] = 1.0


def reset_one(state, params, rng):
    state[LAST_ACTION] = NOOP
    state[CANNON_X] = 5.0
    state[ALIEN_DIR] = -1.0
    state[MOVE_INTERVAL] = ENEMY_MOVE_INTERVAL
    state[ALIEN_MOVE_TIMER] = ENEMY_MOVE_INTERVAL
    state[ALIEN_SHOT_TIMER] = ENEMY_SHOT_INTERVAL
    state[SHOT_TIMER] = 0.0
    state[RAMP_INDEX] = 0.0
    state[TERMINAL] = 0.0
    for k in range(3 * GRID * GRID):
        state[ALIENS + k] = 0.0
    fill_alien_wave(state)


@numba.njit(inline="always")
def count_cells(state, base):
    """The number of nonzero cells of the 10x10 map at `base`."""
    count = 0
    for k in range(GRID * GRID):
        cell = state[base + k]
        count += cell > 0.0 or cell < 0.0  # `cell != 0.0`, in a form the compiler vectorizes
    return count


@numba.njit
def column_has_alien(state, x):
    for y in range(GRID):  # noqa: SIM110  (a loop, not any(<generator>): this is Numba code)
        if state[ALIENS + y * GRID + x] != 0.0:
            return True
    return False


@numba.njit
def roll_map(state, base, shift, stride):
    """`np.roll(map, shift, axis)` for shift +1 or -1, along rows (`stride` GRID) or columns (`stride` 1):
    the line pushed off one edge comes back on the other. Moves the aliens (every few steps)."""
    across = 1 if stride == GRID else GRID
    first = BOTTOM if shift > 0 else 0  # the line pushed off the edge; filled from its neighbour
    last = BOTTOM - first  # the line that receives the pushed-off one
    for line in range(GRID):
        start = base + line * across
        pushed_off = state[start + first * stride]
        i = first
        while i != last:
            state[start + i * stride] = state[start + (i - shift) * stride]
            i -= shift
        state[start + last * stride] = pushed_off


@numba.njit(inline="always")
def shift_rows(state, base, down):
    """Every row of the map one row down (or up), the row that enters empty: the reference's roll of a
    bullet map followed by clearing the row it wrapped. One flat copy, as it runs every step for both maps."""
    if down:
        for k in range(GRID * GRID - 1, GRID - 1, -1):
            state[base + k] = state[base + k - GRID]
        first_entering = 0
    else:
        for k in range(GRID * GRID - GRID):
            state[base + k] = state[base + k + GRID]
        first_entering = GRID * GRID - GRID
    for x in range(GRID):
        state[base + first_entering + x] = 0.0


@numba.njit
def drop_enemy_bullet(state, cannon_x):
    """The reference's `_nearest_alien`: the lowest alien of the alien column nearest the cannon fires."""
    for distance in range(GRID):
        for side in range(2):
            x = cannon_x - distance if side == 0 else cannon_x + distance
            if 0 <= x <= BOTTOM and (side == 0 or distance > 0) and column_has_alien(state, x):
                y = BOTTOM
                while state[ALIENS + y * GRID + x] == 0.0:
                    y -= 1
                state[ENEMY_BULLETS + y * GRID + x] = 1.0
                return


def step_one(state, action, params, rng):
    action = sticky_action(state, action, params, rng)
    if state[TERMINAL] != 0.0:  # as the reference: an ended game stays put
        return 0.0, True
    terminal = False
    cannon_x = int(state[CANNON_X])
    if action == FIRE and state[SHOT_TIMER] == 0.0:
        state[FRIENDLY_BULLETS + BOTTOM * GRID + cannon_x] = 1.0
        state[SHOT_TIMER] = SHOT_COOL_DOWN
    elif action == LEFT:
        cannon_x = clip(cannon_x - 1, 0, GRID - 1)
    elif action == RIGHT:
        cannon_x = clip(cannon_x + 1, 0, GRID - 1)
    state[CANNON_X] = cannon_x

    shift_rows(state, FRIENDLY_BULLETS, False)  # up
    shift_rows(state, ENEMY_BULLETS, True)  # down
    if state[ENEMY_BULLETS + BOTTOM * GRID + cannon_x] != 0.0:
        terminal = True

    if state[ALIENS + BOTTOM * GRID + cannon_x] != 0.0:
        terminal = True
    if state[ALIEN_MOVE_TIMER] == 0.0:
        aliens_left = float(count_cells(state, ALIENS))
        state[ALIEN_MOVE_TIMER] = clip(aliens_left, 0.0, state[MOVE_INTERVAL])  # min(aliens, interval)
        direction = int(state[ALIEN_DIR])
        if (column_has_alien(state, 0) and direction < 0) or (column_has_alien(state, GRID - 1) and direction > 0):
            state[ALIEN_DIR] = -direction
            for x in range(GRID):
                if state[ALIENS + BOTTOM * GRID + x] != 0.0:
                    terminal = True
            roll_map(state, ALIENS, 1, GRID)  # a wrapped bottom row has ended the game already
        else:
            roll_map(state, ALIENS, direction, 1)
        if state[ALIENS + BOTTOM * GRID + cannon_x] != 0.0:
            terminal = True
    if state[ALIEN_SHOT_TIMER] == 0.0:
        state[ALIEN_SHOT_TIMER] = ENEMY_SHOT_INTERVAL
        drop_enemy_bullet(state, cannon_x)

    reward = 0.0
    for k in range(GRID * GRID):
        if state[FRIENDLY_BULLETS + k] != 0.0 and state[ALIENS + k] != 0.0:
            state[ALIENS + k] = 0.0
            state[FRIENDLY_BULLETS + k] = 0.0
            reward += 1.0

    if state[SHOT_TIMER] > 0.0:
        state[SHOT_TIMER] -= 1.0
    state[ALIEN_MOVE_TIMER] -= 1.0
    state[ALIEN_SHOT_TIMER] -= 1.0
    if count_cells(state, ALIENS) == 0:
        if state[MOVE_INTERVAL] > MIN_MOVE_INTERVAL and params[DIFFICULTY_RAMPING] != 0.0:
            state[MOVE_INTERVAL] -= 1.0
            state[RAMP_INDEX] += 1.0
        fill_alien_wave(state)  # the direction and the move timer carry over, as in the reference
    state[TERMINAL] = 1.0 if terminal else 0.0
    return reward, terminal


def observe_one(state, params, obs):
    clear_observation(obs)
    obs[CANNON_CHANNEL, BOTTOM, int(state[CANNON_X])] = True
    write_map(state, ALIENS, obs, ALIEN_CHANNEL)
    write_map(state, ALIENS, obs, ALIEN_LEFT_CHANNEL if state[ALIEN_DIR] < 0.0 else ALIEN_RIGHT_CHANNEL)
    write_map(state, FRIENDLY_BULLETS, obs, FRIENDLY_CHANNEL)
    write_map(state, ENEMY_BULLETS, obs, ENEMY_CHANNEL)


SPACE_INVADERS = MinAtarGame(
    name="SpaceInvaders", channels=("cannon", "alien", "alien_left", "alien_right", "friendly_bullet", "enemy_bullet"),
    minimal_actions="nlrf", state_size=STATE_SIZE, reset_one=reset_one, step_one=step_one, observe_one=observe_one,
)
