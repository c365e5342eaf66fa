# grpo-bench: `make demo` runs the main job on the embedded tiny profile; `make test` runs the tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints/cpu.txt
STORE ?= runs

.PHONY: install demo test test-fast clean

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
