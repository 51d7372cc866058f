# github-automation: everything a newcomer runs goes through here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt functions/requirements.txt | cksum | cut -d' ' -f1)

.PHONY: venv test test-unit test-functions layer clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt functions/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

## Every test: the Pulumi program under mocks, the functions against moto and a fake GitHub.
test: venv
	$(BIN)/python -m pytest -q

test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

test-functions: venv
	$(BIN)/python -m pytest -q tests/functions

## Build the Lambda dependency layer for both CPU architectures (pulumi up builds it on demand too).
layer: venv
	$(BIN)/python -c "from components.packaging import dependency_layer as d; d('arm64'); d('x86_64')"

clean:
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
