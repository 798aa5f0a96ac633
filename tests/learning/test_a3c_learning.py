"""Each shipped A3C config reaches its return threshold (CPU, the config's own budget).

Async runs (worker processes updating one model without locks) are not bit-reproducible, so these
tests use the configs' full budgets, which leave a wide margin over the steps a run usually needs.
The threshold is checked on the greedy evaluation that ended training and again by a fresh
evaluation of the saved checkpoint on other seeds, as `rlp eval` does.

Async CartPole, measured on 2026-12-01 (2-core AMD EPYC) with the test's settings: 160 runs (seeds 0-59 on an
idle machine, 100-199 next to three busy processes) all reached a confirmed 475 within the 500k-step budget
(median 50k steps, slowest 360k) and held it on the fresh evaluation (worst 454.2 against 451.25). One CI run
before (of seed 0) did not: Hogwild's interleaving is not reproducible, so a run can end its budget unsolved
(the tail reaches the budget's order). Such a rare failure must not fail the test, a broken agent must: the test
trains three seeds and asks two of them to pass (a 1% failure rate per run fails it with probability 3e-4);
the Acrobot test does the same.
"""

from __future__ import annotations

from rl_platform import experiment
from tests.conftest import CONFIGS


def train_and_check(tmp_path, config: str, threshold: float, *overrides: str) -> dict:
    failure = train_and_report(tmp_path, config, threshold, *overrides)
    assert failure is None, failure


def train_and_report(run_dir, config: str, threshold: float, *overrides: str) -> str | None:
    """Train; None if the final evaluation and a fresh one of the saved policy hold `threshold` (5% margin on
    the fresh one), else what fell short."""
    cfg = experiment.load_experiment(CONFIGS / config, list(overrides))
    metrics = experiment.train(cfg, run_dir / "run", quiet=True)
    if metrics["mean_return"] < threshold:
        return f"final evaluation {metrics['mean_return']:.2f} < {threshold} at step {metrics['global_step']:,}"
    report = experiment.evaluate_run(run_dir / "run", episodes=20)
    if report["mean_return"] < threshold - abs(threshold) * 0.05:
        return f"fresh evaluation {report['mean_return']:.2f} < {threshold - abs(threshold) * 0.05}"
    return None


def two_of_three_seeds(tmp_path, config: str, threshold: float) -> None:
    """Seeds 0, 1, 2 of an async config: at most one may fall short (see the module docstring)."""
    failures = {}
    for seed in (0, 1, 2):
        failure = train_and_report(tmp_path / f"seed{seed}", config, threshold, f"seed={seed}")
        if failure is not None:
            failures[seed] = failure
    assert len(failures) <= 1, failures


def test_a3c_async_two_workers_solves_cartpole(tmp_path):
    two_of_three_seeds(tmp_path, "a3c_cartpole.yaml", 475)


def test_a2c_sync_solves_cartpole(tmp_path):
    train_and_check(tmp_path, "a3c_cartpole.yaml", 475, "agent.mode=sync")


def test_a3c_solves_acrobot(tmp_path):
    # A clean-clone CI run on 2026-12-01 gave seed 0 a fresh evaluation of -106.3 (limit -105); six runs (seeds
    # 0-5) beside it ended at -81 to -93 and held -80 to -87 fresh: the same irreproducible tail as CartPole.
    two_of_three_seeds(tmp_path, "a3c_acrobot.yaml", -100)


def test_a3c_solves_inverted_pendulum(tmp_path):
    train_and_check(tmp_path, "a3c_inverted_pendulum.yaml", 950)


def test_a3c_pendulum_reaches_goal(tmp_path):
    train_and_check(tmp_path, "a3c_pendulum.yaml", -250)
