"""What keeps the code on the path past one machine (docs/SCALING.md): with schema-based sharding each tenant
schema may live on a different node and public tables become reference tables, so a tenant table may reference
only its own schema's tables or public tables that are reference tables, and no request may reach another
tenant's schema."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import bearer, make_member, make_tenant
from tests.platform.test_input_bounds import list_operations

pytestmark = pytest.mark.django_db

# Public tables that tenant tables reference: small, changed rarely, copied to every node as reference tables.
REFERENCE_TABLES = {"accounts_user", "accounts_tenant", "django_content_type"}


def test_tenant_tables_reference_only_their_own_schema_and_the_public_reference_tables():
    tenant = make_tenant(slug="fk-walk")
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT src.relname, con.conname, dst_ns.nspname, dst.relname
                 FROM pg_constraint con
                 JOIN pg_class src ON src.oid = con.conrelid
                 JOIN pg_namespace src_ns ON src_ns.oid = src.relnamespace
                 JOIN pg_class dst ON dst.oid = con.confrelid
                 JOIN pg_namespace dst_ns ON dst_ns.oid = dst.relnamespace
                WHERE con.contype = 'f' AND src_ns.nspname = %s""",
            [tenant.schema_name],
        )
        keys = cursor.fetchall()
    assert keys, "the walk found no foreign keys at all"
    outside = {(table, name, schema, target) for table, name, schema, target in keys if schema != tenant.schema_name}
    assert {schema for _t, _n, schema, _d in outside} <= {"public"}
    assert {target for *_rest, target in outside} <= REFERENCE_TABLES, sorted(outside)


def test_no_list_a_tenant_reads_touches_another_tenants_schema(api):
    acme, globex = make_tenant(slug="iso-acme"), make_tenant(slug="iso-globex")
    auth = bearer(make_member(acme, "owner"), acme)
    lists = [path for path in list_operations(api.get("/api/schema/", {"format": "json"}).json()) if "{" not in path]
    assert len(lists) > 15

    with CaptureQueriesContext(connection) as queries:
        for path in lists:
            extra = {"q": "anything"} if path.endswith("/search/") else {}
            assert api.get(path, extra, **auth).status_code == 200, path

    statements = [query["sql"] for query in queries]
    assert any(acme.schema_name in sql for sql in statements)  # search_path is set per request
    assert not [sql for sql in statements if globex.schema_name in sql]
