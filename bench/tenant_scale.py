"""What grows with the number of tenants: the same figures at 1, 100 and 1,000 tenant schemas (10,000 with
`--max 10000`), each printed with its growth ratio from the first level, in one run.

- a sweep with nothing owed (integrations.sweep reads the public index of owed work);
- the pending-events metric;
- GET /api/v1/connections/ of one tenant with a JWT through the whole middleware stack (p50 of 100);
- a PostgreSQL backend's memory (pg_backend_memory_contexts) after it has touched one schema, and after a query
  in each of up to 1,000 different schemas (what a long-lived gateway connection accumulates; the gateway's
  connections live DB_CONN_MAX_AGE seconds);
- a no-op `migrate_schemas` (every schema already at the target state), and one that applies a typical migration
  (a column and an index on the events table) to every schema;
- creating one more tenant (median of 3, each on a fresh connection);
- the footprint of an empty tenant: relations in its schema and their bytes.

Self-contained: its own embedded PostgreSQL and Redis in a fresh folder, removed at the end.
`.venv/bin/python bench/tenant_scale.py [--max 10000]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import Progress, configure  # noqa: E402

from bizosaas.infra import Infra  # noqa: E402


def timed(fn, runs: int = 5) -> float:
    """Median seconds of `runs` calls."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


class Fleet:
    def __init__(self):
        from apps.accounts.audit.services import Actor

        self.actor = Actor.system("bench")
        self.count = 0
        self.schemas: list[str] = []

    def create(self):
        from apps.accounts.services import tenant_create

        self.count += 1
        tenant = tenant_create(name=f"Scale {self.count}", slug=f"scale-{self.count:05d}", actor=self.actor)
        self.schemas.append(tenant.schema_name)
        return tenant

    def fill(self, level: int) -> None:
        if self.count >= level:
            return
        progress = Progress(f"tenants to {level}", level - self.count)
        start = self.count
        while self.count < level:
            self.create()
            if self.count % 20 == 0 or self.count == level:
                progress.update(self.count - start)
        progress.close()


TYPICAL = 0  # how many typical migrations this run has added so far


def typical_migration() -> float:
    """Seconds for `migrate_schemas` to apply a typical migration to every tenant schema: a column and an index on
    the events table, in a copy of the integrations migrations (MIGRATION_MODULES) that this run extends."""
    global TYPICAL
    import importlib
    import tempfile

    from django.conf import settings
    from django.core.management import call_command

    if not TYPICAL:
        package = Path(tempfile.mkdtemp(prefix="bzs-migrations-")) / "bench_integrations_migrations"
        shutil.copytree(ROOT / "apps/integrations/migrations", package)
        sys.path.insert(0, str(package.parent))
        settings.MIGRATION_MODULES = {"integrations": "bench_integrations_migrations"}
        typical_migration.package = package
    package = typical_migration.package
    previous = sorted(p.stem for p in package.glob("[0-9]*.py"))[-1]
    TYPICAL += 1
    name = f"bench_{TYPICAL:02d}"
    (package / f"9{TYPICAL:03d}_{name}.py").write_text(
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('integrations', '{previous}')]\n"
        "    operations = [\n"
        f"        migrations.AddField('event', '{name}', models.CharField(max_length=20, null=True)),\n"
        f"        migrations.AddIndex('event', models.Index(fields=['{name}'], name='event_{name}')),\n"
        "    ]\n"
    )
    importlib.invalidate_caches()
    started = time.perf_counter()
    call_command("migrate_schemas", "--tenant", stdout=StringIO(), stderr=StringIO())
    return time.perf_counter() - started


def measure(fleet: Fleet, watched) -> dict[str, float]:
    from django.db import connection
    from django.test import Client

    from apps.integrations import dispatch
    from bizosaas.metrics import events_pending_count

    figures = {}
    figures["sweep, nothing owed (ms)"] = timed(dispatch.sweep) * 1000
    figures["pending-events metric (ms)"] = timed(events_pending_count) * 1000

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {watched['token']}")
    client.get("/api/v1/connections/")
    figures["GET connections p50 (ms)"] = timed(lambda: client.get("/api/v1/connections/"), 100) * 1000

    def backend_memory() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
            return cursor.fetchone()[0] / 2**20

    connection.close()
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{fleet.schemas[0]}".connectors_connection')
    figures["backend memory, 1 schema touched (MiB)"] = backend_memory()
    with connection.cursor() as cursor:
        for schema in fleet.schemas[:1000]:
            cursor.execute(f'SELECT count(*) FROM "{schema}".connectors_connection')
    figures["backend memory, <=1,000 schemas touched (MiB)"] = backend_memory()
    connection.close()

    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate_schemas", "--tenant", stdout=StringIO(), stderr=StringIO())
    figures["no-op migrate_schemas (s)"] = time.perf_counter() - started

    figures["typical migration, every schema (s)"] = typical_migration()

    def create_fresh():
        connection.close()
        fleet.create()

    figures["tenant create (ms)"] = timed(create_fresh, 3) * 1000
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
            [fleet.schemas[-1]],
        )
        tables, table_bytes = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            [fleet.schemas[-1]],
        )
        relations = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM pg_class")
        figures["pg_class rows"] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_database_size(current_database())")
        figures["database (MB)"] = cursor.fetchone()[0] / 1e6
    figures["empty tenant: relations"] = relations
    figures["empty tenant: tables"] = tables
    figures["empty tenant: kB"] = table_bytes / 1024
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=1000, help="the largest number of tenants (default 1000)")
    args = parser.parse_args()
    levels = [level for level in (1, 100, 1000, 10000) if level <= args.max]
    if args.max not in levels:
        levels.append(args.max)

    wall = time.monotonic()
    local_dir = configure()
    infra = Infra.from_env()
    servers = (infra.postgres, infra.redis)
    try:
        for server in servers:
            server.up()
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        from apps.accounts.models import Membership, User
        from apps.accounts.services import public_tenant_ensure
        from apps.accounts.tokens import token_pair

        public_tenant_ensure()
        fleet = Fleet()
        first = fleet.create()
        user = User.objects.create_user(email="owner@scale.bench", password="bench-password-2026")
        Membership.objects.create(user=user, tenant=first, role="owner")
        watched = {"token": token_pair(user=user, tenant=first)["access"]}
        print(f"setup: {time.monotonic() - wall:.1f} s", flush=True)

        results: dict[int, dict[str, float]] = {}
        for level in levels:
            fleet.fill(level)
            results[level] = measure(fleet, watched)
            print(f"measured at {level} tenants ({time.monotonic() - wall:.0f} s)", flush=True)

        print()
        names = list(results[levels[0]])
        header = ["figure", *[f"{level:,} tenants" for level in levels], f"ratio {levels[-1]:,}/{levels[0]}"]
        print(" | ".join(header))
        for name in names:
            values = [results[level][name] for level in levels]
            ratio = values[-1] / values[0] if values[0] else float("inf")
            print(" | ".join([name, *[f"{value:,.1f}" for value in values], f"{ratio:.2f}x"]))
        print(f"total wall time: {time.monotonic() - wall:.0f} s")
        return 0
    finally:
        from django.db import connection

        connection.close()
        for server in reversed(servers):
            server.down()
        shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
