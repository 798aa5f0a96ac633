"""MinAtar Breakout (Young & Tian, 2019): the rules, rewards and termination of `minatar` 1.0.15.

A paddle on the bottom row bounces a ball that breaks 3 rows of bricks; the ball moves one cell
diagonally per step and is reflected by walls and bricks. The paddle sends it back up the way it came
when the ball was above the paddle, or off to the other side when it lands on the paddle. Clearing
every brick brings back the 3 rows (when the ball next reaches the bottom row). Reward +1 per brick;
terminates when the ball reaches the bottom row and misses the paddle. No difficulty ramping.

| v1 action | v0 action | Meaning |   | Channel | Shows |
|-----------|-----------|---------|---|---------|-------|
| 0         | 0         | no-op   |   | 0 paddle | the paddle (row 9) |
| 1         | 1         | left    |   | 1 ball   | the ball |
| 2         | 3         | right   |   | 2 trail  | the ball's previous cell (its direction) |
|           | 2, 4, 5   | no-op (up, down, fire) | | 3 brick | the bricks |

Observation: bool (4, 10, 10), channel first. Reset: the ball starts at (row 3, column 0) moving down
right or at (row 3, column 9) moving down left, one uniform draw each (`randint(2)`). Sticky actions
(`sticky_action_prob`, 0.1 by default) as `minatar.Environment`. MinAtar has no time limit: the
registered envs truncate at 100,000 steps only to guard against endless episodes.
"""

from __future__ import annotations

import numba

from rl_platform.envs.minatar.common import (
    COMMON_STATE,
    GRID,
    LAST_ACTION,
    LEFT,
    NOOP,
    RIGHT,
    MinAtarGame,
    clear_observation,
    clip,
    random_int,
    sticky_action,
    write_map,
)

# Directions (the reference's `ball_dir`): 0 up-left, 1 up-right, 2 down-right, 3 down-left. Reflections:
# off a side wall d ^ 1, off the ceiling / a brick / back up from the paddle 3 - d, off the paddle's edge d ^ 2.
BALL_X, BALL_Y, BALL_DIR, PADDLE_X, LAST_X, LAST_Y, STRIKE, TERMINAL = range(COMMON_STATE, COMMON_STATE + 8)
BRICKS = COMMON_STATE + 8  # the 10x10 brick map, row-major: BRICKS + row * GRID + column
STATE_SIZE = BRICKS + GRID * GRID
PADDLE_CHANNEL, BALL_CHANNEL, TRAIL_CHANNEL, BRICK_CHANNEL = range(4)
BRICK_ROWS = (1, 4)  # rows 1..3 hold bricks at the start


@numba.njit(inline="always")
def fill_bricks(state):
    for y in range(BRICK_ROWS[0], BRICK_ROWS[1]):
        for x in range(GRID):
            state[BRICKS + y * GRID + x] = 1.0


def reset_one(state, params, rng):
    state[LAST_ACTION] = NOOP
    if random_int(0, 2, rng) == 0:
        state[BALL_X], state[BALL_DIR] = 0.0, 2.0
    else:
        state[BALL_X], state[BALL_DIR] = 9.0, 3.0
    state[BALL_Y] = 3.0
    state[PADDLE_X] = 4.0
    state[LAST_X], state[LAST_Y] = state[BALL_X], state[BALL_Y]
    state[STRIKE] = 0.0
    state[TERMINAL] = 0.0
    for k in range(GRID * GRID):
        state[BRICKS + k] = 0.0
    fill_bricks(state)


def step_one(state, action, params, rng):
    action = sticky_action(state, action, params, rng)
    if state[TERMINAL] != 0.0:  # as the reference: an ended game stays put
        return 0.0, True
    reward = 0.0
    paddle_x = int(state[PADDLE_X])
    if action == LEFT:
        paddle_x = clip(paddle_x - 1, 0, GRID - 1)
    elif action == RIGHT:
        paddle_x = clip(paddle_x + 1, 0, GRID - 1)

    ball_x, ball_y, direction = int(state[BALL_X]), int(state[BALL_Y]), int(state[BALL_DIR])
    new_x = ball_x - 1 if direction == 0 or direction == 3 else ball_x + 1
    new_y = ball_y - 1 if direction < 2 else ball_y + 1
    strike_toggle = False
    terminal = False
    if new_x < 0 or new_x > GRID - 1:
        new_x = 0 if new_x < 0 else GRID - 1
        direction = direction ^ 1
    if new_y < 0:
        new_y = 0
        direction = 3 - direction
    elif state[BRICKS + new_y * GRID + new_x] == 1.0:
        strike_toggle = True
        if state[STRIKE] == 0.0:  # a second brick in a row is not broken: the ball passes into it
            reward += 1.0
            state[STRIKE] = 1.0
            state[BRICKS + new_y * GRID + new_x] = 0.0
            new_y = ball_y
            direction = 3 - direction
    elif new_y == GRID - 1:
        bricks_left = False
        for k in range(GRID * GRID):
            if state[BRICKS + k] != 0.0:
                bricks_left = True
        if not bricks_left:
            fill_bricks(state)
        if ball_x == paddle_x:
            direction = 3 - direction
            new_y = ball_y
        elif new_x == paddle_x:
            direction = direction ^ 2
            new_y = ball_y
        else:
            terminal = True
    if not strike_toggle:
        state[STRIKE] = 0.0

    state[PADDLE_X] = paddle_x
    state[LAST_X], state[LAST_Y] = ball_x, ball_y
    state[BALL_X], state[BALL_Y], state[BALL_DIR] = new_x, new_y, direction
    state[TERMINAL] = 1.0 if terminal else 0.0
    return reward, terminal


def observe_one(state, params, obs):
    clear_observation(obs)
    obs[PADDLE_CHANNEL, GRID - 1, int(state[PADDLE_X])] = True
    obs[BALL_CHANNEL, int(state[BALL_Y]), int(state[BALL_X])] = True
    obs[TRAIL_CHANNEL, int(state[LAST_Y]), int(state[LAST_X])] = True
    write_map(state, BRICKS, obs, BRICK_CHANNEL)


BREAKOUT = MinAtarGame(
    name="Breakout", channels=("paddle", "ball", "trail", "brick"), minimal_actions="nlr",
    state_size=STATE_SIZE, reset_one=reset_one, step_one=step_one, observe_one=observe_one,
)
