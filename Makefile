# gdwi — every target that needs Python creates the venv first, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Bytecode caches make every process start fast: the suite's two pytest workers (pytest caches its
# rewritten test and plugin modules the same way) and each `gdwi` process a test or a benchmark
# starts. An environment that turns them off would recompile all of it every time.
unexport PYTHONDONTWRITEBYTECODE
PYTEST_WORKERS ?= 2

.PHONY: venv generate check-generated test test-steps demo lint bench golden clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,generate]'
	touch $(STAMP)

generate: venv
	$(PY) -m codegen generate

check-generated: venv
	$(PY) -m codegen check-generated

lint: venv
	$(VENV)/bin/ruff check adapter codegen tests
	$(VENV)/bin/mypy adapter codegen
	$(VENV)/bin/lint-imports

# Timed as a whole (check-generated + lint + pytest); `make bench` reports the last success.
test: venv
	@$(PY) tests/benchmarks/timed.py $(VENV)/last-make-test $(MAKE) --no-print-directory test-steps

test-steps: check-generated lint
	$(PY) -m pytest -n $(PYTEST_WORKERS)

demo: venv
	$(VENV)/bin/gdwi demo

bench: venv
	$(PY) tests/benchmarks/run.py

# Refresh the golden record of the codegen fixture (review the diff before committing).
golden: venv
	$(PY) -m codegen generate --spec tests/fixtures/spec_v1 --out tests/fixtures/golden

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
