"""MinAtar Freeway (Young & Tian, 2019): the rules, rewards and termination of `minatar` 1.0.15.

A chicken in column 4 crosses 8 lanes of traffic (rows 1..8) from the bottom row to the top. It can
move one row up or down at most every 3 steps. Reaching row 0 gives +1, puts the chicken back on the
bottom row and draws new car speeds; a car hitting the chicken (on the car's cell before or after it
moves) also sends the chicken back to the bottom. Car `i` drives in row `i + 1` and moves one cell
every `|speed|` + 1 steps (`|speed|` in 1..5), right when its speed is positive, wrapping around the
edges. Terminates after 2500 steps (on the 2501st); no difficulty ramping.

| v1 action | v0 action | Meaning |   | Channel | Shows |
|-----------|-----------|---------|---|---------|-------|
| 0         | 0         | no-op   |   | 0 chicken | the chicken (column 4) |
| 1         | 2         | up      |   | 1 car     | the cars |
| 2         | 4         | down    |   | 2..6 speed1..5 | the cell behind each car, channel 1 + its `|speed|` |
|           | 1, 3, 5   | no-op (left, right, fire) | | | |

Observation: bool (7, 10, 10), channel first. Reset: every car in column 0, speeds `randint(1, 6, 8)`
times directions `sign(rand(8) - 0.5)` (16 uniform draws, speeds first), chicken in row 9. Sticky
actions (`sticky_action_prob`, 0.1 by default) as `minatar.Environment`. The registered envs also
truncate at 100,000 steps (never reached: the game ends itself at 2501).

A direction draw of exactly 0.5 gives speed 0, as the reference: such a car moves left every step and
shows no trail (the reference's `state()` would raise there); the chance is 2**-53 per draw.
"""

from __future__ import annotations

import numba

from rl_platform.envs.minatar.common import (
    COMMON_STATE,
    DOWN,
    GRID,
    LAST_ACTION,
    NOOP,
    UP,
    MinAtarGame,
    clear_observation,
    clip,
    random_int,
    sticky_action,
)
from rl_platform.envs.rng import next_uniform

NUM_CARS = 8
CHICKEN_Y, MOVE_TIMER, TERMINATE_TIMER, TERMINAL = range(COMMON_STATE, COMMON_STATE + 4)
CARS = COMMON_STATE + 4  # car i: x at CARS + 3 * i, then its move timer, then its signed speed; its row is i + 1
CAR_X, CAR_TIMER, CAR_SPEED = 0, 1, 2
STATE_SIZE = CARS + 3 * NUM_CARS
CHICKEN_CHANNEL, CAR_CHANNEL = 0, 1  # speed s trails in channel 1 + s
CHICKEN_X = 4
PLAYER_SPEED = 3  # steps between two chicken moves
TIME_LIMIT = 2500


@numba.njit(inline="always")
def randomize_cars(state, rng, initialize):
    """New speeds and directions for every car, and (at reset) every car back to column 0."""
    for i in range(NUM_CARS):  # randint(1, 6, 8): all speeds first ...
        state[CARS + 3 * i + CAR_SPEED] = random_int(1, 6, rng)
    for i in range(NUM_CARS):  # ... then sign(rand(8) - 0.5)
        u = next_uniform(rng) - 0.5
        direction = 1.0 if u > 0.0 else (-1.0 if u < 0.0 else 0.0)
        speed = state[CARS + 3 * i + CAR_SPEED] * direction
        state[CARS + 3 * i + CAR_SPEED] = speed
        state[CARS + 3 * i + CAR_TIMER] = abs(speed)
        if initialize:
            state[CARS + 3 * i + CAR_X] = 0.0


def reset_one(state, params, rng):
    state[LAST_ACTION] = NOOP
    randomize_cars(state, rng, True)
    state[CHICKEN_Y] = GRID - 1
    state[MOVE_TIMER] = PLAYER_SPEED
    state[TERMINATE_TIMER] = TIME_LIMIT
    state[TERMINAL] = 0.0


def step_one(state, action, params, rng):
    action = sticky_action(state, action, params, rng)
    if state[TERMINAL] != 0.0:  # as the reference: an ended game stays put
        return 0.0, True
    reward = 0.0
    chicken_y = int(state[CHICKEN_Y])
    move_timer = int(state[MOVE_TIMER])
    if action == UP and move_timer == 0:
        move_timer = PLAYER_SPEED
        chicken_y = clip(chicken_y - 1, 0, GRID - 1)
    elif action == DOWN and move_timer == 0:
        move_timer = PLAYER_SPEED
        chicken_y = clip(chicken_y + 1, 0, GRID - 1)

    if chicken_y == 0:
        reward += 1.0
        randomize_cars(state, rng, False)
        chicken_y = GRID - 1

    for i in range(NUM_CARS):
        car = CARS + 3 * i
        car_x = int(state[car + CAR_X])
        lane = i + 1
        if car_x == CHICKEN_X and lane == chicken_y:
            chicken_y = GRID - 1
        if state[car + CAR_TIMER] == 0.0:
            speed = state[car + CAR_SPEED]
            state[car + CAR_TIMER] = abs(speed)
            car_x += 1 if speed > 0.0 else -1
            if car_x < 0:
                car_x = GRID - 1
            elif car_x > GRID - 1:
                car_x = 0
            state[car + CAR_X] = car_x
            if car_x == CHICKEN_X and lane == chicken_y:
                chicken_y = GRID - 1
        else:
            state[car + CAR_TIMER] -= 1.0

    state[CHICKEN_Y] = chicken_y
    state[MOVE_TIMER] = move_timer - 1 if move_timer > 0 else 0
    state[TERMINATE_TIMER] -= 1.0
    terminal = state[TERMINATE_TIMER] < 0.0
    state[TERMINAL] = 1.0 if terminal else 0.0
    return reward, terminal


def observe_one(state, params, obs):
    clear_observation(obs)
    obs[CHICKEN_CHANNEL, int(state[CHICKEN_Y]), CHICKEN_X] = True
    for i in range(NUM_CARS):
        car = CARS + 3 * i
        car_x = int(state[car + CAR_X])
        speed = state[car + CAR_SPEED]
        lane = i + 1
        obs[CAR_CHANNEL, lane, car_x] = True
        back_x = car_x - 1 if speed > 0.0 else car_x + 1
        if back_x < 0:
            back_x = GRID - 1
        elif back_x > GRID - 1:
            back_x = 0
        if speed != 0.0:
            obs[CAR_CHANNEL + int(abs(speed)), lane, back_x] = True


FREEWAY = MinAtarGame(
    name="Freeway", channels=("chicken", "car", "speed1", "speed2", "speed3", "speed4", "speed5"),
    minimal_actions="nud", state_size=STATE_SIZE, reset_one=reset_one, step_one=step_one,
    observe_one=observe_one,
)
