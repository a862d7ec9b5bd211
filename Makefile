# Two commands set everything up: `make dev` runs the product on embedded real services,
# `make test` runs the whole suite. Both install what they need first.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install dev test test-unit bench lint format clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	VENV=$(VENV) bash scripts/bootstrap.sh

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/hybrid-scheduler dev

# Two workers (pytest-xdist), one test file per worker at a time: each worker starts its
# own servers; most tests wait on real services, so two halve the wall time on 2 cores.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

# The unit layer alone: no services, a few seconds (`make test` runs it too).
test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy scheduler api workflows activities cli devstack worker.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .dev build *.egg-info
