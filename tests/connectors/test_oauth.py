"""OAuth2 end to end: the API starts the flow, a loopback authorisation server (HubSpot's token contract) issues
tokens, the callback stores them encrypted; refresh ahead of expiry and on a 401; a failed refresh needs re-auth."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django_tenants.utils import schema_context
from werkzeug import Response

from apps.accounts.audit.models import AuditEvent
from apps.connectors.models import Connection, OAuthState
from apps.connectors.services import OAUTH_SALT
from tests.connectors.providers.test_hubspot import FakeHubSpot
from tests.factories import bearer, make_member, make_tenant

pytestmark = pytest.mark.django_db
CLIENT_ID, CLIENT_SECRET = "client-123", "secret-456"


class FakeAuthorizationServer:
    """HubSpot's token endpoint: form-encoded grant, client credentials in the body, JSON tokens back."""

    def __init__(self, httpserver, hubspot: FakeHubSpot):
        self.hubspot, self.codes, self.issued, self.refresh_ok = hubspot, {}, 0, True
        self.requests: list[dict] = []
        httpserver.expect_request("/oauth/v1/token", method="POST").respond_with_handler(self.token)

    def token(self, request):
        form = request.form.to_dict()
        self.requests.append(form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Response(json.dumps({"status": "BAD_CLIENT_ID", "message": "missing or unknown client"}), 400)
        if form["grant_type"] == "authorization_code":
            if self.codes.pop(form.get("code"), None) != form.get("redirect_uri"):
                return Response(json.dumps({"status": "BAD_AUTH_CODE", "message": "auth code not found"}), 400)
        elif form["grant_type"] != "refresh_token" or not self.refresh_ok:
            return Response(json.dumps({"status": "BAD_REFRESH_TOKEN", "message": "refresh token is invalid"}), 400)
        self.issued += 1
        access = f"access-{self.issued}"
        self.hubspot.tokens = {access}  # only the newest token works, as after a real rotation
        body = {
            "access_token": access,
            "refresh_token": f"refresh-{self.issued}",
            "expires_in": 1800,
            "token_type": "bearer",
        }
        return Response(json.dumps(body), content_type="application/json")

    def user_consents(self, authorization_url: str) -> tuple[str, str]:
        """What the provider does after the person clicks "Connect": a code bound to the redirect URI."""
        query = parse_qs(urlsplit(authorization_url).query)
        code = f"code-{len(self.codes) + self.issued}"
        self.codes[code] = query["redirect_uri"][0]
        return code, query["state"][0]


@pytest.fixture
def world(httpserver, settings):
    settings.OAUTH_ENDPOINT_OVERRIDES = {
        "hubspot": {
            "authorize_url": "https://app.hubspot.com/oauth/authorize",
            "token_url": httpserver.url_for("/oauth/v1/token"),
        }
    }
    hubspot = FakeHubSpot(httpserver, tokens=())
    auth_server = FakeAuthorizationServer(httpserver, hubspot)
    tenant = make_tenant(slug="acme")
    admin = make_member(tenant, "admin")
    return tenant, admin, hubspot, auth_server


def connect(api, world) -> dict:
    tenant, admin, hubspot, _auth = world
    body = {
        "provider": "hubspot",
        "name": "CRM",
        "config": {"api_base_url": hubspot.base_url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    }
    connection = api.post("/api/v1/connections/", body, **bearer(admin, tenant)).json()
    started = api.post(f"/api/v1/connections/{connection['id']}/oauth/start/", **bearer(admin, tenant))
    assert started.status_code == 200, started.content
    return {**connection, "authorization_url": started.json()["authorization_url"]}


def arrive(api, code, state):
    """The provider's redirect of the browser: the code is kept, nothing else changes."""
    return api.get("/api/v1/oauth/callback/", {"code": code, "state": state}, HTTP_ACCEPT="application/json")


def complete(api, world, state, user=None):
    """The portal's connection page on arrival: the signed-in person confirms."""
    tenant, admin = world[0], world[1]
    connection_id = signing.loads(state, salt=OAUTH_SALT)["c"]
    return api.post(
        f"/api/v1/connections/{connection_id}/oauth/complete/", {"state": state}, **bearer(user or admin, tenant)
    )


def callback(api, code, state, world):
    arrived = arrive(api, code, state)
    return complete(api, world, state) if arrived.status_code == 200 else arrived


def test_the_full_flow_stores_tokens_encrypted_and_reads_work(api, world):
    tenant, admin, _hubspot, auth_server = world
    connection = connect(api, world)
    query = parse_qs(urlsplit(connection["authorization_url"]).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://localhost:8000/api/v1/oauth/callback/"]
    assert "crm.objects.contacts.read" in query["scope"][0].split(" ")

    code, state = auth_server.user_consents(connection["authorization_url"])
    done = callback(api, code, state, world)

    assert done.status_code == 200, done.content
    assert done.json()["status"] == "active"
    detail = api.get(f"/api/v1/connections/{connection['id']}/", **bearer(admin, tenant)).json()
    assert detail["authorised"] is True
    assert "access-1" not in json.dumps(detail) and "refresh-1" not in json.dumps(detail)
    with schema_context(tenant.schema_name):
        assert Connection.objects.get().credentials["refresh_token"] == "refresh-1"
        assert AuditEvent.objects.filter(action="connection.authorised").count() == 1
    read = api.get(f"/api/v1/connections/{connection['id']}/resources/contacts/", **bearer(admin, tenant))
    assert read.status_code == 200 and len(read.json()["records"]) == 25


def test_a_browser_callback_is_redirected_to_the_portal(api, world):
    connection = connect(api, world)
    code, state = world[3].user_consents(connection["authorization_url"])

    response = api.get("/api/v1/oauth/callback/", {"code": code, "state": state})

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"http://localhost:3000/dashboard/connectors/{connection['id']}"
    )
    assert parse_qs(location.query) == {"authorise": [state]}
    assert world[3].requests == []  # the code waits for the person who started


def test_a_state_started_by_one_person_is_refused_to_another_and_changes_nothing(api, world):
    tenant, _admin, _hubspot, auth_server = world
    connection = connect(api, world)
    code, state = auth_server.user_consents(connection["authorization_url"])
    other_admin = make_member(tenant, "admin")
    assert arrive(api, code, state).status_code == 200

    by_another = complete(api, world, state, user=other_admin)
    unbound = api.post(f"/api/v1/connections/{connection['id']}/oauth/complete/", {"state": state})

    assert by_another.status_code == 400
    assert by_another.json() == {"state": ["This authorisation was started by someone else."]}
    assert unbound.status_code == 401
    assert auth_server.requests == []
    with schema_context(tenant.schema_name):
        assert Connection.objects.get().credentials.get("access_token") is None
        assert OAuthState.objects.get().used_at is None
        assert AuditEvent.objects.filter(action="connection.authorised").count() == 0
    # the person who started still finishes
    assert complete(api, world, state).status_code == 200
    assert auth_server.requests != []


def test_the_arrival_alone_authorises_nothing(api, world):
    tenant = world[0]
    connection = connect(api, world)
    code, state = world[3].user_consents(connection["authorization_url"])

    arrived = arrive(api, code, state)

    assert arrived.status_code == 200
    assert arrived.json()["status"] != "active"
    with schema_context(tenant.schema_name):
        assert Connection.objects.get().credentials.get("access_token") is None
    assert world[3].requests == []


def test_a_state_for_another_connection_is_refused_on_completion(api, world):
    tenant, admin = world[0], world[1]
    connection = connect(api, world)
    code, state = world[3].user_consents(connection["authorization_url"])
    arrive(api, code, state)
    other = connect(api, world)

    response = api.post(f"/api/v1/connections/{other['id']}/oauth/complete/", {"state": state}, **bearer(admin, tenant))

    assert response.status_code == 400
    assert response.json() == {"state": ["Invalid authorisation state."]}


def test_a_state_cannot_be_used_twice(api, world):
    connection = connect(api, world)
    code, state = world[3].user_consents(connection["authorization_url"])
    assert callback(api, code, state, world).status_code == 200

    again = callback(api, "another-code", state, world)

    assert again.status_code == 400
    assert again.json() == {"state": ["This authorisation was already completed."]}


def test_an_expired_state_is_rejected(api, world):
    tenant = world[0]
    connection = connect(api, world)
    code, state = world[3].user_consents(connection["authorization_url"])
    with schema_context(tenant.schema_name):
        OAuthState.objects.update(expires_at="2000-01-01T00:00:00Z")

    response = callback(api, code, state, world)

    assert response.status_code == 400
    assert "expired" in response.json()["state"][0]
    assert world[3].requests == []  # no code was exchanged


def test_a_forged_or_other_tenants_state_is_rejected(api, world):
    connection = connect(api, world)
    code, state = world[3].user_consents(connection["authorization_url"])
    make_tenant(slug="globex")
    payload = signing.loads(state, salt=OAUTH_SALT)

    tampered = callback(api, code, state[:-2] + ("AA" if not state.endswith("AA") else "BB"), world)
    other_tenant = callback(api, code, signing.dumps({**payload, "t": "globex"}, salt=OAUTH_SALT), world)

    assert tampered.status_code == 400 and tampered.json() == {"state": ["Invalid authorisation state."]}
    assert other_tenant.status_code == 400 and other_tenant.json() == {"state": ["Invalid authorisation state."]}
    assert world[3].requests == []


def test_tokens_are_refreshed_ahead_of_expiry(api, world):
    tenant, admin, _hubspot, auth_server = world
    connection = connect(api, world)
    callback(api, *auth_server.user_consents(connection["authorization_url"]), world)
    with schema_context(tenant.schema_name):
        row = Connection.objects.get()
        row.credentials = {**row.credentials, "expires_at": time.time() + 30}
        row.save()

    read = api.get(
        f"/api/v1/connections/{connection['id']}/resources/contacts/", {"fresh": "1"}, **bearer(admin, tenant)
    )

    assert read.status_code == 200
    assert [r["grant_type"] for r in auth_server.requests] == ["authorization_code", "refresh_token"]
    with schema_context(tenant.schema_name):
        assert Connection.objects.get().credentials["access_token"] == "access-2"


def test_a_401_refreshes_once_and_retries(api, world):
    tenant, admin, hubspot, auth_server = world
    connection = connect(api, world)
    callback(api, *auth_server.user_consents(connection["authorization_url"]), world)
    hubspot.tokens = set()  # the provider revoked the access token early

    read = api.get(
        f"/api/v1/connections/{connection['id']}/resources/contacts/", {"fresh": "1"}, **bearer(admin, tenant)
    )

    assert read.status_code == 200
    assert [r["grant_type"] for r in auth_server.requests] == ["authorization_code", "refresh_token"]


def test_a_failed_refresh_marks_the_connection_needs_reauth(api, world):
    tenant, admin, hubspot, auth_server = world
    connection = connect(api, world)
    callback(api, *auth_server.user_consents(connection["authorization_url"]), world)
    hubspot.tokens, auth_server.refresh_ok = set(), False

    read = api.get(
        f"/api/v1/connections/{connection['id']}/resources/contacts/", {"fresh": "1"}, **bearer(admin, tenant)
    )

    assert read.status_code == 400
    assert read.json()["code"] == "needs_reauth"
    detail = api.get(f"/api/v1/connections/{connection['id']}/", **bearer(admin, tenant)).json()
    assert detail["status"] == "needs_reauth"
    with schema_context(tenant.schema_name):
        assert AuditEvent.objects.filter(action="connection.needs_reauth").count() == 1


def test_only_admins_start_oauth_and_the_state_names_the_user(api, world):
    tenant, admin, _hubspot, _auth = world
    connection = connect(api, world)
    member = make_member(tenant, "member")

    refused = api.post(f"/api/v1/connections/{connection['id']}/oauth/start/", **bearer(member, tenant))

    assert refused.status_code == 403
    with schema_context(tenant.schema_name):
        assert list(OAuthState.objects.values_list("user_id", flat=True)) == [admin.pk]
