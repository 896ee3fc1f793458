# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# torch==2.13.0 is installed first when the environment has no torch, because a looser torch
# requirement with no torch present pulls several GB of CUDA packages.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.onebit-installed
DEMO_DIR ?= runs/demo

.PHONY: demo test lint bench-accuracy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The editable install also builds the C++ extension (onebit._native, CMakeLists.txt + csrc/), so a
# change to either reinstalls; pip fetches scikit-build-core and nanobind into its build env.
$(STAMP): $(BIN)/python pyproject.toml CMakeLists.txt $(wildcard csrc/*)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/onebit train binarynet-mlp --data mnist5k --epochs 30 --augment-shift 2 --out $(DEMO_DIR) --overwrite
	$(BIN)/onebit convert $(DEMO_DIR)/checkpoint.pt -o $(DEMO_DIR)/model.onebit
	$(BIN)/onebit run $(DEMO_DIR)/model.onebit --data mnist5k
	$(BIN)/onebit bench mlp --checkpoint $(DEMO_DIR)/checkpoint.pt

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench-accuracy: $(STAMP)
	$(BIN)/python benchmarks/mlp_accuracy.py

clean:
	rm -rf $(VENV) runs build dist
