# github-automation: everything a newcomer runs goes through here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt functions/requirements.txt | cksum | cut -d' ' -f1)

.PHONY: venv run up bench compare screenshot lint test test-unit test-functions test-sandbox test-equivalence test-large-backfill layer clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt functions/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

## The product on this machine: both architectures deployed into an embedded AWS, a workload replayed, a report.
run: venv
	$(BIN)/python -m sandbox run

## Both stacks kept running on loopback until Ctrl-C (prints the webhook URLs and AWS_ENDPOINT_URL).
up: venv
	$(BIN)/python -m sandbox up

## Cold starts, warm receiver latency, end-to-end latency, events per second and a 300-delivery throughput
## burst (deliveries per second, CPU per delivery) per architecture; `python -m sandbox bench --throughput-only`
## runs only the burst (to profile the sandbox under load).
bench: venv
	$(BIN)/python -m sandbox bench

## Cost of both architectures on the sandbox: build/compare/{usage,cost}.json, report.html, report.md, and
## docs/comparison.md's results block. Against an account: $(BIN)/python -m stackops compare --stack dev --stack dev-sfn
compare: venv
	$(BIN)/python -m stackops compare --update-docs

## The README's picture of the report (headless Chromium: apt-get install chromium chromium-driver).
screenshot: venv
	$(BIN)/python -m stackops screenshot build/compare/report.html docs/images/compare-report.png --height 1500

## Every test: the program under Pulumi mocks, the functions on moto, the sandbox, both stacks end to end and
## 52 generated workloads (two halves) that must leave both stacks' tables equal to the oracle.
## (Two processes: the Pulumi runtime is global to a process, and a sandbox deploy that fails on purpose
## must not share it with the unit tests' programs.) They run one after the other, in one process each: side by
## side, or on two pytest-xdist workers, a cold receiver on a loaded 2-core machine can miss the HTTP API's
## integration timeout (docs/performance.md). `make test-sandbox` and `make test-equivalence` use the two
## workers (tests/conftest.py groups the tests by module, each worker with its own embedded AWS).
## Lint, format check (ruff) and type check (mypy, strict on functions/ and components/); `make test` runs it first.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

XDIST := -n 2 --dist loadgroup --no-loadscope-reorder

test: venv lint
	$(BIN)/python -m pytest -q tests/unit tests/functions tests/stackops
	$(BIN)/python -m pytest -q tests/e2e tests/sandbox

## 52 generated workloads through both architectures against the oracle, in two halves (part of `make test`).
## issue 10's 3,000-member backfill through both architectures (`make test` backfills 250).
test-large-backfill: venv
	BACKFILL_TEST_MEMBERS=3000 $(BIN)/python -m pytest -q tests/e2e/test_large_backfill.py

test-equivalence: venv
	$(BIN)/python -m pytest -q $(XDIST) tests/e2e/test_equivalence.py

test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

test-functions: venv
	$(BIN)/python -m pytest -q tests/functions

test-sandbox: venv
	$(BIN)/python -m pytest -q $(XDIST) tests/sandbox tests/e2e

## Build the Lambda dependency layer for both CPU architectures (pulumi up builds it on demand too).
layer: venv
	$(BIN)/python -c "from components.packaging import dependency_layer as d; d('arm64'); d('x86_64')"

clean:
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
