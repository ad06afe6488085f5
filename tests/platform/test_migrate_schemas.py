"""migrate_schemas at many tenants: schemas already at the target state are recognised from their own
django_migrations without running migrate in them; the ones behind are migrated in parallel, a failure is
reported with its schema while the others go on, and a second run retries only what is still behind."""

from __future__ import annotations

import importlib
import shutil
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
MARKER = "bzs_marker_idx"


def triggers(schema: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.triggers WHERE event_object_schema = %s "
            "AND trigger_name LIKE 'bzs_work_%%'",
            [schema],
        )
        return cursor.fetchone()[0]


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
    assert triggers(tenant.schema_name) == 12  # the index of owed work on four tables, three triggers each


def test_a_run_with_nothing_to_do_recognises_every_schema_without_migrating_any():
    made = [make_tenant() for _ in range(4)]

    out, err = migrate()

    assert f"{len(made)} tenant schema(s) up to date, 0 to migrate" in out
    assert "Starting migration" not in out + err  # no migrate command ran in any schema, the template included


@pytest.fixture
def marker_migration(tmp_path, settings):
    """The integrations migrations plus one more, SQL only (an index on the events table), as a deploy brings."""
    package = tmp_path / "marker_integrations_migrations"
    shutil.copytree(ROOT / "apps/integrations/migrations", package)
    last = sorted(path.stem for path in package.glob("[0-9]*.py"))[-1]
    (package / "9001_marker.py").write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('integrations', '{last}')]\n"
        f"    operations = [migrations.RunSQL('CREATE INDEX {MARKER} ON integrations_event (received_at, id)')]\n"
    )

    def deploy() -> None:  # after the tenants exist (a tenant made without the template snapshot replays them)
        sys.path.insert(0, str(tmp_path))
        importlib.invalidate_caches()
        settings.MIGRATION_MODULES = {"integrations": "marker_integrations_migrations"}

    yield deploy
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.startswith("marker_integrations_migrations")]:
        del sys.modules[name]


def has_marker(schema: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s", [schema, MARKER])
        return cursor.fetchone() is not None


def test_only_the_schemas_behind_are_migrated_a_failure_is_reported_and_the_next_run_retries_only_it(
    marker_migration,
):
    ok, broken, current = make_tenant(), make_tenant(), make_tenant()
    marker_migration()
    with connection.cursor() as cursor:
        # already migrated; and one whose index exists without its record, so applying the migration fails there
        cursor.execute(f'CREATE INDEX {MARKER} ON "{current.schema_name}".integrations_event (received_at, id)')
        cursor.execute(
            f'INSERT INTO "{current.schema_name}".django_migrations (app, name, applied) VALUES (%s, %s, now())',
            ["integrations", "9001_marker"],
        )
        cursor.execute(f'CREATE INDEX {MARKER} ON "{broken.schema_name}".integrations_event (received_at, id)')

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 of 2 tenant schema"):
        try:
            call_command("migrate_schemas", "--tenant", "--parallel", "2", "--verbosity", "2", stdout=out, stderr=err)
        finally:
            output = out.getvalue() + err.getvalue()

    assert "1 tenant schema(s) up to date, 2 to migrate" in output
    assert "2 by their migrations' SQL, 0 by the migrate command" in output  # they miss only an SQL migration
    assert f"FAILED {broken.schema_name}: " in output and "already exists" in output
    assert "migrated 2/2 tenant schema(s), 1 failed" in output
    assert has_marker(ok.schema_name)  # migrated although another schema failed

    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX "{broken.schema_name}".{MARKER}')  # the cause is fixed
    out, _err = migrate()
    assert "2 tenant schema(s) up to date, 1 to migrate" in out
    assert has_marker(broken.schema_name)
    assert "0 to migrate" in migrate()[0]
