# Two entry points (see README): `make demo` runs the quickstart, `make test` the tests.
# Each creates the virtual environment .venv and installs vfp into it when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-all bench install clean clean-cache

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: install
	$(BIN)/vfp run examples/quickstart.toml -o runs/quickstart.h5 --plots runs/quickstart_plots --overwrite
	$(BIN)/vfp info runs/quickstart.h5

# Two worker processes: the suite's cost is mostly first-time Numba compilation, which is
# single-threaded, so a worker per core halves the wall time (kernels compiled by one worker
# are cached on disk for the other).
test: install
	$(BIN)/python -m pytest -q -n 2

test-all: install
	$(BIN)/python -m pytest -q -n 2 --runslow

bench: install
	$(BIN)/python benchmarks/grid_throughput.py
	$(BIN)/python benchmarks/particle_throughput.py
	$(BIN)/python benchmarks/metrics_throughput.py
	$(BIN)/python benchmarks/compile_time.py

clean:
	rm -rf runs .pytest_cache

# Numba keys each cached kernel on its own source file only: after editing a function that
# other modules' kernels inline (e.g. particles/rng.py), drop the cache so they recompile.
clean-cache:
	find vfp grids particles validation -name '*.nbi' -delete -o -name '*.nbc' -delete
