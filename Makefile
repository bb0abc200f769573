# Two commands on a fresh machine: `make demo` and `make test`.
# DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) switches either to PostgreSQL.

PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python sandbox_site/manage.py

.PHONY: demo test test-matrix wheel bench lint clean

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
	$(MANAGE) load_demo_content --port $(PORT)
	@echo "Landing page under test: http://127.0.0.1:$(PORT)/landing/"
	@echo "Wagtail admin:           http://127.0.0.1:$(PORT)/admin/"
	$(MANAGE) runserver 127.0.0.1:$(PORT)

# Miniflare (Cloudflare's workerd in Node) runs the Worker recipe in tests/test_behind_a_cache.py.
MINIFLARE := tests/cache_worker/node_modules/.package-lock.json
$(MINIFLARE): tests/cache_worker/package.json tests/cache_worker/package-lock.json
	npm ci --prefix tests/cache_worker --no-audit --no-fund --loglevel=error
	touch $@

test: $(VENV)/.test-installed $(MINIFLARE)
	$(BIN)/ruff check .
	$(BIN)/pytest

# Every other supported Python/Django/Wagtail combination (noxfile.py), the newest one on
# PostgreSQL too, and the wheel installed into new `wagtail start` sites on 7.4 and 8.0.
test-matrix: $(VENV)/.test-installed
	$(BIN)/nox $(NOXFLAGS)

# The wheel and sdist, in dist/.
wheel: | $(BIN)/python
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	$(BIN)/python -m pip install --quiet build
	$(BIN)/python -m build --sdist --outdir dist .

bench: $(VENV)/.test-installed
	$(BIN)/python -m benchmarks

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .nox dist sandbox_site/var .pytest_cache .ruff_cache
