# The two commands of the README: `make demo` and `make test`. Both create .venv when it is
# missing, install torch (pinned first, so no resolver pulls a different build) and the package.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,sweep,tensorboard
STAMP := $(VENV)/.overtone-installed
# The timm / Hugging Face integration tests (pytest marker `integration`) run in a second
# environment: timm imports torchvision, and no torchvision build loads against the pinned CPU
# torch of .venv. Built once (about 5.6 GB; the wheels come from local disk here) and reused.
INTEGRATION_VENV ?= .venv-integration
INTEGRATION_TORCH ?= torch==2.14.1 torchvision==0.29.1
INTEGRATION_STAMP := $(INTEGRATION_VENV)/.overtone-installed

.PHONY: demo test test-integration test-slow lint format install clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

$(INTEGRATION_STAMP): pyproject.toml
	test -x $(INTEGRATION_VENV)/bin/python || $(PYTHON) -m venv $(INTEGRATION_VENV)
	$(INTEGRATION_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INTEGRATION_VENV)/bin/python -m pip install --quiet $(INTEGRATION_TORCH)
	$(INTEGRATION_VENV)/bin/python -m pip install --quiet -e ".[dev,timm,hf]" $(INTEGRATION_TORCH)
	touch $(INTEGRATION_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/overtone demo

test: $(STAMP) $(INTEGRATION_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q
	OVERTONE_REQUIRE_INTEGRATION=1 $(INTEGRATION_VENV)/bin/python -m pytest -q -m integration

test-integration: $(INTEGRATION_STAMP)
	OVERTONE_REQUIRE_INTEGRATION=1 $(INTEGRATION_VENV)/bin/python -m pytest -q -m integration

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(INTEGRATION_VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
