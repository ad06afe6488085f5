# The one entry point. `make run` and `make test` work on a fresh clone with only Python 3.11 and Node.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
# Where this machine keeps wheels that no index serves (the CPU build of PyTorch).
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
MANAGE := $(BIN)/python manage.py

.PHONY: install run test lint format migrations-check requirements bench infra-up infra-down infra-status clean

install: $(STAMP)

# Reinstalls only when a pinned requirement set changed.
$(STAMP): requirements/base.txt requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --python $(BIN)/python $(FIND_LINKS) -r requirements/dev.txt
	@touch $(STAMP)

run: install
	DJANGO_SETTINGS_MODULE=bizosaas.settings.dev $(MANAGE) dev

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=bizosaas.settings.dev $(MANAGE) makemigrations --check --dry-run

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install
	DJANGO_SETTINGS_MODULE=bizosaas.settings.dev $(MANAGE) makemigrations --check --dry-run

requirements: install
	cd requirements && ../$(BIN)/uv pip compile -q base.in -o base.txt --python-version 3.11 $(FIND_LINKS)
	cd requirements && ../$(BIN)/uv pip compile -q dev.in -o dev.txt --python-version 3.11 $(FIND_LINKS)

bench: install
	@for script in $(filter-out bench/_%,$(wildcard bench/*.py)); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

infra-up: install
	$(MANAGE) infra up

infra-down: install
	$(MANAGE) infra down

infra-status: install
	$(MANAGE) infra status

clean: infra-down
	rm -rf .local
