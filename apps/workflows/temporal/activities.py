"""Activities: adapters that take the tenant schema explicitly and run inside it."""

from __future__ import annotations

from django.db import close_old_connections, connection
from django_tenants.utils import schema_context, schema_exists
from temporalio import activity
from temporalio.exceptions import ApplicationError


@activity.defn(name="platform.tenant_ping")
def tenant_ping(schema_name: str) -> dict:
    close_old_connections()
    try:
        if not schema_exists(schema_name):
            raise ApplicationError(f"unknown tenant schema {schema_name!r}", non_retryable=True)
        with schema_context(schema_name), connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            current = cursor.fetchone()[0]
        return {"schema": current, "attempt": activity.info().attempt}
    finally:
        connection.close()  # activity threads come and go; never leave their connections behind
