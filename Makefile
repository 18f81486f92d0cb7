# The two commands of the quick start: `make demo` and `make test`.
# Both create .venv and install everything they need on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test unit bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/monitor demo demo-out

# Integration tests start their own Kafka broker (deploy/kafka/kafka.sh, Java + Maven) unless
# MONITOR_TEST_BROKER names one; here a missing broker is a failure, not a skip.
test: $(STAMP)
	MONITOR_REQUIRE_BROKER=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/replay_bench.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .hypothesis
