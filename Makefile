# The README's two commands: `make run` and `make test`. Each runs set-up first (idempotent).
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= --durations=30

.PHONY: setup run test bench clean doctor

setup:
	bash ops/setup.sh

run: setup
	$(VENV)/bin/honcho -e honcho.env start

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m ops.bench.generate

doctor: setup
	$(VENV)/bin/mde doctor

clean:
	$(VENV)/bin/mde clean --yes || true
