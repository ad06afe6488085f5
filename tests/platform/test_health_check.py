"""Django's connection health check (CONN_HEALTH_CHECKS) through the backend bizosaas.db: a connection in use
a moment ago is checked without a round trip, and a session the server ended is still replaced before the next
request's first query, however recently it was used."""

from __future__ import annotations

import select
import time

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def next_request() -> None:
    """What Django does between two requests (and Celery between two tasks): close_old_connections."""
    connection.close_if_unusable_or_obsolete()


@pytest.fixture
def checks(monkeypatch):
    """How many times the backend asked the server whether the session works (Django's `SELECT 1`)."""
    asked = []
    is_usable = connection.is_usable

    def counted():
        asked.append(1)
        return is_usable()

    monkeypatch.setattr(connection, "is_usable", counted)
    return asked


def test_a_connection_in_use_is_not_asked_select_1_before_each_request(checks):
    pid = backend_pid()
    for _ in range(3):
        next_request()
        assert backend_pid() == pid
    assert checks == []


def test_a_connection_quiet_for_longer_than_the_setting_is_asked(checks, settings):
    pid = backend_pid()
    settings.DB_HEALTH_CHECK_QUIET_SECONDS = 0.05
    time.sleep(0.1)
    next_request()
    assert backend_pid() == pid
    assert checks == [1]


def test_a_session_the_server_ended_is_replaced_before_the_next_query_even_right_after_use(checks):
    pid = backend_pid()
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.autocommit = True
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    # the server's farewell reaches the socket
    readable, _w, _x = select.select([connection.connection.fileno()], [], [], 5)
    assert readable

    next_request()
    assert backend_pid() != pid  # a new session answered; the request saw no error
    assert checks == [1]


def test_a_connection_that_had_an_error_is_asked(checks):
    backend_pid()
    connection.errors_occurred = True  # what Django records when a query fails with anything but bad data
    next_request()
    backend_pid()
    assert checks == [1]
