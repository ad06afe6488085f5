"""OAuth 2.1 for MCP clients against the real gateway: discovery, registration, consent with PKCE, tokens,
rotation with reuse detection, revocation, and every way access ends."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.accounts.audit.models import AuditEvent
from apps.accounts.models import Membership, Tenant
from apps.oauth.models import OAuthAuthorizationCode, OAuthClient, OAuthGrant, OAuthToken, token_hash
from apps.oauth.principal import oauth_token_lookup
from tests.factories import bearer, make_member
from tests.oauth.conftest import REDIRECT, pkce, register

pytestmark = pytest.mark.django_db


def _live(access_token: str) -> OAuthToken | None:
    return oauth_token_lookup(access_token)


# --- discovery -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"])
def test_the_protected_resource_metadata_names_the_mcp_resource_and_its_authorization_server(path, settings):
    settings.GATEWAY_URL = "https://gw.example.com"
    response = Client(HTTP_HOST="localhost").get(path)
    assert response.status_code == 200
    assert response.json() == {
        "resource": "https://gw.example.com/mcp/",
        "authorization_servers": ["https://gw.example.com"],
        "scopes_supported": ["mcp"],
        "bearer_methods_supported": ["header"],
        "resource_name": "BizOSaaS MCP server",
    }


def test_the_authorization_server_metadata_offers_code_with_s256_only_and_the_four_endpoints(settings):
    settings.GATEWAY_URL = "https://gw.example.com"
    body = Client(HTTP_HOST="localhost").get("/.well-known/oauth-authorization-server").json()
    assert body["issuer"] == "https://gw.example.com"
    assert body["authorization_endpoint"] == "https://gw.example.com/oauth/authorize"
    assert body["token_endpoint"] == "https://gw.example.com/oauth/token"
    assert body["registration_endpoint"] == "https://gw.example.com/oauth/register"
    assert body["revocation_endpoint"] == "https://gw.example.com/oauth/revoke"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert body["response_types_supported"] == ["code"]
    assert body["token_endpoint_auth_methods_supported"] == ["none", "client_secret_post", "client_secret_basic"]
    assert body["scopes_supported"] == ["mcp"]


# --- registration ----------------------------------------------------------------------------------------------


def test_a_public_client_registers_without_a_secret_and_is_stored_as_sent(db):
    response = register(Client(HTTP_HOST="localhost"))
    assert response.status_code == 201
    body = response.json()
    assert "client_secret" not in body
    assert body["redirect_uris"] == [REDIRECT]
    assert body["token_endpoint_auth_method"] == "none"
    client = OAuthClient.objects.get(client_id=body["client_id"])
    assert (client.client_name, client.client_secret_hash, client.scope) == ("Desktop MCP client", "", "mcp")


def test_a_confidential_client_gets_its_secret_once_and_only_its_hash_is_kept(db):
    response = register(Client(HTTP_HOST="localhost"), token_endpoint_auth_method="client_secret_post")
    assert response.status_code == 201
    secret = response.json()["client_secret"]
    client = OAuthClient.objects.get(client_id=response.json()["client_id"])
    assert client.client_secret_hash == token_hash(secret) and secret not in client.client_secret_hash


@pytest.mark.parametrize(
    "uris",
    [
        ["http://evil.example.com/cb"],  # plain http off this machine
        ["javascript:alert(1)"],
        ["https://app.example.com/cb#frag"],
        ["myapp://callback"],
        [],
        "https://app.example.com/cb",  # not a list
    ],
)
def test_a_redirect_uri_that_is_neither_https_nor_loopback_is_refused_with_invalid_redirect_uri(uris, db):
    response = register(Client(HTTP_HOST="localhost"), redirect_uris=uris)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"
    assert OAuthClient.objects.count() == 0


@pytest.mark.parametrize(
    "metadata",
    [
        {"grant_types": ["client_credentials"]},
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"scope": "admin"},
        {"client_name": 5},
    ],
)
def test_metadata_the_server_does_not_support_is_refused_with_invalid_client_metadata(metadata, db):
    response = register(Client(HTTP_HOST="localhost"), **metadata)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert OAuthClient.objects.count() == 0


def test_a_body_that_is_not_a_json_object_is_a_400_not_a_500(db):
    app = Client(HTTP_HOST="localhost")
    for body in ("not json", "[1, 2]", "{}"):
        response = app.post("/oauth/register", body, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client_metadata"


def test_registration_is_throttled_per_address(db, monkeypatch):
    from apps.accounts.throttles import OAuthRegisterThrottle

    monkeypatch.setattr(OAuthRegisterThrottle, "THROTTLE_RATES", {"oauth_register": "2/hour"})
    app = Client(HTTP_HOST="localhost")
    responses = [register(app) for _ in range(3)]
    assert [r.status_code for r in responses] == [201, 201, 429]
    assert responses[2].json()["error"] == "slow_down" and int(responses[2]["Retry-After"]) > 0
    other = Client(HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.9")
    assert register(other).status_code == 201
    assert OAuthClient.objects.count() == 3


# --- authorization ---------------------------------------------------------------------------------------------


def test_an_unsigned_visitor_is_sent_to_sign_in_and_comes_back_to_the_consent_page(flow, member):
    _verifier, challenge = pkce()
    browser = Client(HTTP_HOST="localhost")
    response = browser.get("/oauth/authorize", flow.authorize_params(challenge))
    assert response.status_code == 302
    login_url = response["Location"]
    assert login_url.startswith("/oauth/login/?next=")
    next_url = parse_qs(urlsplit(login_url).query)["next"][0]
    page = browser.get(login_url)
    assert page.status_code == 200 and b"Desktop MCP client" in page.content
    credentials = {"username": member.email, "password": "correct-horse-battery-9", "next": next_url}
    signed_in = browser.post(login_url, credentials)
    assert signed_in.status_code == 302 and signed_in["Location"] == next_url
    consent = browser.get(next_url)
    assert consent.status_code == 200
    html = consent.content.decode()
    assert "Desktop MCP client" in html and 'value="acme"' in html and 'value="globex"' in html


def test_the_consent_page_lists_only_the_workspaces_whose_role_may_connect(flow, member):
    viewer_of = Tenant.objects.get(slug="acme")
    Membership.objects.filter(user=member, tenant=viewer_of).update(role="viewer")
    _verifier, challenge = pkce()
    html = flow.browser.get("/oauth/authorize", flow.authorize_params(challenge)).content.decode()
    assert 'value="globex"' in html and 'value="acme"' not in html
    response = flow.consent(challenge, "acme")
    assert response.status_code == 400
    assert OAuthAuthorizationCode.objects.count() == 0


def test_the_whole_flow_as_a_public_client_with_pkce_gives_a_token_for_the_chosen_tenant(flow, member, acme):
    tokens = flow.tokens("acme")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "mcp"
    assert tokens["access_token"].startswith("bzo_at_") and tokens["refresh_token"].startswith("bzo_rt_")
    token = _live(tokens["access_token"])
    assert token is not None and token.tenant == acme and token.user == member
    assert token.resource == "http://localhost:8000/mcp/"
    stored = OAuthToken.objects.get()
    assert tokens["access_token"] not in (stored.access_token_hash, stored.refresh_token_hash)
    with schema_context(acme.schema_name):
        actions = list(AuditEvent.objects.order_by("id").values_list("action", "actor_type"))
    assert actions == [("oauth.consent", "user"), ("oauth.token_issued", "oauth_client")]


def test_a_consent_posted_from_another_site_without_the_csrf_token_is_refused(flow, member):
    browser = Client(HTTP_HOST="localhost", enforce_csrf_checks=True)
    browser.force_login(member)
    _verifier, challenge = pkce()
    response = browser.post(
        "/oauth/authorize", {**flow.authorize_params(challenge), "tenant": "acme", "decision": "Allow"}
    )
    assert response.status_code == 403
    assert OAuthAuthorizationCode.objects.count() == 0 and OAuthGrant.objects.count() == 0


def test_a_denial_goes_back_to_the_client_as_access_denied_with_its_state(flow):
    _verifier, challenge = pkce()
    response = flow.browser.post(
        "/oauth/authorize", {**flow.authorize_params(challenge), "tenant": "acme", "decision": "deny"}
    )
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert response["Location"].startswith(REDIRECT)
    assert query["error"] == ["access_denied"] and query["state"] == ["st-123"]
    assert OAuthGrant.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),  # PKCE is required
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"resource": "https://other.example.com/mcp/"}, "invalid_target"),
        ({"resource": None}, "invalid_target"),
    ],
)
def test_an_authorization_request_without_s256_or_for_another_resource_is_redirected_with_the_error(
    flow, overrides, error
):
    _verifier, challenge = pkce()
    response = flow.browser.get("/oauth/authorize", flow.authorize_params(challenge, **overrides))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == [error] and query["state"] == ["st-123"]


def test_an_unknown_client_or_unregistered_redirect_uri_is_shown_an_error_page_and_never_redirected(flow):
    _verifier, challenge = pkce()
    for overrides in ({"client_id": "nope"}, {"redirect_uri": "https://evil.example.com/cb"}):
        response = flow.browser.get("/oauth/authorize", flow.authorize_params(challenge, **overrides))
        assert response.status_code == 400
        assert not response.has_header("Location")


# --- the token endpoint ----------------------------------------------------------------------------------------


def test_a_confidential_client_must_present_its_secret_at_the_token_endpoint(flow):
    registered = register(flow.app, token_endpoint_auth_method="client_secret_post").json()
    flow.client_id = registered["client_id"]
    code, verifier = flow.code("acme")
    unauthenticated = flow.exchange(code, verifier)
    assert unauthenticated.status_code in (400, 401) and unauthenticated.json()["error"] == "invalid_client"
    wrong = flow.exchange(code, verifier, client_secret="not-the-secret")
    assert wrong.status_code in (400, 401) and wrong.json()["error"] == "invalid_client"
    assert OAuthToken.objects.count() == 0
    ok = flow.exchange(code, verifier, client_secret=registered["client_secret"])
    assert ok.status_code == 200 and _live(ok.json()["access_token"]) is not None


def test_a_wrong_verifier_is_refused_and_issues_nothing(flow):
    code, _verifier = flow.code("acme")
    wrong, _ = pkce()
    response = flow.exchange(code, wrong)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    missing = flow.exchange(code, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert OAuthToken.objects.count() == 0


def test_a_token_request_for_another_resource_is_refused(flow):
    code, verifier = flow.code("acme")
    response = flow.exchange(code, verifier, resource="https://other.example.com/mcp/")
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"
    assert OAuthToken.objects.count() == 0


def test_a_code_used_twice_is_refused_and_revokes_what_it_issued(flow, acme):
    code, verifier = flow.code("acme")
    first = flow.exchange(code, verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert _live(access) is not None
    again = flow.exchange(code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert _live(access) is None
    assert flow.refresh(first.json()["refresh_token"]).status_code == 400
    with schema_context(acme.schema_name):
        revoked = AuditEvent.objects.get(action="oauth.tokens_revoked")
    assert revoked.changes == {"reason": "authorization code reused", "revoked": 1}


def test_each_refresh_rotates_the_pair_and_a_reused_refresh_token_ends_the_whole_family(flow):
    first = flow.tokens("acme")
    second = flow.refresh(first["refresh_token"])
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert _live(first["access_token"]) is None  # the replaced pair ends
    assert _live(second["access_token"]) is not None
    third = flow.refresh(second["refresh_token"]).json()
    assert _live(third["access_token"]) is not None

    replay = flow.refresh(first["refresh_token"])  # an old refresh token comes back: stolen
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _live(third["access_token"]) is None
    assert flow.refresh(third["refresh_token"]).status_code == 400
    assert OAuthToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_a_refresh_by_another_client_is_refused(flow):
    tokens = flow.tokens("acme")
    other_id = register(Client(HTTP_HOST="localhost")).json()["client_id"]
    response = Client(HTTP_HOST="localhost").post(
        "/oauth/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": other_id}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert _live(tokens["access_token"]) is not None


def test_revoking_a_token_ends_the_pair_and_its_family(flow):
    tokens = flow.tokens("acme")
    response = flow.app.post("/oauth/revoke", {"token": tokens["refresh_token"], "client_id": flow.client_id})
    assert response.status_code == 200
    assert _live(tokens["access_token"]) is None
    assert flow.refresh(tokens["refresh_token"]).status_code == 400
    # RFC 7009 §2.2: an unknown token is answered 200 too, and changes nothing
    assert flow.app.post("/oauth/revoke", {"token": "bzo_at_unknown", "client_id": flow.client_id}).status_code == 200


# --- using the token -------------------------------------------------------------------------------------------


def test_a_token_for_tenant_a_names_only_tenant_a_and_opens_no_api_of_tenant_b(flow, acme, globex):
    tokens = flow.tokens("acme")
    token = _live(tokens["access_token"])
    assert token.tenant == acme
    # nor is it a credential for the REST API, on either tenant's domain
    for host in ("globex.localhost", "acme.localhost", "localhost"):
        response = Client(HTTP_HOST=host).get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
        assert response.status_code == 401, host


def test_removing_the_membership_makes_the_token_useless_at_once(flow, member, acme):
    tokens = flow.tokens("acme")
    assert _live(tokens["access_token"]) is not None
    Membership.objects.filter(user=member, tenant=acme).delete()
    assert _live(tokens["access_token"]) is None
    assert flow.refresh(tokens["refresh_token"]).status_code == 400


def test_suspending_the_tenant_or_the_account_ends_the_token_at_once(flow, member, acme):
    tokens = flow.tokens("acme")
    Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.SUSPENDED)
    assert _live(tokens["access_token"]) is None
    Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.ACTIVE)
    assert _live(tokens["access_token"]) is not None
    type(member).objects.filter(pk=member.pk).update(is_active=False)
    assert _live(tokens["access_token"]) is None


def test_an_expired_access_token_or_one_for_another_audience_is_refused(flow, settings):
    tokens = flow.tokens("acme")
    settings.GATEWAY_URL = "https://moved.example.com"  # the MCP resource is now another URL
    assert _live(tokens["access_token"]) is None
    settings.GATEWAY_URL = "http://localhost:8000"
    OAuthToken.objects.update(expires_at="2000-01-01T00:00:00Z")
    assert _live(tokens["access_token"]) is None


# --- the tenant's view: connected apps -------------------------------------------------------------------------


def test_members_see_their_own_grants_admins_see_all_and_revoking_ends_the_tokens(flow, member, acme, api):
    tokens = flow.tokens("acme")
    admin = make_member(acme, "admin")
    colleague = make_member(acme, "member")
    mine = api.get("/api/v1/oauth-grants/", **bearer(member, acme))
    assert mine.status_code == 200
    [row] = mine.json()["results"]
    assert row["client_name"] == "Desktop MCP client"
    assert row["user_email"] == member.email and row["scopes"] == ["mcp"]
    assert api.get("/api/v1/oauth-grants/", **bearer(colleague, acme)).json()["results"] == []
    assert api.delete(f"/api/v1/oauth-grants/{row['id']}/", **bearer(colleague, acme)).status_code == 404
    assert _live(tokens["access_token"]) is not None

    assert [r["id"] for r in api.get("/api/v1/oauth-grants/", **bearer(admin, acme)).json()["results"]] == [row["id"]]
    assert api.delete(f"/api/v1/oauth-grants/{row['id']}/", **bearer(admin, acme)).status_code == 204
    assert _live(tokens["access_token"]) is None
    assert flow.refresh(tokens["refresh_token"]).status_code == 400
    assert api.get("/api/v1/oauth-grants/", **bearer(member, acme)).json()["results"] == []
    with schema_context(acme.schema_name):
        event = AuditEvent.objects.get(action="oauth.grant_revoked")
    assert (event.actor_label, event.changes["revoked"]) == (admin.email, 1)


def test_another_tenants_grants_are_invisible(flow, member, globex, api):
    flow.tokens("acme")
    owner = make_member(globex, "owner")
    assert api.get("/api/v1/oauth-grants/", **bearer(owner, globex)).json()["results"] == []
    grant = OAuthGrant.objects.get()
    assert api.delete(f"/api/v1/oauth-grants/{grant.pk}/", **bearer(owner, globex)).status_code == 404
    assert OAuthGrant.objects.get().revoked_at is None


def test_a_disabled_client_can_no_longer_authorize_and_its_tokens_end(flow, admin_client):
    tokens = flow.tokens("acme")
    client = OAuthClient.objects.get()
    listing = admin_client.get("/admin/oauth/oauthclient/", HTTP_HOST="localhost")
    assert listing.status_code == 200 and b"Desktop MCP client" in listing.content
    response = admin_client.post(
        "/admin/oauth/oauthclient/",
        {"action": "disable_clients", "_selected_action": [client.pk]},
        HTTP_HOST="localhost",
    )
    assert response.status_code == 302
    assert _live(tokens["access_token"]) is None
    _verifier, challenge = pkce()
    assert flow.browser.get("/oauth/authorize", flow.authorize_params(challenge)).status_code == 400


def test_the_sign_in_page_opened_on_its_own_signs_in_and_says_where_to_go_next(member):
    browser = Client(HTTP_HOST="localhost")
    assert browser.get("/oauth/login/").status_code == 200
    wrong = browser.post("/oauth/login/", {"username": member.email, "password": "wrong-password-123"})
    assert wrong.status_code == 200 and b"Please enter the correct email address and password." in wrong.content
    response = browser.post("/oauth/login/", {"username": member.email, "password": "correct-horse-battery-9"})
    assert response.status_code == 302 and response["Location"] == "/oauth/signed-in/"
    assert b"You are signed in" in browser.get("/oauth/signed-in/").content


def test_sign_in_refuses_a_next_url_on_another_host(member):
    browser = Client(HTTP_HOST="localhost")
    response = browser.post(
        "/oauth/login/",
        {"username": member.email, "password": "correct-horse-battery-9", "next": "https://evil.example.com/"},
    )
    assert response.status_code == 302 and response["Location"] == "/oauth/signed-in/"
