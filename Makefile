# The two commands of the quick start: `make demo` and `make test`.
# Both create .venv and install everything they need on first use.

PYTHON ?= python3
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
# Alertmanager with amtool (routes checked, an alert delivered end to end).
SYSTEM_TOOLS := chromium chromedriver promtool prometheus amtool prometheus-alertmanager npm
system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing from Debian:$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk prometheus prometheus-alertmanager npm >/dev/null; \
	  else echo "missing:$$missing: run 'sudo apt-get install chromium chromium-driver fonts-noto-cjk prometheus prometheus-alertmanager npm'"; fi; fi

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
