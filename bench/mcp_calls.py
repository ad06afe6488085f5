"""A connector read as an MCP tool call against the same read through the REST API, in one run.

The gateway runs under the gunicorn command line of `manage.py dev` (gthread). One tenant has a HubSpot connection
to a loopback server that follows the CRM objects contract for a page of contacts; one API key has the `mcp` scope
(with that resource among its MCP tools) and `connections:use`. Interleaved, N times each:

- MCP: `POST /mcp/` with a JSON-RPC `tools/call` of `hubspot__contacts` (what a stateless Streamable HTTP client
  sends per call after `initialize`): key lookup, the key's grants re-read, the tool list built, the arguments
  validated against the tool's schema, the read, an audit row and a counter;
- direct: `GET /api/v1/connections/<id>/resources/contacts/` with the same key: the API's authentication,
  permission matrix and throttles, then the same `connection_read`.

Reads are not cached (CONNECTOR_CACHE_TTL=0), so every call reaches the provider as a model's would. Printed:
p50/p99 of both and the ratio of the p50s. Target: MCP within 1.3x of the direct read.

Self-contained: starts its own embedded PostgreSQL and Redis in a fresh folder and removes them at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import Progress, _ms, configure  # noqa: E402
from webhook_ingest import gunicorn_args, percentile, spawn, wait_healthy  # noqa: E402

from bizosaas.infra import Infra, free_port  # noqa: E402

TOKEN = "pat-bench-token"
CONTACTS = 50
LIMIT = 10
TARGET = 1.3


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
                "company": "Example Inc",
                "createdate": "2026-01-01T00:00:00.000Z",
                "lastmodifieddate": "2026-11-01T00:00:00.000Z",
            },
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-11-01T00:00:00.000Z",
            "archived": False,
        }
        for n in range(1, CONTACTS + 1)
    ]

    def handler(request):
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response(json.dumps({"status": "error", "message": "Unauthorized"}), status=401)
        start, limit = int(request.args.get("after", 0)), int(request.args.get("limit", 10))
        body: dict = {"results": contacts[start : start + limit]}
        if start + limit < CONTACTS:
            body["paging"] = {"next": {"after": str(start + limit)}}
        return Response(json.dumps(body), content_type="application/json")

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(f"/{OBJECTS_PATH}/contacts").respond_with_handler(handler)
    server.start()
    return server


def setup(base_url: str) -> tuple[int, str]:
    """(connection id, API key) in a fresh tenant."""
    from django_tenants.utils import schema_context

    from apps.accounts.audit.services import Actor
    from apps.accounts.services import api_key_create, tenant_create
    from apps.connectors.services import connection_create

    tenant = tenant_create(name="Bench", slug="bench-mcp")
    actor = Actor.system("bench")
    with schema_context(tenant.schema_name):
        conn = connection_create(
            tenant=tenant,
            actor=actor,
            user_id=None,
            provider="hubspot",
            name="HubSpot",
            config={"api_base_url": base_url, "private_app_token": TOKEN},
        )
    _key, secret = api_key_create(
        tenant=tenant,
        name="bench",
        scopes=["mcp", "connections:use", "connections:read"],
        expires_at=None,
        created_by=None,
        actor=actor,
        mcp_tools=[{"connection": conn.pk, "resources": ["contacts"]}],
    )
    return conn.pk, secret


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="calls each way (default 300)")
    args = parser.parse_args()
    wall = time.monotonic()
    local_dir = configure()
    os.environ["CONNECTOR_CACHE_TTL"] = "0"  # every read reaches the provider
    os.environ["CONNECTORS_ALLOW_LOOPBACK"] = "true"
    os.environ["QUOTA_API_REQUESTS_PER_MINUTE"] = os.environ["QUOTA_API_KEY_REQUESTS_PER_MINUTE"] = "1000000"
    infra = Infra.from_env()
    servers = (infra.postgres, infra.redis)
    server = gateway = None
    try:
        for item in servers:
            item.up()
        import django
        from django.core.management import call_command

        django.setup()
        import logging

        import httpx

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        call_command("migrate", interactive=False, verbosity=0)
        server = fake_hubspot()
        connection_id, secret = setup(server.url_for("/").rstrip("/"))
        base = f"http://127.0.0.1:{free_port()}"
        gateway = spawn("gateway", gunicorn_args("bizosaas.wsgi", base[7:]), local_dir)
        wait_healthy(gateway, f"{base}/healthz")

        headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json, text/event-stream"}
        client = httpx.Client(base_url=base, headers=headers, timeout=30)
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
        call["params"] = {"name": "hubspot__contacts", "arguments": {"limit": LIMIT}}
        mcp_headers = {"MCP-Protocol-Version": "2025-11-25"}
        direct_path = f"/api/v1/connections/{connection_id}/resources/contacts/?limit={LIMIT}"

        def via_mcp() -> int:
            response = client.post("/mcp/", json=call, headers=mcp_headers)
            result = response.json()["result"]
            assert response.status_code == 200 and not result["isError"], response.text
            return len(result["structuredContent"]["records"])

        def direct() -> int:
            response = client.get(direct_path)
            assert response.status_code == 200, response.text
            return len(response.json()["records"])

        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize"}
        init["params"] = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "b", "version": "1"},
        }
        assert client.post("/mcp/", json=init).status_code == 200
        for _ in range(20):  # warm both paths (imports, connections, the gunicorn threads)
            via_mcp(), direct()
        mcp_ns, direct_ns = [], []
        progress = Progress("tool calls and direct reads, interleaved", args.n)
        for done in range(args.n):
            started = time.perf_counter_ns()
            assert via_mcp() == LIMIT
            mcp_ns.append(time.perf_counter_ns() - started)
            started = time.perf_counter_ns()
            assert direct() == LIMIT
            direct_ns.append(time.perf_counter_ns() - started)
            if done % 10 == 9:
                progress.update(done + 1)
        progress.close()
        client.close()
        ours, raw = statistics.median(mcp_ns), statistics.median(direct_ns)
        print(f"gunicorn gthread; {args.n} reads of {LIMIT} contacts each way, provider on loopback, no cache")
        print(f"MCP tools/call:   p50 {_ms(ours)}  p99 {_ms(percentile(mcp_ns, 0.99))}")
        print(f"direct REST read: p50 {_ms(raw)}  p99 {_ms(percentile(direct_ns, 0.99))}")
        print(f"  -> ratio {ours / raw:.2f} (target <= {TARGET})")
        print(f"total wall time: {time.monotonic() - wall:.1f} s")
        return 0
    finally:
        if gateway is not None:
            gateway.stop()
        if server is not None:
            server.stop()
        from django.db import connection

        connection.close()
        for item in reversed(servers):
            item.down()
        shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
