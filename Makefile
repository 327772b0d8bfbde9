# arena: `make demo` and `make test` each create the virtualenv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.arena-installed

.PHONY: demo test bench venv clean-demo

# Install (editable, with the test tools) only when the venv is new or pyproject.toml changed.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# The built-in lineup on digits with the embedded defaults (local Ray, MLflow and the
# leaderboard on SQLite under $ARENA_HOME), then the leaderboard.
demo: $(STAMP)
	$(BIN)/arena data prepare digits
	$(BIN)/arena train jobs/demo/*.yaml
	$(BIN)/arena leaderboard sync
	$(BIN)/arena leaderboard show --view ilsvrc --dataset digits

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py
