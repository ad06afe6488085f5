"""An MCP client's side of the OAuth flow, spoken to the real gateway through Django's test client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from tests.factories import make_member, make_tenant

REDIRECT = "http://127.0.0.1:33418/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Flow:
    """A browser (a session on the gateway) and the client app's calls, for one registered public client."""

    browser: Client
    app: Client
    client_id: str
    resource: str

    def authorize_params(self, challenge: str, **overrides) -> dict:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT,
            "scope": "mcp",
            "state": "st-123",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": self.resource,
        }
        params.update(overrides)
        return {key: value for key, value in params.items() if value is not None}

    def consent(self, challenge: str, tenant_slug: str, **overrides):
        return self.browser.post(
            "/oauth/authorize",
            {**self.authorize_params(challenge, **overrides), "tenant": tenant_slug, "decision": "Allow"},
        )

    def code(self, tenant_slug: str) -> tuple[str, str]:
        verifier, challenge = pkce()
        response = self.consent(challenge, tenant_slug)
        assert response.status_code == 302, response.content
        query = parse_qs(urlsplit(response["Location"]).query)
        assert query["state"] == ["st-123"]
        return query["code"][0], verifier

    def exchange(self, code: str, verifier: str, **extra):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
            "client_id": self.client_id,
            "resource": self.resource,
            **extra,
        }
        return self.app.post("/oauth/token", {k: v for k, v in data.items() if v is not None})

    def tokens(self, tenant_slug: str) -> dict:
        code, verifier = self.code(tenant_slug)
        response = self.exchange(code, verifier)
        assert response.status_code == 200, response.content
        return response.json()

    def refresh(self, refresh_token: str):
        return self.app.post(
            "/oauth/token",
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id},
        )


def register(app: Client, **metadata):
    body = {
        "client_name": "Desktop MCP client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **metadata,
    }
    return app.post("/oauth/register", body, content_type="application/json")


@pytest.fixture
def acme(db):
    return make_tenant(slug="acme", name="Acme")


@pytest.fixture
def globex(db):
    return make_tenant(slug="globex", name="Globex")


@pytest.fixture
def member(acme, globex):
    user = make_member(acme, "member", email="mia@example.com")
    from apps.accounts.models import Membership

    Membership.objects.create(user=user, tenant=globex, role="admin")
    return user


@pytest.fixture
def flow(member, settings):
    settings.GATEWAY_URL = "http://localhost:8000"
    app = Client(HTTP_HOST="localhost")
    response = register(app)
    assert response.status_code == 201, response.content
    browser = Client(HTTP_HOST="localhost")
    browser.force_login(member)
    return Flow(browser=browser, app=app, client_id=response.json()["client_id"], resource="http://localhost:8000/mcp/")
