# Two commands do all set-up on a fresh Debian / Raspberry Pi OS machine:
#   make demo   — venv, install, and the whole system on the simulator with a live view
#   make test   — venv, install (plus Debian's mosquitto and socat), and every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := mosquitto mosquitto-clients socat

.PHONY: demo test lint system-deps clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && apt-get install -y python3-venv python3-pip && $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "Python's venv module is missing: run 'sudo apt-get install python3-venv' and retry." >&2; \
	    exit 1; \
	  fi; }

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,demo,plots]"
	@touch $@

system-deps:
	@missing=""; \
	for tool in mosquitto socat mosquitto_pub; do \
	  command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing from Debian's packages"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(SYSTEM_PACKAGES); \
	  else \
	    echo "The tests need a real broker and a real serial link:" >&2; \
	    echo "  sudo apt-get install $(SYSTEM_PACKAGES)" >&2; \
	    exit 1; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# Two workers: the suite mostly waits on simulated time (a third of its wall time is CPU). Each
# file's tests stay on one worker (--dist loadfile): a module's running system (a module-scoped
# fixture such as the fault matrix's) is started once, not once per worker.
test: $(STAMP) system-deps lint
	$(BIN)/pytest -n 2 --dist loadfile

demo: $(STAMP)
	$(BIN)/minisplit demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache .hypothesis .minisplit-state
