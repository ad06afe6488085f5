"""Fast tenant schemas: a SQL snapshot of the migrated template schema, replayed for each new tenant.

Every full `migrate_schemas` migrates the `tenant_template` schema and captures it with pg_dump (structure,
triggers and the few rows such as `django_migrations`). Creating a tenant then runs that SQL with the schema
name substituted: a handful of DDL statements, whose cost depends on the number of tables, not on the number of
migrations or of tenants. Without a snapshot (a database migrated before this existed) creation falls back to
replaying the migrations.
"""

from __future__ import annotations

import os
import re
import subprocess

from django.conf import settings
from django.db import connection

from apps.accounts.models import TenantTemplate

_NOT_SQL = re.compile(r"^(\\|SET |SELECT pg_catalog\.set_config\('search_path')")


def _pg_dump_binary() -> str:
    from pgserver._commands import POSTGRES_BIN_PATH  # a pg_dump that can read any supported server version

    return str(POSTGRES_BIN_PATH / "pg_dump")


def template_capture(*, schema: str | None = None) -> TenantTemplate:
    """Dumps the (migrated) template schema and stores it as the SQL new tenants are made from."""
    schema = schema or settings.TENANT_TEMPLATE_SCHEMA
    db = connection.settings_dict
    host = db.get("HOST") or db.get("OPTIONS", {}).get("host", "")
    command = [
        _pg_dump_binary(),
        "--schema",
        schema,
        "--no-owner",
        "--no-privileges",
        "--inserts",
        "--dbname",
        db["NAME"],
        "--username",
        db["USER"] or "postgres",
    ]
    if host:
        command += ["--host", str(host)]
    if db.get("PORT"):
        command += ["--port", str(db["PORT"])]
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    dump = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    if dump.returncode != 0:
        raise RuntimeError(f"pg_dump of the tenant template failed: {dump.stderr.strip()}")
    lines = [line for line in dump.stdout.splitlines() if not _NOT_SQL.match(line) and not line.startswith("--")]
    sql = "\n".join(line for line in lines if line.strip())
    template, _ = TenantTemplate.objects.update_or_create(pk=1, defaults={"schema": schema, "sql": sql})
    return template


def template_sql_for(schema_name: str) -> str | None:
    template = TenantTemplate.objects.filter(pk=1).first()
    if template is None:
        return None
    # schema names are validated identifiers ([a-z][a-z0-9_]*), so substitution is exact and safe
    return re.sub(rf"\b{re.escape(template.schema)}\b", schema_name, template.sql)
