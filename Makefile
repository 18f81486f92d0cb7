# The two commands of the quick start: `make demo` and `make test`.
# Both create .venv and install everything they need on first use.

# The interpreter of the venv: a system CPython 3.11-3.13 when there is one (as the image's python:3.11-slim, a Linux
# distribution's build is compiled with profile-guided and link-time optimisation), else the first python3 on the
# PATH. A default pyenv build (neither) replays ~11 % slower (bench/RESULTS.md, 2026-12-08: Debian's 3.11.2 against
# pyenv's 3.11.7). `make install PYTHON=...` chooses another.
PYTHON ?= $(firstword $(wildcard /usr/local/bin/python3.11 /usr/bin/python3.11 /usr/local/bin/python3.12 \
            /usr/bin/python3.12 /usr/local/bin/python3.13 /usr/bin/python3.13) python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# axe-core, the accessibility checker tests/integration/test_desk_page.py runs in the real browser: from the npm
# registry, pinned, into the venv (never committed)
AXE_VERSION := 4.14.1
AXE    := $(VENV)/axe/node_modules/axe-core/axe.min.js

.PHONY: demo test unit bench install clean system-deps constraints

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@# the image's pins (deploy/constraints.txt) for what the image installs too, so the tests run the
	@# versions the image ships; if they no longer fit pyproject.toml, install without them and say so
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c deploy/constraints.txt -e '.[test]' || { \
	  echo "deploy/constraints.txt does not fit pyproject.toml: installing without it; run 'make constraints'"; \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'; }
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

$(AXE): | system-deps
	npm install --silent --no-audit --no-fund --no-save --prefix $(VENV)/axe axe-core@$(AXE_VERSION)

demo: $(STAMP)
	$(BIN)/monitor demo demo-out

# Integration tests start their own Kafka broker (deploy/kafka/kafka.sh, Java + Maven) unless
# MONITOR_TEST_BROKER names one; here a missing broker is a failure, not a skip.
test: $(STAMP) system-deps $(AXE)
	MONITOR_REQUIRE_BROKER=1 $(BIN)/python -m pytest

# From Debian: headless Chromium and its WebDriver (the report is printed to PDF, the desk page is
# driven in a real browser), CJK fonts, Prometheus with promtool (rules tests, end-to-end scrape) and
# Alertmanager with amtool (routes checked, an alert delivered end to end), npm (axe-core). Each tool is
# paired with its package, and only the packages of missing tools are installed: a machine whose Node.js
# already brings npm (NodeSource's nodejs, which conflicts with Debian's npm) keeps its own.
SYSTEM_DEPS := chromium:chromium chromedriver:chromium-driver promtool:prometheus prometheus:prometheus \
               amtool:prometheus-alertmanager prometheus-alertmanager:prometheus-alertmanager npm:npm
system-deps:
	@pkgs=""; for p in $(SYSTEM_DEPS); do command -v $${p%%:*} >/dev/null 2>&1 || pkgs="$$pkgs $${p#*:}"; done; \
	if command -v dpkg >/dev/null 2>&1 && ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then pkgs="$$pkgs fonts-noto-cjk"; fi; \
	pkgs=$$(printf '%s\n' $$pkgs | sort -u | tr '\n' ' '); \
	if [ -n "$$(echo $$pkgs)" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing from Debian: $$pkgs"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
	  else echo "missing: run 'sudo apt-get install $$pkgs'"; fi; fi

# The image's pins of every package, transitive ones too (deploy/Dockerfile installs with them): pyproject.toml's
# runtime dependencies resolved by pip for the image's Python, keeping the pins that still fit. Needs no
# installed environment (a pyproject.toml that no longer installs can be fixed with it); the venv's Python
# when there is one (it has 'packaging'). tests/deploy/test_compose.py checks the file (offline).
constraints:
	$$( [ -x $(BIN)/python ] && echo $(BIN)/python || echo $(PYTHON) ) deploy/constraints.py

bench: $(STAMP)
	$(BIN)/python bench/replay_bench.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .hypothesis
