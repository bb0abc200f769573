# Two commands on a fresh machine: `make demo` and `make test`.
# DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) switches either to PostgreSQL.

PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python sandbox_site/manage.py

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.sandbox-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[sandbox]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.sandbox-installed

demo: $(VENV)/.sandbox-installed
	$(MANAGE) migrate --noinput
	$(MANAGE) load_demo_content
	@echo "Landing page under test: http://127.0.0.1:$(PORT)/landing/"
	@echo "Wagtail admin:           http://127.0.0.1:$(PORT)/admin/"
	$(MANAGE) runserver 127.0.0.1:$(PORT)

test: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: $(VENV)/.test-installed
	$(BIN)/python -m benchmarks

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) sandbox_site/var .pytest_cache .ruff_cache
