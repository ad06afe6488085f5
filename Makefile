# The one entry point. `make run` and `make test` work on a fresh clone with only Python 3.11 and Node.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
# Where this machine keeps wheels that no index serves (the CPU build of PyTorch).
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
MANAGE := $(BIN)/python manage.py
# Two workers (pytest-xdist), each a session with its own embedded servers. `--dist load` hands out tests in the
# collection's order, so each worker still runs its transactional tests after all its others, as pytest-django
# orders a single run (a transactional test empties the tables the others start from). The slowest tests are
# listed at the end of every run, so the suite's time budget stays visible.
PYTEST_ARGS ?= -n 2 --dist load --durations=20

PORTAL_STAMP := portal/node_modules/.installed
export NEXT_TELEMETRY_DISABLED := 1

.PHONY: install run test lint format migrations-check requirements bench infra-up infra-down infra-status clean \
	portal-install portal-build portal-schema portal-check chromium real-servers

install: $(STAMP)

# Reinstalls only when a pinned requirement set changed.
$(STAMP): requirements/base.txt requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --python $(BIN)/python $(FIND_LINKS) -r requirements/dev.txt
	@touch $(STAMP)

run: install portal-build
	DJANGO_SETTINGS_MODULE=bizosaas.settings.dev $(MANAGE) dev

# Python tests (the portal's end-to-end tests among them, in the system Chromium), then the portal's own.
test: install portal-build chromium real-servers
	$(BIN)/pytest $(PYTEST_ARGS)
	cd portal && npm test --silent

portal-install: $(PORTAL_STAMP)

$(PORTAL_STAMP): portal/package.json portal/package-lock.json
	cd portal && npm ci --no-audit --no-fund --loglevel=error
	@touch $(PORTAL_STAMP)

# Rebuilds only when a source file is newer than the last build. The build is `output: standalone`: `npm run build`
# copies the static assets beside its server, and `npm run start` runs that server (portal/scripts/).
portal-build: portal-install
	@if [ ! -f portal/.next/BUILD_ID ] || [ ! -d portal/.next/standalone/.next/static ] || [ -n "$$(find portal/app \
		portal/components portal/lib portal/scripts portal/next.config.ts portal/package.json portal/package-lock.json \
		-newer portal/.next/BUILD_ID -print -quit)" ]; then cd portal && npm run build; fi

# The typed client follows the gateway's OpenAPI schema: regenerate both after an API change.
portal-schema: install portal-install
	DJANGO_SETTINGS_MODULE=bizosaas.settings.dev $(MANAGE) spectacular --format openapi-json --file portal/openapi.json
	cd portal && npm run --silent schema

portal-check: install portal-install
	DJANGO_SETTINGS_MODULE=bizosaas.settings.dev $(MANAGE) spectacular --format openapi-json --file .openapi-check.json
	@cmp -s .openapi-check.json portal/openapi.json || (rm -f .openapi-check.json; \
		echo "portal/openapi.json is out of date with the API: run 'make portal-schema'"; exit 1)
	@rm -f .openapi-check.json
	cd portal && npx --no-install openapi-typescript openapi.json --default-non-nullable false -o ../.schema-check.d.ts >/dev/null 2>&1
	@cmp -s .schema-check.d.ts portal/lib/api/schema.d.ts || (rm -f .schema-check.d.ts; \
		echo "portal/lib/api/schema.d.ts is out of date: run 'make portal-schema'"; exit 1)
	@rm -f .schema-check.d.ts
	cd portal && npm run --silent typecheck

# The connectors' tests against the real software: WordPress (Debian's package, PHP, MariaDB; services are not
# started by the install) and Wagtail in its own virtualenv, reinstalled only when its requirements change.
REAL := .local/real-servers
WAGTAIL_STAMP := $(REAL)/wagtail/.installed
real-servers: $(WAGTAIL_STAMP)
	@if ! command -v php >/dev/null 2>&1 || ! test -f /usr/share/wordpress/wp-settings.php || ! (command -v mariadbd \
		>/dev/null 2>&1 || test -x /usr/sbin/mariadbd); then \
		made_policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
		chmod +x /usr/sbin/policy-rc.d; made_policy=1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		wordpress php-cli php-mysql mariadb-server-core >/dev/null; status=$$?; \
		if [ -n "$$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$status; fi

$(WAGTAIL_STAMP): tests/connectors/real/wagtail-requirements.txt
	@test -x $(REAL)/wagtail/bin/python || $(PYTHON) -m venv $(REAL)/wagtail
	$(REAL)/wagtail/bin/python -m pip install -q --disable-pip-version-check -r tests/connectors/real/wagtail-requirements.txt
	@touch $(WAGTAIL_STAMP)

# The end-to-end tests drive the system Chromium (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null)

lint: install portal-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the layers and contracts in pyproject.toml
	$(BIN)/python bin/check_local_imports.py  # a project import inside a function says why
	$(BIN)/mypy  # apps and bizosaas, settings in pyproject.toml
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
