# grpo-bench: `make demo` runs the main job on the embedded tiny profile; `make test` runs the tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints/cpu.txt
STORE ?= runs

.PHONY: install demo test test-fast clean gpu-check

$(BIN)/bench: pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[dev,bfcl]'
	touch $(BIN)/bench

install: $(BIN)/bench

demo: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/bench run --models all --suite all --store $(STORE)
	HF_HUB_OFFLINE=1 $(BIN)/bench report --thesis --format md,latex,csv,json,html --store $(STORE)
	HF_HUB_OFFLINE=1 $(BIN)/bench report --format md,latex,csv,json,html --store $(STORE)

test: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(STORE) .pytest_cache

# The whole smoke pipeline (every variant, every suite, BFCL included) on whatever device is here,
# device/dtype per stage, then `bench perf --quick`; offline. Uses this venv when it exists, else
# the python on PATH (a GPU machine brings its own CUDA torch). GPU_CHECK_ARGS=--reduced: CI speed.
GPU_CHECK_PY ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-check:
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(GPU_CHECK_PY) -m harness.gpu_check $(GPU_CHECK_ARGS)
