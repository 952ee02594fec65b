# Two entry points (see README): `make demo` and `make test`. Both create the environment first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv tools bench-tools demo test test-unit test-faults down

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --prefer-binary -c constraints.txt -e '.[test]'
	$(BIN)/pip check
	touch $(STAMP)

# Boot the local stack, deploy the flows and the jobs, send sample events through NiFi, print
# what landed in Cassandra, start the API and storefront and print its URL. They keep running;
# `make down` stops them.
demo: venv tools
	$(BIN)/personastream demo

# Debian's Chromium and ChromeDriver (the browser tests), wrk (closed-loop load: `bench
# ingest`, `bench api`), Prometheus and Alertmanager (the stack's metrics and alerts),
# PostgreSQL 15 (the operational database change data capture reads).
tools:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v wrk >/dev/null \
	  && command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null \
	  && test -x /usr/lib/postgresql/15/bin/postgres \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium chromium-driver wrk prometheus prometheus-alertmanager postgresql-15 >/dev/null)

# vegeta from the Go module proxy: open-loop, fixed-rate load (`bench api --rates`).
VEGETA := github.com/tsenart/vegeta/v12@v12.13.0
bench-tools: tools
	@command -v vegeta >/dev/null || test -x "$$(go env GOPATH)/bin/vegeta" || go install $(VEGETA)

# Unit tests (no servers), then the integration tests against the real servers this target
# starts and stops, the fault tests (they kill servers) last.
UNIT := tests/unit contracts models nifi-flows flink-udfs serving deploy benchmarks
test: venv tools
	$(BIN)/pytest $(UNIT)
	status=0; $(BIN)/personastream stack up \
	  && $(BIN)/pytest --durations=15 tests/integration -m "not faults" \
	  && $(BIN)/pytest --durations=15 tests/integration -m faults || status=$$?; \
	$(BIN)/personastream stack down; $(BIN)/personastream stack status; exit $$status

test-unit: venv tools
	$(BIN)/pytest $(UNIT)

# The fault tests alone, on the running stack (`personastream stack up` first).
test-faults: venv
	$(BIN)/pytest tests/integration -m faults

down: venv
	$(BIN)/personastream serve --stop
	$(BIN)/personastream stack down
