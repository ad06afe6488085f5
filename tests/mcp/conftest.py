"""MCP fixtures: tenants with connections to loopback provider fakes, API keys with MCP tools, and the official MCP
Python client (`mcp.client.streamable_http` + `ClientSession`) speaking to a gateway on a loopback port."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django_tenants.utils import schema_context

from apps.accounts.audit.services import Actor
from apps.accounts.services import api_key_create
from apps.connectors.models import Connection
from tests.connectors.providers.test_hubspot import PRIVATE_APP_TOKEN, FakeHubSpot
from tests.factories import bearer, make_member, make_tenant


class Org:
    def __init__(self, slug: str):
        slug = f"{slug}-{uuid.uuid4().hex[:6]}"  # transactional tests leave their schemas behind
        self.tenant = make_tenant(slug=slug)
        self.admin = make_member(self.tenant, "admin", email=f"admin@{slug}.test")

    @property
    def schema(self) -> str:
        return self.tenant.schema_name

    def auth(self) -> dict:
        return bearer(self.admin, self.tenant)

    def hubspot(self, fake: FakeHubSpot, name: str = "HubSpot") -> Connection:
        with schema_context(self.schema):
            return Connection.objects.create(
                provider="hubspot",
                name=name,
                config={"api_base_url": fake.base_url},
                credentials={"private_app_token": PRIVATE_APP_TOKEN},
                status=Connection.Status.ACTIVE,
            )

    def key(self, mcp_tools: list | None = None, *, scopes=("mcp",), name: str = "Desktop") -> tuple[Any, str]:
        """(ApiKey, full secret)."""
        return api_key_create(
            tenant=self.tenant,
            name=name,
            scopes=list(scopes),
            expires_at=None,
            created_by=self.admin,
            actor=Actor.for_user(self.admin),
            mcp_tools=mcp_tools or [],
        )


@pytest.fixture
def hubspot(httpserver):
    return FakeHubSpot(httpserver)


def run_client(url: str, secret: str, body: Callable[[Any], Awaitable[Any]]) -> Any:
    """Connects the official client to `url` as `secret`, initialises, runs `body(session)` and returns its value.
    Runs its own event loop; nothing in `body` may touch the database."""
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def main():
        headers = {"Authorization": f"Bearer {secret}"}
        async with (
            httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=60)) as http,
            streamable_http_client(url, http_client=http) as (read, write, _session_id),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await body(session)

    return asyncio.run(main())
