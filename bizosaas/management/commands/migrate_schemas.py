from __future__ import annotations

import multiprocessing

from django.conf import settings
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
from django_tenants.utils import get_public_schema_name, schema_exists

from apps.accounts.models import Tenant, TenantTemplate
from apps.accounts.tenant_template import template_capture


def require_pgvector() -> None:
    """Fails with an operator-readable message when the server cannot provide the pgvector extension."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
            row = cursor.fetchone()
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
    except OperationalError as exc:
        raise CommandError(f"cannot reach PostgreSQL: {exc}".strip()) from None
    if row is None:
        raise CommandError(
            f"PostgreSQL {version} at this DATABASE_URL does not have the pgvector extension, which BizOSaaS "
            "needs for the knowledge base. Install pgvector on that server (for example the postgresql-NN-pgvector "
            "package, or an image with pgvector), or unset DATABASE_URL to use the embedded PostgreSQL, "
            "which includes it."
        )


def migration_targets() -> list[tuple[str, str]]:
    """Every migration of the project: a schema that records all of them has nothing to do (every schema records
    every app's migrations, those of public-only apps as no-ops)."""
    from django.db.migrations.loader import MigrationLoader

    return sorted(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def missing_migrations(
    schemas: list[str], targets: list[tuple[str, str]], *, batch: int = 500
) -> dict[str, frozenset[tuple[str, str]]]:
    """For each schema among `schemas` that misses one of `targets`, which ones it misses: read from the schemas'
    own django_migrations tables, one statement per `batch` schemas (no migrate command is run to find out)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r'"
        )
        recorded = {row[0] for row in cursor.fetchall()}
        missing = {schema: frozenset(targets) for schema in schemas if schema not in recorded}
        present = [schema for schema in schemas if schema in recorded]
        wanted = ", ".join(["(%s, %s, %s)"] * len(targets))
        flat = [value for number, target in enumerate(targets) for value in (number, *target)]
        quote = connection.ops.quote_name
        for start in range(0, len(present), batch):
            part = present[start : start + batch]
            gaps = " UNION ALL ".join(
                f"SELECT %s, (SELECT array_agg(t.i) FROM targets t WHERE NOT EXISTS (SELECT 1 FROM "  # noqa: S608
                f"{quote(schema)}.django_migrations m WHERE m.app = t.app AND m.name = t.name))"  # quoted names
                for schema in part
            )
            cursor.execute(f"WITH targets (i, app, name) AS (VALUES {wanted}) {gaps}", [*flat, *part])
            for schema, numbers in cursor.fetchall():
                if numbers:
                    missing[schema] = frozenset(targets[number] for number in numbers)
    return missing


def schemas_behind(schemas: list[str], targets: list[tuple[str, str]]) -> list[str]:
    return [schema for schema in schemas if schema in missing_migrations(schemas, targets)]


# Operations whose SQL is the same in every tenant schema and that need nothing of the migrate command beyond it
# (no Python code, no new or renamed models, whose content types post_migrate would make).
SQL_ONLY = {
    "AddField",
    "AlterField",
    "RemoveField",
    "RenameField",
    "AddIndex",
    "RemoveIndex",
    "RenameIndex",
    "AddConstraint",
    "RemoveConstraint",
    "AlterUniqueTogether",
    "AlterIndexTogether",
    "AlterModelOptions",
    "AlterModelManagers",
    "RunSQL",
}


def plan_sql(missing: frozenset[tuple[str, str]], tenant_schema: str) -> tuple[list[str], list] | None:
    """The SQL that brings a tenant schema missing `missing` to the target, computed once for every schema that
    misses the same ones, with the migrations to record; None when a migration needs the migrate command itself
    (Python code, new models, or not atomic)."""
    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader

    tenant_apps = set(settings.TENANT_APPS)
    loader = MigrationLoader(None, ignore_no_migrations=True)
    order: list[tuple[str, str]] = []
    for leaf in sorted(loader.graph.leaf_nodes()):
        order += [node for node in loader.graph.forwards_plan(leaf) if node in missing and node not in order]
    plan = [loader.graph.nodes[node] for node in order]
    runs = [m for m in plan if apps.get_app_config(m.app_label).name in tenant_apps]
    for migration in runs:
        if not migration.atomic or any(type(op).__name__ not in SQL_ONLY for op in migration.operations):
            return None
    connection.set_schema(tenant_schema)  # type: ignore[attr-defined]  # django-tenants' router: only the tenant apps' operations make SQL
    try:
        statements = MigrationLoader(connection).collect_sql([(migration, False) for migration in runs])
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    return [statement for statement in statements if not statement.startswith("--")], order


def _apply_sql(schema: str, statements: list[str], records: list[tuple[str, str]]) -> None:
    """The fast path: one transaction in the schema, its statements, and their migrations recorded."""
    from django.db import transaction

    connection.set_schema(schema)  # type: ignore[attr-defined]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            cursor.executemany("INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())", records)
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]


def _migrate_one(job: tuple) -> tuple[str, str]:
    """Migrates one schema (in a pool process or in this one); returns (schema, error or "")."""
    from django.db import connections
    from django_tenants.migration_executors.base import run_migrations

    args, options, schema, index, count, sql = job
    try:
        if sql is not None:
            _apply_sql(schema, *sql)
        else:
            run_migrations(args, options, "parallel", schema, allow_atomic=False, idx=index, count=count)
        return schema, ""
    except Exception as exc:  # reported with the schema; the other schemas go on
        return schema, f"{type(exc).__name__}: {exc}".strip()[:500]
    finally:
        connections.close_all()


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


class Progress:
    """A bar on a terminal; elsewhere a plain line every tenth of the way (and at the end)."""

    def __init__(self, total: int, out):
        self.total, self.done, self.out, self.bar = total, 0, out, None
        stream = getattr(out, "_out", out)
        if out is not None and getattr(stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="migrating tenant schemas", unit="schema", file=stream)

    def step(self, *, failed: int) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=failed)
        elif self.out is not None and (self.done == self.total or self.done % max(1, self.total // 10) == 0):
            self.out.write(f"migrated {self.done}/{self.total} tenant schema(s), {failed} failed")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Command(MigrateSchemasCommand):
    """migrate_schemas, plus: pgvector is checked first; a full run finds the tenant schemas that are behind from
    their django_migrations tables (one statement per 500 schemas) and migrates only those, `--parallel` at a
    time, with progress, going on past a schema that fails and listing the failures at the end (run it again to
    retry them: schemas already migrated are skipped, so an interrupted run resumes where it stopped); and it also
    migrates the tenant template schema and captures it as the SQL new tenants are made from (see
    apps.accounts.tenant_template)."""

    def handle(self, *args, **options):
        require_pgvector()
        scoped = any(options.get(key) for key in ("schema_name", "app_label", "migration_name"))
        special = any(options.get(key) for key in ("plan", "check_unapplied", "fake", "fake_initial", "prune"))
        if scoped or special or options.get("shared"):
            super().handle(*args, **options)
            return
        if not options.get("tenant"):
            super().handle(*args, **{**options, "shared": True, "tenant": False})
            connection.set_schema_to_public()  # type: ignore[attr-defined]
        targets = migration_targets()
        self.migrate_tenants(args, options, targets)

        template = settings.TENANT_TEMPLATE_SCHEMA
        if not schema_exists(template):
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{template}"')
        elif not schemas_behind([template], targets) and TenantTemplate.objects.filter(schema=template).exists():
            return  # the snapshot new tenants are made from is of this very state
        super().handle(*args, **{**options, "schema_name": template, "tenant": True, "shared": False})
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        template_capture(schema=template)

    def migrate_tenants(self, args, options, targets: list[tuple[str, str]]) -> None:
        verbosity = int(options.get("verbosity", 1))
        schemas = list(
            Tenant.objects.exclude(schema_name=get_public_schema_name())
            .order_by("schema_name")
            .values_list("schema_name", flat=True)
        )
        missing = missing_migrations(schemas, targets)
        behind = [schema for schema in schemas if schema in missing]
        if verbosity:
            self.stdout.write(f"{len(schemas) - len(behind)} tenant schema(s) up to date, {len(behind)} to migrate")
        if not behind:
            return
        # schemas that miss the same migrations get the same SQL, computed once (or the migrate command each)
        sql = {gap: plan_sql(gap, behind[0]) for gap in set(missing.values())}
        if verbosity > 1:
            fast = sum(1 for schema in behind if sql[missing[schema]] is not None)
            self.stdout.write(f"{fast} by their migrations' SQL, {len(behind) - fast} by the migrate command")
        parallel = max(1, min(options.get("parallel") or settings.MIGRATE_PARALLEL, len(behind)))
        child = {**options, "verbosity": max(0, verbosity - 1), "schema_name": None}
        jobs = [
            (list(args), child, schema, index, len(behind), sql[missing[schema]]) for index, schema in enumerate(behind)
        ]
        failures: dict[str, str] = {}
        progress = Progress(len(behind), self.stderr if verbosity else None)
        if parallel == 1:
            results = map(_migrate_one, jobs)
            self._collect(results, failures, progress)
        else:
            _close_connections()  # the pool's processes are forked: they must not share this one's connection
            with multiprocessing.get_context("fork").Pool(parallel, initializer=_close_connections) as pool:
                self._collect(pool.imap_unordered(_migrate_one, jobs), failures, progress)
        progress.close()
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        if failures:
            for schema, error in sorted(failures.items()):
                self.stderr.write(f"FAILED {schema}: {error}")
            raise CommandError(
                f"{len(failures)} of {len(behind)} tenant schema(s) failed to migrate (listed above); the others "
                "are migrated. Fix the cause and run migrate_schemas again: it migrates only the schemas still "
                "behind."
            )

    @staticmethod
    def _collect(results, failures: dict[str, str], progress: Progress) -> None:
        for schema, error in results:
            if error:
                failures[schema] = error
            progress.step(failed=len(failures))
