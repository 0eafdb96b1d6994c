# The two commands: `make demo` and `make test`. Both set everything up themselves.
# `make test-fast` is the loop while you work: everything but the sandbox and the real parts.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench venv system clean

# The pins (runtime and dev), then this project itself, editable and without touching the
# pins, so `academy-verify` and `python -m verify` work from any directory.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the sandbox and the tests run for real (nginx, sshd).
system:
	@bash scripts/system-packages.sh

demo: venv system
	$(BIN)/python -m sandbox demo

test: venv system
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not e2e and not parts"

lint: venv
	$(BIN)/ruff check .

bench: venv system
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .build build .pytest_cache .ruff_cache *.egg-info
