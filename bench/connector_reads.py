"""Reading 10,000 contacts through the connector layer against a bare httpx loop over the same pages.

A loopback server follows HubSpot's CRM objects contacts contract (cursor `after`, `paging.next.after`, 100 a page).
Our side is the production path: `open_context` + the HubSpot provider's `read` (the one HTTP client with its
retries, guards and metrics, then normalisation to the unified contact). The baseline fetches and parses the
same pages with httpx and nothing else. Then the cached re-read of one page through `connection_read`.
Target: our layer within 1.3x of the bare loop.

Self-contained: starts its own embedded PostgreSQL and Redis in a fresh folder and removes them at the end.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import Progress, _ms, _us, configure  # noqa: E402

from bizosaas.infra import Infra  # noqa: E402

CONTACTS = 10_000
PAGE = 100
TOKEN = "pat-bench-token"
ROUNDS = 3
CACHED_READS = 200


def fake_hubspot():
    from pytest_httpserver import HTTPServer
    from werkzeug import Response

    from apps.connectors.providers.hubspot import OBJECTS_PATH

    contacts = [
        {
            "id": str(n),
            "properties": {
                "email": f"person{n}@example.com",
                "firstname": f"First{n}",
                "lastname": f"Last{n}",
                "phone": f"+1555{n:07d}",
                "company": "Example Inc",
                "hs_lead_status": "NEW",
                "createdate": "2026-01-01T00:00:00.000Z",
                "lastmodifieddate": "2026-11-01T00:00:00.000Z",
            },
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-11-01T00:00:00.000Z",
            "archived": False,
        }
        for n in range(1, CONTACTS + 1)
    ]
    pages: dict[str, bytes] = {}
    for start in range(0, CONTACTS, PAGE):
        body: dict = {"results": contacts[start : start + PAGE]}
        if start + PAGE < CONTACTS:
            body["paging"] = {"next": {"after": str(start + PAGE), "link": f"?after={start + PAGE}"}}
        pages[str(start)] = json.dumps(body).encode()

    def handler(request):
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response(
                json.dumps({"status": "error", "message": "Authentication credentials not found."}),
                status=401,
                content_type="application/json",
            )
        return Response(pages[request.args.get("after", "0")], content_type="application/json")

    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request(f"/{OBJECTS_PATH}/contacts").respond_with_handler(handler)
    server.start()
    return server


def read_through_layer(base_url: str) -> int:
    from apps.connectors.registry import registry
    from apps.connectors.runtime import open_context

    provider = registry.get("hubspot")()
    ctx = open_context(provider, config={"api_base_url": base_url}, credentials={"private_app_token": TOKEN})
    count, cursor = 0, None
    with ctx.http:
        while True:
            page = provider.read(ctx, "contacts", cursor=cursor, limit=PAGE)
            count += len(page.records)
            cursor = page.next_cursor
            if not cursor:
                return count


def read_bare(base_url: str) -> int:
    import httpx

    from apps.connectors.providers.hubspot import OBJECTS_PATH

    count, after = 0, None
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while True:
            params = {"limit": PAGE, **({"after": after} if after else {})}
            body = client.get(f"/{OBJECTS_PATH}/contacts", params=params).json()
            count += len(body["results"])
            after = body.get("paging", {}).get("next", {}).get("after")
            if not after:
                return count


def cached_reread(base_url: str) -> tuple[float, float]:
    from django_tenants.utils import schema_context

    from apps.accounts.audit.services import Actor
    from apps.accounts.services import tenant_create
    from apps.connectors.services import connection_create, connection_read

    tenant = tenant_create(name="Bench", slug="bench-reads")
    with schema_context(tenant.schema_name):
        conn = connection_create(
            tenant=tenant,
            actor=Actor.system("bench"),
            user_id=None,
            provider="hubspot",
            name="bench",
            config={"api_base_url": base_url, "private_app_token": TOKEN},
        )
        started = time.perf_counter_ns()
        _page, cached = connection_read(connection=conn, resource="contacts", cursor=None, limit=PAGE)
        live = time.perf_counter_ns() - started
        assert not cached
        samples = []
        for _ in range(CACHED_READS):
            started = time.perf_counter_ns()
            _page, cached = connection_read(connection=conn, resource="contacts", cursor=None, limit=PAGE)
            samples.append(time.perf_counter_ns() - started)
            assert cached
    return live, statistics.median(samples)


def main() -> int:
    wall = time.monotonic()
    local_dir = configure()
    infra = Infra.from_env()
    servers = (infra.postgres, infra.redis)
    server = None
    try:
        for item in servers:
            item.up()
        import django
        from django.core.management import call_command

        django.setup()
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake server's access log
        call_command("migrate", interactive=False, verbosity=0)
        server = fake_hubspot()
        base_url = server.url_for("/").rstrip("/")
        layer, bare = [], []
        progress = Progress("reading 10,000 contacts, both ways", ROUNDS * 2)
        read_through_layer(base_url), read_bare(base_url)  # warm both paths
        for round_number in range(ROUNDS):  # interleaved so that drift affects both alike
            started = time.perf_counter_ns()
            assert read_through_layer(base_url) == CONTACTS
            layer.append(time.perf_counter_ns() - started)
            progress.update(round_number * 2 + 1)
            started = time.perf_counter_ns()
            assert read_bare(base_url) == CONTACTS
            bare.append(time.perf_counter_ns() - started)
            progress.update(round_number * 2 + 2)
        progress.close()
        live, cached = cached_reread(base_url)
        ours, raw = statistics.median(layer), statistics.median(bare)
        print(f"connector layer: {CONTACTS / (ours / 1e9):,.0f} contacts/s ({_ms(ours)} for {CONTACTS:,})")
        print(f"bare httpx loop: {CONTACTS / (raw / 1e9):,.0f} contacts/s ({_ms(raw)})")
        print(f"  -> ratio {ours / raw:.2f} (target <= 1.3)")
        print(
            f"page of {PAGE} via connection_read: live {_ms(live)}, cached re-read {_us(cached)} "
            f"(median of {CACHED_READS})"
        )
        print(f"total wall time: {time.monotonic() - wall:.1f} s")
        return 0
    finally:
        if server is not None:
            server.stop()
        from django.db import connection

        connection.close()
        for item in reversed(servers):
            item.down()
        shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
