# The two set-up commands of the README are `make demo` and `make test`; everything
# else here is what they need. Each target installs what is missing (idempotent,
# near-instant when already there) and nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TORCH_VERSION := 2.11.0
STAMP := $(VENV)/.torch-$(TORCH_VERSION)
# The TensorBoard tests read event files back with TensorBoard's own readers
# (scripts/read_tb.py); pinned, since its dashboard mode calls the HParams
# plugin's internal handlers.
TENSORBOARD_VERSION := 2.21.0
TB_STAMP := $(VENV)/.tensorboard-$(TENSORBOARD_VERSION)
# torch-sys finds libtorch through the venv's python; build.rs sets the rpath.
export LIBTORCH_USE_PYTORCH := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
CARGO ?= cargo
# The build without libtorch (--no-default-features) gets a target folder of its
# own: in the shared one it would overwrite target/release/sweep with a binary
# that cannot train.
NOTORCH := CARGO_TARGET_DIR=$(CURDIR)/target/notorch
# Where the real datasets are (the paper sweeps' $SWEEP_DATA; tests that read real
# data skip loudly when it is absent).
export SWEEP_DATA ?= $(abspath $(CURDIR)/../shared/data)

.PHONY: all venv build release demo test test-fast lint fixtures doctor clean-venv bench-compare

all: release

$(STAMP):
	@echo "==> installing torch==$(TORCH_VERSION) (+ numpy, scipy, scikit-learn for test fixtures) into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check torch==$(TORCH_VERSION) numpy scipy scikit-learn
	@touch $@

# A stamp of its own, so that a venv made before it gets it without torch again.
$(TB_STAMP): | $(STAMP)
	@echo "==> installing tensorboard==$(TENSORBOARD_VERSION) into $(VENV) (the TensorBoard tests read event files with it)"
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check tensorboard==$(TENSORBOARD_VERSION)
	@touch $@

venv: $(STAMP) $(TB_STAMP)

build: venv
	$(CARGO) build

# Two binaries (docs/architecture.md, "Two binaries"): sweep-engine with libtorch,
# and a `sweep` without it that plans, reports and shows status at once and hands
# the commands that train over to the engine beside it.
release: venv
	$(CARGO) build --release --bins
	$(CARGO) build --release --no-default-features --bin sweep

doctor: release
	./target/release/sweep doctor

# The main job: the quickstart sweep on the built-in dataset, on the CPU, ending
# with the path of its Markdown report.
demo: release
	./target/release/sweep run sweeps/quickstart.toml --devices cpu

# The test command (.ci/run calls exactly this). The Slurm test (tests/it/slurm.rs)
# starts a single-node Slurm itself through scripts/slurm-local.sh; the packages are
# installed here when missing (root + apt, as in CI), and then the test must run:
# SWEEP_REQUIRE_SLURM=1 turns its loud skip into a failure.
test: venv
	@if [ "$$(id -u)" = 0 ] && scripts/slurm-local.sh install; then export SWEEP_REQUIRE_SLURM=1; \
	else echo "==> WARNING: Slurm is not installed and cannot be here; the Slurm test will be SKIPPED"; fi; \
	if scripts/latex-install.sh; then export SWEEP_REQUIRE_LATEX=1; \
	else echo "==> WARNING: pdflatex is not installed and cannot be here; the LaTeX compile test will be SKIPPED"; fi; \
	$(CARGO) test --release --no-fail-fast -- --test-threads=2
	@echo "==> the build without libtorch (make test-fast's), release profile; dependencies whose features differ without tch build again"
	$(NOTORCH) $(CARGO) test --release --no-default-features --no-fail-fast -- --test-threads=2
	@$(MAKE) --no-print-directory lint

# Style gates: rustfmt (rustfmt.toml) and clippy with warnings as errors, with and
# without libtorch.
lint: venv
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(NOTORCH) $(CARGO) clippy --release --no-default-features --all-targets -- -D warnings

# Configuration, sweep expansion, store and reports only: no libtorch needed.
test-fast:
	$(NOTORCH) $(CARGO) test --no-default-features

# The same ConCURL step in sweep and in PyTorch eager + kornia, alternating
# (`sweep bench --compare`; kornia is installed into the venv on first use, it is
# not needed for anything else). Figures: reports/bench.md.
bench-compare: release
	@$(VENV)/bin/python -c "import kornia" 2>/dev/null || $(VENV)/bin/python -m pip install -q --disable-pip-version-check kornia
	./target/release/sweep bench cpu-small --compare --python $(VENV)/bin/python --rounds 5
	./target/release/sweep bench cifar-r18 --compare --python $(VENV)/bin/python --rounds 3 --steps 3 --warmup 1

# Regenerates the numeric fixtures under tests/fixtures from PyTorch / scikit-learn.
fixtures: venv
	$(VENV)/bin/python tests/fixtures/gen_loss.py
	$(VENV)/bin/python tests/fixtures/gen_metrics.py
	$(VENV)/bin/python tests/fixtures/gen_fetch.py
	$(VENV)/bin/python tests/fixtures/gen_adam.py
	$(VENV)/bin/python tests/fixtures/gen_optim.py

clean-venv:
	rm -rf $(VENV)
