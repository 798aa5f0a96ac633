"""Random-policy episode statistics of rlp/MinAtar-*-v1 against the `minatar` package with its own RNG.

The step-by-step parity tests (test_minatar_<game>.py) drive the reference with our random draws. Here
neither side is aligned: ours draws from its SplitMix64 streams, the reference from its own
`numpy.random.RandomState`, and one difference stays (our reset sets the sticky last action to no-op).
Both play uniformly random minimal-set actions with sticky actions 0.1 and difficulty ramping; the mean
episode length and return must agree within 4 standard errors of their difference. Seeds are fixed,
so the outcome is deterministic. Measured (seed 0; length / return, ours vs reference): Breakout 9.9 / 0.38
vs 10.3 / 0.42, Freeway 2501 / 0.43 vs 2501 / 0.34 (z 2.1; 4096 episodes of seed 5: 0.393 vs 0.394),
Asterix 67.3 / 0.50 vs 66.4 / 0.51, SpaceInvaders 60.8 / 4.20 vs 59.8 / 4.10.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)

minatar = pytest.importorskip("minatar")

NUM_ENVS = 64
MAX_Z = 4.0
# game: (reference name, episodes per side)
GAMES = {"Breakout": ("breakout", 1024), "Freeway": ("freeway", 512), "Asterix": ("asterix", 1024),
         "SpaceInvaders": ("space_invaders", 1024)}


def ours_episodes(game: str, episodes: int, seed: int, **env_kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Lengths and returns of the first `episodes / NUM_ENVS` episodes of every env (no bias to short ones)."""
    per_env = episodes // NUM_ENVS
    envs = gym.make_vec(f"rlp/MinAtar-{game}-v1", num_envs=NUM_ENVS, **env_kwargs)
    envs.reset(seed=seed)
    rng = np.random.default_rng(seed)
    lengths, returns = [[] for _ in range(NUM_ENVS)], [[] for _ in range(NUM_ENVS)]
    length, total = np.zeros(NUM_ENVS, dtype=np.int64), np.zeros(NUM_ENVS)
    while min(len(done) for done in lengths) < per_env:
        actions = rng.integers(0, envs.single_action_space.n, NUM_ENVS)
        _, rewards, terminations, truncations, _ = envs.step(actions)
        length += 1
        total += rewards
        for i in np.flatnonzero(terminations | truncations):
            if len(lengths[i]) < per_env:
                lengths[i].append(length[i])
                returns[i].append(total[i])
            length[i], total[i] = 0, 0.0
    envs.close()
    return np.concatenate(lengths).astype(float), np.concatenate(returns)


def reference_episodes(name: str, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    env = minatar.Environment(name, sticky_action_prob=0.1, difficulty_ramping=True)
    env.seed(seed)
    actions = env.minimal_action_set()
    rng = np.random.default_rng(seed)
    lengths, returns = [], []
    for _ in range(episodes):
        env.reset()
        terminal, length, total = False, 0, 0.0
        while not terminal:
            reward, terminal = env.act(actions[rng.integers(len(actions))])
            length += 1
            total += reward
        lengths.append(length)
        returns.append(total)
    return np.array(lengths, dtype=float), np.array(returns)


def z_score(ours: np.ndarray, reference: np.ndarray) -> float:
    """|mean difference| in standard errors of the difference; 0 for equal constants."""
    difference = abs(ours.mean() - reference.mean())
    standard_error = np.sqrt(ours.var(ddof=1) / len(ours) + reference.var(ddof=1) / len(reference))
    if standard_error == 0.0:
        return 0.0 if difference == 0.0 else np.inf
    return float(difference / standard_error)


@pytest.mark.parametrize("game", list(GAMES))
def test_random_policy_episode_statistics_match_reference(game):
    name, episodes = GAMES[game]
    ours_lengths, ours_returns = ours_episodes(game, episodes, seed=0)
    ref_lengths, ref_returns = reference_episodes(name, episodes, seed=0)
    assert len(ours_lengths) == len(ref_lengths) == episodes
    report = (f"{game}: length ours {ours_lengths.mean():.2f} reference {ref_lengths.mean():.2f}, "
              f"return ours {ours_returns.mean():.3f} reference {ref_returns.mean():.3f}")
    assert z_score(ours_lengths, ref_lengths) < MAX_Z, report
    assert z_score(ours_returns, ref_returns) < MAX_Z, report
    assert ref_returns.mean() > 0.3, report  # the comparison is not between two all-zero samples


def test_statistics_tell_a_changed_game_apart():
    """The check has power: SpaceInvaders with sticky actions 0.5 instead of 0.1 fires less often and scores
    measurably less than the reference (measured 2.99 vs 4.10 mean return, z 8.7)."""
    _, ours_returns = ours_episodes("SpaceInvaders", 1024, seed=0, sticky_action_prob=0.5)
    _, ref_returns = reference_episodes("space_invaders", 1024, seed=0)
    assert z_score(ours_returns, ref_returns) > MAX_Z


def test_z_score_by_hand():
    ours, reference = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    # mean difference 2; variances 1 and 4 (ddof 1) over 3 samples each: standard error sqrt(5/3)
    assert z_score(ours, reference) == pytest.approx(2.0 / np.sqrt(5.0 / 3.0))
    assert z_score(np.full(4, 2501.0), np.full(4, 2501.0)) == 0.0
    assert z_score(np.full(4, 2500.0), np.full(4, 2501.0)) == np.inf
