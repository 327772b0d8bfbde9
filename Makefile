# arena: `make demo` and `make test` each create the virtualenv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.arena-installed

.PHONY: demo test bench venv clean-demo

# Install (editable, with the test tools) only when the venv is new or the dependencies changed.
# constraints.txt pins the whole dependency tree, so every machine installs the versions tested.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# The built-in lineup on digits with the embedded defaults (local Ray, MLflow and the
# leaderboard on SQLite under $ARENA_HOME), then the leaderboard.
# Two 1-CPU jobs train side by side, each in a lane (a Ray actor that trains one job after another in
# Ray Train's local mode, torch already loaded): the longest go first, so the two lanes end together.
# The whole demo took 5 min 51 s on 2 cores.
DEMO_JOBS := vgg11_bn zfnet alexnet seresnet50 efficientnet_b0 deit_small resnet18 googlenet

demo: $(STAMP)
	$(BIN)/arena data prepare digits
	$(BIN)/arena train $(DEMO_JOBS:%=jobs/demo/%.yaml)
	$(BIN)/arena leaderboard sync
	$(BIN)/arena leaderboard show --view family --dataset digits

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py
