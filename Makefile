# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# torch==2.13.0 is installed first when the environment has no torch, because a looser torch
# requirement with no torch present pulls several GB of CUDA packages.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.onebit-installed
# make reports waits (up to 5 min) before each benchmark for the previous one's load to decay
# (to a 1-minute load of 0.3: about two minutes after a 2-thread benchmark).
WAIT_IDLE := $(BIN)/python -m onebit.bench.provenance --wait-idle 300
DEMO_DIR ?= runs/demo
DEMO_EPOCHS ?= 30

.PHONY: demo test test-sanitize lint bench-accuracy reports clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The editable install also builds the C++ extension (onebit._native, CMakeLists.txt + cmake/ +
# csrc/), so a change to any of them reinstalls; pip fetches scikit-build-core and nanobind into its
# build env. The dev extra holds the train extra (torch, the CLI, the datasets) and the test tools.
$(STAMP): $(BIN)/python pyproject.toml CMakeLists.txt $(wildcard cmake/*) $(wildcard csrc/*) $(wildcard csrc/*/*)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/onebit train binarynet-mlp --data mnist5k --epochs $(DEMO_EPOCHS) --augment-shift 2 --out $(DEMO_DIR) --overwrite
	$(BIN)/onebit convert $(DEMO_DIR)/checkpoint.pt -o $(DEMO_DIR)/model.onebit
	$(BIN)/onebit run $(DEMO_DIR)/model.onebit --data mnist5k --compare-checkpoint $(DEMO_DIR)/checkpoint.pt
	$(BIN)/onebit bench mlp --checkpoint $(DEMO_DIR)/checkpoint.pt --out $(DEMO_DIR)/mlp_engine.json

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(MAKE) test-sanitize

# The kernel tests again, against a debug build of the extension under AddressSanitizer and
# UndefinedBehaviorSanitizer (CMakeLists.txt's ONEBIT_SANITIZE) in build/sanitize; the editable
# install is untouched, ONEBIT_NATIVE_PATH makes onebit.runtime load the sanitized module. Python
# is not instrumented, so libasan (and libstdc++, for its exception interceptor) is preloaded.
# SANITIZE_RESULT says "passed" or why the pass was skipped; .ci/run fails unless it passed.
SANITIZE_DIR := build/sanitize
SANITIZE_RESULT := $(SANITIZE_DIR)/result
KERNEL_TESTS := $(addprefix tests/runtime/,test_kernel_bounds.py test_bgemm.py test_bconv2d.py \
	test_bitpack.py test_sgemm.py test_float_kernels.py test_float_pools.py test_maxpool.py \
	test_layout_kernels.py test_output_transform.py test_concat.py test_thread_pool.py \
	test_program_file_native.py test_executor.py test_executor_conv.py test_bitserial.py \
	test_bitserial_quantize.py test_executor_kbit.py test_executor_dynamic.py \
	test_bconv2d_groups_dilation.py test_bconv2d_short_k.py test_executor_grouped_conv.py)
CXX ?= c++
LIBASAN = $(shell $(CXX) -print-file-name=libasan.so)
LIBSTDCXX = $(shell $(CXX) -print-file-name=libstdc++.so)

test-sanitize: $(STAMP)
	@mkdir -p $(SANITIZE_DIR) && rm -f $(SANITIZE_RESULT)
	@if ! command -v cmake >/dev/null || [ ! -f "$(LIBASAN)" ]; then \
		echo "SKIPPED: the sanitizer pass needs cmake and libasan ($(CXX) found '$(LIBASAN)')"; \
		echo "skipped: no cmake or libasan" > $(SANITIZE_RESULT); exit 0; fi; \
	set -e; \
	cmake -S . -B $(SANITIZE_DIR) -DCMAKE_BUILD_TYPE=Debug -DONEBIT_SANITIZE=ON -DONEBIT_PYTHON=ON -DONEBIT_C_LIBRARY=OFF \
		-DPython_EXECUTABLE=$(abspath $(BIN)/python) \
		-Dnanobind_DIR="$$($(BIN)/python -m nanobind --cmake_dir)" >/dev/null; \
	cmake --build $(SANITIZE_DIR) -j 2; \
	ONEBIT_NATIVE_PATH="$$(ls $(abspath $(SANITIZE_DIR))/_native*.so)" \
	LD_PRELOAD="$(LIBASAN) $(LIBSTDCXX)" \
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(BIN)/python -m pytest -q -x -p no:cacheprovider --capture=sys $(KERNEL_TESTS); \
	echo passed > $(SANITIZE_RESULT)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

bench-accuracy: $(STAMP)
	$(BIN)/onebit experiment accuracy

# Every docs/ report, regenerated at one commit: refused unless `git status --porcelain` is empty,
# because a figure must name a clean commit (the result files record it, with the load average).
# The MCU benchmark (in reports) reads the demo's program: the demo runs first where there is none.
$(DEMO_DIR)/model.onebit: | $(STAMP)
	$(MAKE) demo
reports: $(DEMO_DIR)/model.onebit

# Timing reports first, then the fuzz run (the longest); the machine should be otherwise idle.
reports: $(STAMP)
	$(BIN)/python -m onebit.bench.provenance --require-clean
	$(WAIT_IDLE) && $(BIN)/onebit bench bgemm --out docs/bgemm.json
	$(WAIT_IDLE) && $(BIN)/onebit bench bconv2d --out docs/bconv2d.json
	$(WAIT_IDLE) && $(BIN)/onebit bench kbit --checkpoint $(DEMO_DIR)/checkpoint.pt --out docs/kbit.json
	$(WAIT_IDLE) && $(BIN)/onebit bench zoo --out docs/zoo.json
	$(WAIT_IDLE) && $(BIN)/onebit bench hourglass --out docs/hourglass.json
	$(WAIT_IDLE) && $(BIN)/onebit bench hourglass --binary-head --out docs/hourglass-binary-head.json
	$(WAIT_IDLE) && $(BIN)/onebit bench mlp --out docs/mlp_engine.json
	$(WAIT_IDLE) && $(BIN)/onebit bench fuzz --out docs/fuzz.json --cases 100000 --jobs 2 --seed 1 --converted
	$(WAIT_IDLE) && $(BIN)/onebit experiment accuracy --out docs
	$(WAIT_IDLE) && $(BIN)/onebit experiment ablation --data mnist5k --out docs
	$(WAIT_IDLE) && $(BIN)/onebit experiment ablation --data digits --out docs
	$(WAIT_IDLE) && $(BIN)/onebit experiment dybnn --out docs
	$(WAIT_IDLE) && $(BIN)/onebit experiment bitmixer --data mnist5k --out docs
	$(WAIT_IDLE) && $(BIN)/onebit experiment bitmixer --data digits --out docs
	$(WAIT_IDLE) && $(BIN)/onebit experiment mcu --work-dir runs/mcu --out docs
	$(WAIT_IDLE) && $(BIN)/onebit bench mcu --program mcu-bnn=runs/mcu/seed0/model.onebit \
		--program binarynet-mlp=$(DEMO_DIR)/model.onebit --out docs/mcu.json
	$(WAIT_IDLE) && $(BIN)/onebit bench energy --out docs/energy.json
	$(WAIT_IDLE) && $(BIN)/onebit search bats --data mnist5k --stem-stride 2 --epochs 8 \
		--threads 2 --out docs/bats-search-mnist5k
	$(WAIT_IDLE) && $(BIN)/onebit experiment bats \
		--genotype docs/bats-search-mnist5k/genotype.json --out docs
	$(WAIT_IDLE) && $(BIN)/onebit experiment text --out docs
	$(WAIT_IDLE) && $(BIN)/onebit experiment speech --out docs
	$(BIN)/python -m onebit.bench.readme

clean:
	rm -rf $(VENV) runs build dist
