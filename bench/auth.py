"""Tenant creation and authenticated API latency, each against a raw baseline measured in the same run.

1. `services.tenant_create` (the schema made from the migrated template) with 1, 100 and 500 tenants already
   present, against creating the same schema by replaying every tenant migration from zero.
2. GET /api/v1/members/ with a JWT and with an API key through the gateway's WSGI entry point (bizosaas.wsgi, what
   gunicorn calls: its middleware, authentication, throttle, view and pagination), against the same queryset +
   serializer + JSON rendering run directly in the tenant's schema.

Self-contained: starts its own embedded PostgreSQL and Redis in a fresh temporary folder and removes both at the
end. Run from the repository root: `.venv/bin/python bench/auth.py` (or `make bench`).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import Progress, _ms, _us, configure  # noqa: E402

from bizosaas.infra import Infra  # noqa: E402 (imports nothing from Django)

LEVELS = (1, 100, 500)  # tenants already present when a creation is timed
TIMED_CREATIONS = 5  # per level
MIGRATE_RUNS = 3  # schema built by replaying the migrations from zero
WARMUP = 30
ITERATIONS = 300
MEMBERS = 5  # rows in the listed tenant (the owner and four viewers)


def bench_tenant_create() -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    """Median ns of a clone and of a migrate-from-zero at each level, and the seconds spent reaching each level.

    Every creation starts on a fresh database connection, as one request or command of the gateway would: a
    single PostgreSQL backend that has created hundreds of schemas keeps what it touched in its catalog caches,
    which is not what production runs. Connecting is not timed."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts import services
    from apps.accounts.models import Tenant

    existing = Tenant.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
    counter = iter(range(1, 10**6))

    def fresh_connection() -> None:
        connection.close()
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    def create(prefix: str):
        number = next(counter)
        return services.tenant_create(name=f"Bench {prefix} {number}", slug=f"bench-{prefix}-{number:05d}")

    clone: dict[int, float] = {}
    migrate: dict[int, float] = {}
    fill: dict[int, float] = {}
    for level in LEVELS:
        missing = level - existing.count()
        started = time.monotonic()
        if missing > 0:
            progress = Progress(f"filling to {level} tenants", missing)
            for done in range(1, missing + 1):
                fresh_connection()
                create("fill")
                progress.update(done)
            progress.close()
        fill[level] = time.monotonic() - started
        assert existing.count() == level

        samples = []
        for _ in range(TIMED_CREATIONS):
            fresh_connection()
            started = time.perf_counter_ns()
            tenant = create("timed")
            samples.append(time.perf_counter_ns() - started)
            # dropped (untimed) so that every timed creation sees exactly `level` tenants
            connection.set_schema_to_public()
            tenant.delete(force_drop=True)
        clone[level] = statistics.median(samples)
        print(f"  @{level}: clone {', '.join(_ms(s) for s in samples)}", flush=True)

        # the raw baseline in the same catalog state: the same schema built by replaying the migrations
        samples = []
        for run in range(MIGRATE_RUNS):
            schema = f"bench_migrate_{run}"
            fresh_connection()
            started = time.perf_counter_ns()
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{schema}"')
            call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, verbosity=0)
            samples.append(time.perf_counter_ns() - started)
            connection.set_schema_to_public()
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        migrate[level] = statistics.median(samples)
        print(f"  @{level}: migrate from zero {', '.join(_ms(s) for s in samples)}", flush=True)
    return clone, migrate, fill


def bench_members_list() -> tuple[float, float, float, int]:
    """Median ns of GET /api/v1/members/ with a JWT, with an API key, and of the raw view; and the row count."""
    import logging

    from django.db import connection
    from django_tenants.utils import schema_context
    from rest_framework.renderers import JSONRenderer

    from apps.accounts import services
    from apps.accounts.api.serializers import MemberSerializer
    from apps.accounts.audit.services import Actor
    from apps.accounts.models import Membership, User
    from apps.accounts.tokens import token_pair

    connection.set_schema_to_public()
    tenant = services.tenant_create(name="Bench API", slug="bench-api")
    owner = User.objects.create_user(email="owner@bench-api.localhost", password="bench-owner-pass-2026")
    Membership.objects.create(user=owner, tenant=tenant, role=Membership.Role.OWNER)
    for index in range(MEMBERS - 1):
        viewer = User.objects.create_user(email=f"viewer{index}@bench-api.localhost", password="bench-viewer-2026")
        Membership.objects.create(user=viewer, tenant=tenant, role=Membership.Role.VIEWER)
    access = token_pair(user=owner, tenant=tenant)["access"]
    _key, secret = services.api_key_create(
        tenant=tenant,
        name="bench",
        scopes=["members:read"],
        expires_at=None,
        created_by=None,
        actor=Actor.system("bench"),
    )

    from bizosaas.wsgi import application  # what gunicorn serves: the entry point and its stacks

    path = "/api/v1/members/"

    def get(authorization: str) -> bytes:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "HTTP_HOST": "localhost",
            "HTTP_AUTHORIZATION": authorization,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        answer = []
        result = application(environ, lambda status, headers, exc_info=None: answer.append(status))
        body = b"".join(result)
        getattr(result, "close", lambda: None)()
        assert answer[0].startswith("200"), (answer, body[:300])
        return body

    def via_jwt() -> bytes:
        return get(f"Bearer {access}")

    def via_key() -> bytes:
        return get(f"Bearer {secret}")

    renderer = JSONRenderer()

    def raw() -> bytes:
        with schema_context(tenant.schema_name):
            queryset = Membership.objects.filter(tenant=tenant).select_related("user", "tenant").order_by("created_at")
            return renderer.render(MemberSerializer(queryset, many=True).data)

    # one structured log line per request: keep producing it (it is part of the stack), but not on our stdout
    devnull = open(os.devnull, "w")  # noqa: SIM115 (closed below)
    redirected = []
    for handler in logging.getLogger().handlers:
        if hasattr(handler, "setStream") and not isinstance(handler, logging.FileHandler):  # the console's handlers
            redirected.append((handler, handler.setStream(devnull)))
    try:
        rows = len(json.loads(raw()))
        assert rows == MEMBERS, rows
        for _ in range(WARMUP):
            via_jwt(), via_key(), raw()
        timings: dict[str, list[int]] = {"jwt": [], "key": [], "raw": []}
        for _ in range(ITERATIONS):  # interleaved so that drift affects all three alike
            for name, call in (("jwt", via_jwt), ("key", via_key), ("raw", raw)):
                started = time.perf_counter_ns()
                call()
                timings[name].append(time.perf_counter_ns() - started)
        trips = {name: round_trips(call) for name, call in (("jwt", via_jwt), ("key", via_key), ("raw", raw))}
    finally:
        for handler, stream in redirected:
            handler.setStream(stream)
        devnull.close()
    for name, (sql, redis) in trips.items():
        print(f"  round trips a request ({name}): {sql:.1f} SQL statements, {redis:.1f} Redis commands", flush=True)
    return (
        statistics.median(timings["jwt"]),
        statistics.median(timings["key"]),
        statistics.median(timings["raw"]),
        rows,
    )


def round_trips(call, times: int = 20) -> tuple[float, float]:
    """Round trips per call: SQL statements sent by psycopg (Django's connection health check and `SET search_path`
    included) and commands sent by redis-py (a Lua script is one)."""
    import psycopg
    import redis

    sent = {"sql": 0, "redis": 0}
    execute, command = psycopg.Cursor.execute, redis.Redis.execute_command

    def sql(self, *args, **kwargs):
        sent["sql"] += 1
        return execute(self, *args, **kwargs)

    def redis_command(self, *args, **kwargs):
        sent["redis"] += 1
        return command(self, *args, **kwargs)

    psycopg.Cursor.execute, redis.Redis.execute_command = sql, redis_command
    try:
        for _ in range(times):
            call()
    finally:
        psycopg.Cursor.execute, redis.Redis.execute_command = execute, command
    return sent["sql"] / times, sent["redis"] / times


def main() -> int:
    wall = time.monotonic()
    local_dir = configure()
    os.environ["KNOWLEDGE_PRELOAD_MODEL"] = "false"  # bizosaas.wsgi would load the embedding model meanwhile
    infra = Infra.from_env()
    servers = (infra.postgres, infra.redis)  # Temporal plays no part here
    try:
        for server in servers:
            server.up()
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)  # also builds the tenant template
        from apps.accounts.services import public_tenant_ensure

        public_tenant_ensure()  # the platform's own tenant and domains, as in any deployment
        print(f"setup (servers + migrate): {time.monotonic() - wall:.1f} s", flush=True)

        clone, migrate, fill = bench_tenant_create()
        jwt, key, raw, rows = bench_members_list()

        from django.db import connection

        connection.close()

        first = LEVELS[0]
        print()
        print(
            f"tenant create (clone, median of {TIMED_CREATIONS}) "
            + " | ".join(f"@{level} existing: {_ms(clone[level])}" for level in LEVELS)
        )
        print(
            f"tenant create (migrate from zero, baseline, median of {MIGRATE_RUNS}) "
            + " | ".join(f"@{level}: {_ms(migrate[level])}" for level in LEVELS)
        )
        print(
            f"  -> clone/migrate ratio {clone[first] / migrate[first]:.2f} @{first}"
            + "".join(f", {clone[level] / migrate[level]:.2f} @{level}" for level in LEVELS[1:])
        )
        print(
            "  (filling to each level with tenant_create took "
            + ", ".join(f"{fill[level]:.1f} s to {level}" for level in LEVELS)
            + ")"
        )
        print(
            f"GET /api/v1/members/ ({rows} members, median of {ITERATIONS}) JWT: {_us(jwt)} | API key: {_us(key)} | "
            f"raw view: {_us(raw)} -> ratio {jwt / raw:.1f} (JWT), {key / raw:.1f} (API key)"
        )
        print(f"total wall time: {time.monotonic() - wall:.1f} s")
        return 0
    finally:
        for server in reversed(servers):
            server.down()
        shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
