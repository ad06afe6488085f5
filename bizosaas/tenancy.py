"""The tenant schema the default database connection is in, typed: django-tenants sets `schema_name` on the
connection, which Django's stubs do not know, so this is the one place that reads it."""

from __future__ import annotations

from django.db import connection


def current_schema() -> str:
    """The schema name django-tenants has the connection in now (`public` outside any tenant)."""
    return connection.schema_name  # type: ignore[attr-defined]
