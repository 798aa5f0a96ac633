# Everything runs from .venv, which scripts/setup.sh creates (torch pinned to the CPU build by constraints.txt).
# `make train` installs what training needs; `make test` adds the test tools and Ray; `make bench` the peers.
PY := .venv/bin/python
ARGS ?=

.PHONY: setup train test lint bench tensorboard

setup:
	@bash scripts/setup.sh

train: setup  ## set up, then train the default experiment (DQN on CartPole), logs in runs/
	.venv/bin/rlp train $(ARGS)

test:  ## set up (with the dev and ray extras), lint, run the test suite
	@bash scripts/setup.sh dev,ray
	.venv/bin/ruff check .
	$(PY) -m pytest -q $(ARGS)

bench:  ## set up (with the benchmark peers: Stable-Baselines3, EnvPool, MinAtar, gymnax), run the DQN benchmark
	@bash scripts/setup.sh dev,bench,ray
	$(PY) benchmarks/dqn_time_to_solve.py $(ARGS)

tensorboard: setup
	.venv/bin/tensorboard --logdir runs
