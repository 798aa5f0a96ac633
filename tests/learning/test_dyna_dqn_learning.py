"""Dyna-DQN (configs/dyna_dqn_cartpole.yaml: DQN with an online `mlp` world model whose rollouts fill a quarter of
every batch) reaches a confirmed 475 on CartPole within its config's budget.

Measured on seeds 0-11 (2-core AMD EPYC, next to other work): every seed solved within the 100k-step budget, at
12k-68k env steps (median 18k; seed 0: 16k). With half of every batch imagined one seed in ten never solved (its
Q-values diverged), which is why the shipped ratio is 0.25; the test runs seed 0 with the checks of the DQN tests
(confirmed stop, the best policy holding 475 with a 5% margin on 100 fresh episodes).
"""

from __future__ import annotations

from tests.learning.test_dqn_learning import train_and_check


def test_dyna_dqn_solves_cartpole(tmp_path):
    train_and_check(tmp_path, "dyna_dqn_cartpole.yaml", 0, 475)
