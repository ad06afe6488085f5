"""Session fixtures: the real embedded servers (PostgreSQL + pgvector, Redis, Temporal) for the whole run.

`bizosaas.settings.test` picked a fresh temporary folder and a free Temporal port before the settings were
built; this starts the servers there once and removes everything at the end. A component whose variable
(DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS) is set is used as it is instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bizosaas.infra import Infra


@pytest.fixture(scope="session")
def embedded_servers():
    infra = Infra.from_env()
    try:
        infra.up()
        yield infra
    finally:
        infra.down()
        if os.environ.get("BIZOSAAS_TEST_OWNS_LOCAL_DIR") == "1":
            shutil.rmtree(Path(os.environ["BIZOSAAS_LOCAL_DIR"]), ignore_errors=True)


def pytest_unconfigure(config):
    """Under pytest-xdist the controller runs no test and starts no server; the folder its settings chose is
    removed here (a worker's, or a plain run's, is already gone with its servers)."""
    if os.environ.get("BIZOSAAS_TEST_OWNS_LOCAL_DIR") == "1":
        shutil.rmtree(Path(os.environ["BIZOSAAS_LOCAL_DIR"]), ignore_errors=True)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(embedded_servers, django_db_modify_db_settings_parallel_suffix):
    """The test database lives on the embedded server, which must be up before pytest-django creates it."""


@pytest.fixture(autouse=True, scope="session")
def _servers_for_every_test(embedded_servers):
    return embedded_servers


@pytest.fixture(autouse=True)
def _start_in_public_schema():
    """Like every request and job, each test starts on the public schema whatever the previous one left."""
    from django.db import connection

    connection.set_schema_to_public()


@pytest.fixture
def public_client(client):
    """A test client speaking to the public domain."""
    client.defaults["HTTP_HOST"] = "localhost"
    return client


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and cached reads live in the real Redis; each test starts with none."""
    from django.core.cache import cache

    from bizosaas import leases

    cache.clear()
    leases.redis_pause_reset()  # a test that took Redis away must not leave later ones without caps


class JsonClient:
    """Django's test client speaking JSON to the public domain (where the portal and external apps call)."""

    def __init__(self):
        from django.test import Client

        self.client = Client(HTTP_HOST="localhost")

    def get(self, path, data=None, **extra):
        return self.client.get(path, data, **extra)

    def delete(self, path, **extra):
        return self.client.delete(path, **extra)

    def post(self, path, data=None, **extra):
        return self.client.post(path, data or {}, content_type="application/json", **extra)

    def patch(self, path, data=None, **extra):
        return self.client.patch(path, data or {}, content_type="application/json", **extra)


@pytest.fixture
def api():
    return JsonClient()
