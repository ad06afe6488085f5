"""The database backend (bizosaas.db) sends `SET search_path` only when the session's path changes; whatever
happened in between (a rolled-back transaction or savepoint that had switched it, a new connection), every query
runs in the schema that was selected last."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def server_path() -> str:
    """The path the PostgreSQL session actually uses for the next statement."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        return cursor.fetchone()[0]


def sets_sent(queries) -> list[str]:
    return [query["sql"] for query in queries if query["sql"].startswith("SET search_path")]


def test_selecting_the_tenant_the_session_already_has_sends_no_set():
    acme = make_tenant(slug="sp-acme")
    connection.set_tenant(acme)
    assert server_path().startswith(acme.schema_name)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):  # what each request does: public first, then its tenant
            connection.set_schema_to_public()
            connection.set_tenant(acme)
            assert server_path().startswith(acme.schema_name)
    assert sets_sent(queries) == []

    with CaptureQueriesContext(connection) as queries:
        connection.set_schema_to_public()
        assert server_path() == "public"
    assert len(sets_sent(queries)) == 1


def test_switching_tenants_always_switches_the_session():
    acme, globex = make_tenant(slug="sp-acme2"), make_tenant(slug="sp-globex2")
    for tenant in (acme, globex, acme, globex):
        connection.set_tenant(tenant)
        assert server_path().startswith(tenant.schema_name)
    connection.set_schema_to_public()
    assert server_path() == "public"


def test_a_rolled_back_transaction_that_switched_the_path_does_not_leave_a_wrong_memory():
    acme, globex = make_tenant(slug="sp-acme3"), make_tenant(slug="sp-globex3")
    connection.set_tenant(acme)
    assert server_path().startswith(acme.schema_name)

    with pytest.raises(RuntimeError), transaction.atomic():
        connection.set_tenant(globex)
        assert server_path().startswith(globex.schema_name)  # the SET runs inside the transaction
        raise RuntimeError  # ROLLBACK: the session is back on acme's path

    connection.set_tenant(globex)
    assert server_path().startswith(globex.schema_name)  # sent again, not taken for granted


def test_a_rolled_back_savepoint_that_switched_the_path_does_not_leave_a_wrong_memory():
    acme, globex = make_tenant(slug="sp-acme4"), make_tenant(slug="sp-globex4")
    with transaction.atomic():
        connection.set_tenant(acme)
        assert server_path().startswith(acme.schema_name)
        with pytest.raises(RuntimeError), transaction.atomic():
            connection.set_tenant(globex)
            assert server_path().startswith(globex.schema_name)
            raise RuntimeError  # ROLLBACK TO SAVEPOINT: the session is back on acme's path
        connection.set_tenant(globex)
        assert server_path().startswith(globex.schema_name)
        connection.set_tenant(acme)
        assert server_path().startswith(acme.schema_name)


def test_a_new_connection_gets_its_path_again():
    acme = make_tenant(slug="sp-acme5")
    connection.set_tenant(acme)
    assert server_path().startswith(acme.schema_name)
    connection.close()
    connection.set_tenant(acme)
    assert server_path().startswith(acme.schema_name)
