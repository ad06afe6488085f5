from __future__ import annotations

import multiprocessing

from django.conf import settings
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
from django_tenants.utils import get_public_schema_name, schema_exists


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


def schemas_behind(schemas: list[str], targets: list[tuple[str, str]], *, batch: int = 500) -> list[str]:
    """The schemas among `schemas` that miss one of `targets`, read from their own django_migrations tables in
    statements of `batch` schemas each (no migrate command is run to find out)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r'"
        )
        recorded = {row[0] for row in cursor.fetchall()}
        behind = [schema for schema in schemas if schema not in recorded]
        present = [schema for schema in schemas if schema in recorded]
        wanted = ", ".join(["(%s, %s)"] * len(targets))
        flat = [value for target in targets for value in target]
        quote = connection.ops.quote_name
        for start in range(0, len(present), batch):
            part = present[start : start + batch]
            counts = " UNION ALL ".join(
                f"SELECT %s, (SELECT count(*) FROM {quote(schema)}.django_migrations m "  # noqa: S608 (quoted names)
                "JOIN targets t ON t.app = m.app AND t.name = m.name)"
                for schema in part
            )
            cursor.execute(f"WITH targets (app, name) AS (VALUES {wanted}) {counts}", [*flat, *part])
            behind += [schema for schema, found in cursor.fetchall() if found < len(targets)]
    return behind


def _migrate_one(job: tuple[list, dict, str, int, int]) -> tuple[str, str]:
    """Migrates one schema (in a pool process or in this one); returns (schema, error or "")."""
    from django.db import connections
    from django_tenants.migration_executors.base import run_migrations

    args, options, schema, index, count = job
    try:
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
            connection.set_schema_to_public()
        targets = migration_targets()
        self.migrate_tenants(args, options, targets)
        from apps.accounts.models import TenantTemplate
        from apps.accounts.tenant_template import template_capture

        template = settings.TENANT_TEMPLATE_SCHEMA
        if not schema_exists(template):
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{template}"')
        elif not schemas_behind([template], targets) and TenantTemplate.objects.filter(schema=template).exists():
            return  # the snapshot new tenants are made from is of this very state
        super().handle(*args, **{**options, "schema_name": template, "tenant": True, "shared": False})
        connection.set_schema_to_public()
        template_capture(schema=template)

    def migrate_tenants(self, args, options, targets: list[tuple[str, str]]) -> None:
        from apps.accounts.models import Tenant

        verbosity = int(options.get("verbosity", 1))
        schemas = list(
            Tenant.objects.exclude(schema_name=get_public_schema_name())
            .order_by("schema_name")
            .values_list("schema_name", flat=True)
        )
        behind = schemas_behind(schemas, targets)
        if verbosity:
            self.stdout.write(f"{len(schemas) - len(behind)} tenant schema(s) up to date, {len(behind)} to migrate")
        if not behind:
            return
        parallel = max(1, min(options.get("parallel") or settings.MIGRATE_PARALLEL, len(behind)))
        child = {**options, "verbosity": max(0, verbosity - 1), "schema_name": None}
        jobs = [(list(args), child, schema, index, len(behind)) for index, schema in enumerate(behind)]
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
        connection.set_schema_to_public()
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
