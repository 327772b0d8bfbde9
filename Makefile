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

# The whole mission on digits, with the embedded defaults (a local Ray, MLflow and the leaderboard on SQLite
# under $ARENA_HOME):
# 1. the lineup: two 1-CPU jobs train side by side, each in a lane (a Ray actor that trains one job after
#    another in Ray Train's local mode, torch already loaded), the longest first, so the two lanes end together;
# 2. a compound-scaling search of EfficientNet-B0 (eight candidates train, ASHA on held-out images) that grows
#    the winner's family, scaled:compound-scaling-demo-phi1..4, and measures the winner on val/;
# 3. a NAS search (six candidates train) whose winner, nas:nas-demo-<id>, is measured on val/;
# 4. the leaderboard: the best measured run of each family on digits, the searches' models among them.
# Every job and trial is seeded (train.seed; TPE's tune.seed) and trains on one thread per CPU it holds. With two
# trials at a time, ASHA and TPE decide on the trials that have reported so far, so a search's choices can change
# when its trials finish in another order.
DEMO_JOBS := vgg11_bn zfnet alexnet seresnet50 efficientnet_b0 deit_small resnet18 googlenet

demo: $(STAMP)
	$(BIN)/arena data prepare digits
	$(BIN)/arena train $(DEMO_JOBS:%=jobs/demo/%.yaml)
	$(BIN)/arena search scaling jobs/search/compound_scaling_demo.yaml
	$(BIN)/arena search nas jobs/search/nas_demo.yaml
	$(BIN)/arena leaderboard sync
	$(BIN)/arena leaderboard show --view family --dataset digits

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py
