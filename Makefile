# make run  — set up and run the service on the embedded defaults
# make test — set up and run ruff, mypy and the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXAMPLE_ROSTER ?= config/examples/roster.csv
# make run/demo read config/comms.toml when there is one, else the realistic example
RUN_CONFIG := $(if $(wildcard config/comms.toml),config/comms.toml,config/comms.example.toml)
COMMS_RUN := COMMS_CONFIG=$${COMMS_CONFIG:-$(RUN_CONFIG)} $(BIN)/comms
PYTEST_ARGS ?=

.PHONY: setup system-deps run demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[postgres,redis,rabbitmq,ocr,dev]'
	touch $(STAMP)

system-deps:
	bash scripts/system-deps.sh

setup: system-deps $(STAMP)

run: setup
	$(COMMS_RUN) init
	$(COMMS_RUN) import $(EXAMPLE_ROSTER)
	$(COMMS_RUN) status
	$(COMMS_RUN) run

demo: setup
	$(COMMS_RUN) init
	$(COMMS_RUN) import $(EXAMPLE_ROSTER)
	$(COMMS_RUN) status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy .

pytest: $(STAMP)
	@set +e; $(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing, a test run must test something"; exit 1; fi; \
	exit $$rc

test: setup lint typecheck pytest

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf var .mypy_cache .ruff_cache .pytest_cache
