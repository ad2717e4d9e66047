# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-fast test-blas release-check lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pinned dependencies (requirements.lock: every extra, tests, lint and release tools), then the one
# step pip cannot resolve (TorchRec with the CPU fbgemm: requirements-nodeps.lock, README "Install"),
# then the package itself without re-resolving them
$(STAMP): $(BIN)/python requirements.lock requirements-nodeps.lock pyproject.toml
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/recsmith demo --config configs/demo.yaml --out runs/demo

test: install
	$(BIN)/pytest -n 2 --durations=15

test-fast: install
	$(BIN)/pytest -n 2 -m "not slow and not realdata"

# the model contract under other BLAS kernels and thread counts: float results may differ in the last
# bits between these (the tests compare with a stated tolerance); an ordering that flips must not pass
CONTRACT_TESTS := tests/unit/models
test-blas: install
	OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 OMP_NUM_THREADS=1 $(BIN)/pytest -q -n 2 $(CONTRACT_TESTS)
	OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $(BIN)/pytest -q -n 1 $(CONTRACT_TESTS)

# ruff (lint + format check), mypy over src/recsmith, import-linter's layers contract (pyproject.toml)
lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

# build sdist + wheel, twine check, install the wheel in a clean virtualenv, run the demo outside the repo
release-check: install
	bash scripts/release-check.sh

clean:
	rm -rf $(VENV) runs .pytest_cache
