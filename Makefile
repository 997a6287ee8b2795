# Two commands a new machine needs: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config.example.yaml
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes; the stamp keeps repeated runs fast.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/groupbot db upgrade --config $(CONFIG)
	$(BIN)/groupbot serve --config $(CONFIG) --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache groupbot.db groupbot.db-wal groupbot.db-shm groupbot.db-writer.lock
