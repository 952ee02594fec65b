# Two entry points (see README): `make demo` and `make test`. Both create the environment first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv tools demo test test-unit down

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
demo: venv
	$(BIN)/personastream demo

# Debian's Chromium and ChromeDriver (the storefront's browser test) and wrk (`bench api`).
tools:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v wrk >/dev/null \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium chromium-driver wrk >/dev/null)

# Unit tests (seconds, no servers), then the integration tests against the real servers this
# target starts and stops.
test: venv tools
	$(BIN)/pytest tests/unit contracts models nifi-flows flink-udfs serving deploy benchmarks
	status=0; $(BIN)/personastream stack up && $(BIN)/pytest tests/integration || status=$$?; \
	$(BIN)/personastream stack down; $(BIN)/personastream stack status; exit $$status

test-unit: venv
	$(BIN)/pytest tests/unit contracts models nifi-flows flink-udfs serving deploy benchmarks

down: venv
	$(BIN)/personastream serve --stop
	$(BIN)/personastream stack down
