"""The official MCP Python client completes the OAuth flow as a public client against the live gateway: it is
refused (401 pointing at the protected resource metadata), discovers the authorization server, registers itself,
sends the person to consent (done here by a browser-like HTTP client that signs in and approves one tenant), swaps
the code with its PKCE verifier, and lists the tenant's tools; removing the person from the tenant ends it."""

from __future__ import annotations

import asyncio
import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from apps.accounts.models import Membership
from apps.oauth.models import OAuthClient, OAuthGrant
from tests.factories import PASSWORD
from tests.mcp.conftest import Org

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACK = "http://127.0.0.1:45123/callback"


class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def _hidden_fields(page: str) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return {name: html.unescape(value) for name, value in fields.items()}


class Person:
    """A browser: signs in on the gateway's page when sent there, approves `tenant_slug`, and hands the redirect's
    code and state to the client (what the client's loopback listener would receive)."""

    def __init__(self, base: str, email: str, tenant_slug: str):
        self.base, self.email, self.tenant_slug = base, email, tenant_slug
        self.callback: tuple[str, str | None] | None = None
        self.saw_consent = ""

    async def redirect_handler(self, authorization_url: str) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as browser:
            response = await browser.get(authorization_url)
            assert response.status_code == 302, response.text
            login_url = response.headers["location"]
            page = await browser.get(login_url)
            fields = _hidden_fields(page.text)
            fields.update(username=self.email, password=PASSWORD)
            fields["csrfmiddlewaretoken"] = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
            signed_in = await browser.post(login_url, data=fields)
            assert signed_in.status_code == 302, signed_in.text
            consent = await browser.get(signed_in.headers["location"])
            assert consent.status_code == 200
            self.saw_consent = consent.text
            form = _hidden_fields(consent.text)
            form.update(tenant=self.tenant_slug, decision="Allow")
            approved = await browser.post("/oauth/authorize", data=form, headers={"Referer": f"{self.base}/"})
            assert approved.status_code == 302, approved.text
            location = approved.headers["location"]
        assert location.startswith(CALLBACK)
        query = parse_qs(urlsplit(location).query)
        self.callback = (query["code"][0], query.get("state", [None])[0])

    async def callback_handler(self) -> tuple[str, str | None]:
        assert self.callback is not None
        return self.callback


def _list_tools(url: str, person: Person, storage: MemoryStorage) -> list[str]:
    from mcp import ClientSession
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import OAuthClientMetadata

    async def main():
        auth = OAuthClientProvider(
            server_url=url,
            client_metadata=OAuthClientMetadata(
                client_name="Official MCP client",
                redirect_uris=[CALLBACK],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
                scope="mcp",
            ),
            storage=storage,
            redirect_handler=person.redirect_handler,
            callback_handler=person.callback_handler,
        )
        async with (
            httpx.AsyncClient(auth=auth, timeout=httpx.Timeout(30, read=60)) as http,
            streamable_http_client(url, http_client=http) as (read, write, _session_id),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return [tool.name for tool in (await session.list_tools()).tools]

    return asyncio.run(main())


def test_the_official_client_connects_a_tenant_by_signing_in_and_lists_its_tools(live_server, settings, httpserver):
    from tests.connectors.providers.test_hubspot import FakeHubSpot

    settings.GATEWAY_URL = live_server.url
    acme, globex = Org("oauth-acme"), Org("oauth-globex")
    Membership.objects.create(user=acme.admin, tenant=globex.tenant, role="member")
    hubspot = FakeHubSpot(httpserver)
    acme.hubspot(hubspot, name="Acme CRM")
    globex.hubspot(hubspot, name="Globex CRM")
    person = Person(live_server.url, acme.admin.email, acme.tenant.slug)
    storage = MemoryStorage()

    tools = _list_tools(f"{live_server.url}/mcp/", person, storage)

    assert tools and all(name.startswith("acme-crm__") for name in tools)  # the chosen tenant's, only
    assert 'value="' + globex.tenant.slug + '"' in person.saw_consent  # both tenants were offered
    client = OAuthClient.objects.get()
    assert (client.client_name, client.token_endpoint_auth_method) == ("Official MCP client", "none")
    grant = OAuthGrant.objects.get()
    assert (grant.tenant_id, grant.user_id) == (acme.tenant.pk, acme.admin.pk)
    assert storage.tokens.access_token.startswith("bzo_at_")

    # the stored token keeps working without another consent
    person.callback = None
    assert _list_tools(f"{live_server.url}/mcp/", person, storage) == tools
    assert person.callback is None

    # removed from the tenant: the same token is refused at once
    Membership.objects.filter(user=acme.admin, tenant=acme.tenant).delete()
    response = httpx.post(
        f"{live_server.url}/mcp/",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={
            "Authorization": f"Bearer {storage.tokens.access_token}",
            "Accept": "application/json, text/event-stream",
        },
    )
    assert response.status_code == 401
    assert "oauth-protected-resource" in response.headers["WWW-Authenticate"]
