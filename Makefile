# Everything runs from .venv, which `make setup` creates (torch pinned to the CPU build by constraints.txt).
PY := .venv/bin/python
ARGS ?=

.PHONY: setup train test lint bench tensorboard

setup:
	@bash scripts/setup.sh

train: setup  ## set up, then train the default experiment (DQN on CartPole), logs in runs/
	.venv/bin/rlp train $(ARGS)

test: setup  ## set up, lint, run the test suite
	.venv/bin/ruff check .
	$(PY) -m pytest -q $(ARGS)

bench: setup
	$(PY) benchmarks/dqn_time_to_solve.py $(ARGS)

tensorboard: setup
	.venv/bin/tensorboard --logdir runs
