# The two commands of the README. Both set up .venv/ first (idempotent).
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.gradehub-installed

.PHONY: setup demo test lint

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[course,dev,hub,otter]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/gradehub demo

# ruff (lint and format), mypy and import-linter on gradehub/ (rules in pyproject.toml)
lint: setup
	$(VENV)/bin/ruff check gradehub
	$(VENV)/bin/ruff format --check gradehub
	$(VENV)/bin/mypy gradehub
	$(VENV)/bin/lint-imports

test: setup lint
	$(PY) -m pytest
