"""migrate_schemas at many tenants: schemas already at the target state are recognised from their own
django_migrations without running migrate in them; the ones behind are migrated in parallel, a failure is
reported with its schema while the others go on, and a second run retries only what is still behind."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

TRIGGERS = "0003_pending_work_triggers"  # replaying it where its triggers exist fails
TABLES = ("integrations_event", "integrations_delivery", "integrations_actionrun")


def triggers(schema: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.triggers WHERE event_object_schema = %s "
            "AND trigger_name LIKE 'bzs_work_%%'",
            [schema],
        )
        return cursor.fetchone()[0]


def forget_migration(schema: str, *, undo: bool) -> None:
    """As if the schema had stopped before integrations 0003 and what follows it (`undo`), or had only lost their
    records (not undone)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name >= %s', ["integrations", TRIGGERS]
        )
        if undo:
            for table in TABLES:
                for when in ("insert", "update", "delete"):
                    cursor.execute(f'DROP TRIGGER bzs_work_{when} ON "{schema}".{table}')


def migrate(*extra: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("migrate_schemas", "--tenant", *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_schema_missing_a_migration_with_python_code_goes_through_the_migrate_command():
    tenant = make_tenant()
    with connection.cursor() as cursor:  # as if created before every migration: a bare schema
        cursor.execute(f'DROP SCHEMA "{tenant.schema_name}" CASCADE')
        cursor.execute(f'CREATE SCHEMA "{tenant.schema_name}"')

    out, _err = migrate("--verbosity", "2")

    assert "0 by their migrations' SQL, 1 by the migrate command" in out
    assert triggers(tenant.schema_name) == 9


def test_a_run_with_nothing_to_do_recognises_every_schema_without_migrating_any():
    made = [make_tenant() for _ in range(4)]

    out, err = migrate()

    assert f"{len(made)} tenant schema(s) up to date, 0 to migrate" in out
    assert "Starting migration" not in out + err  # no migrate command ran in any schema, the template included


def test_only_the_schemas_behind_are_migrated_a_failure_is_reported_and_the_next_run_retries_only_it():
    ok, broken, current = make_tenant(), make_tenant(), make_tenant()
    forget_migration(ok.schema_name, undo=True)
    forget_migration(broken.schema_name, undo=False)  # its triggers exist: replaying the migration fails

    with pytest.raises(CommandError, match="1 of 2 tenant schema"):
        out, err = StringIO(), StringIO()
        try:
            call_command("migrate_schemas", "--tenant", "--parallel", "2", "--verbosity", "2", stdout=out, stderr=err)
        finally:
            output = out.getvalue() + err.getvalue()

    assert "1 tenant schema(s) up to date, 2 to migrate" in output
    assert "2 by their migrations' SQL, 0 by the migrate command" in output  # both miss only SQL migrations
    assert f"FAILED {broken.schema_name}: " in output and "already exists" in output
    assert "migrated 2/2 tenant schema(s), 1 failed" in output
    assert triggers(ok.schema_name) == 9  # migrated although another schema failed
    assert triggers(current.schema_name) == 9

    forget_migration(broken.schema_name, undo=True)  # the cause is fixed
    out, _err = migrate()
    assert "2 tenant schema(s) up to date, 1 to migrate" in out
    assert triggers(broken.schema_name) == 9
    assert "0 to migrate" in migrate()[0]
