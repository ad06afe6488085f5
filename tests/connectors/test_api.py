"""Connections through the API, against the WordPress loopback fake: configure, test, read through, act,
cache, secrets, RBAC, isolation, SSRF."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django_tenants.utils import schema_context

from apps.accounts.audit.models import AuditEvent
from apps.connectors.models import Connection
from tests.connectors.providers.test_wordpress import APP_PASSWORD, USER, FakeWordPress
from tests.factories import bearer, make_member, make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    tenant = make_tenant(slug="acme")
    people = {
        role: make_member(tenant, role, email=f"{role}@acme.test") for role in ("owner", "admin", "member", "viewer")
    }
    return tenant, people


@pytest.fixture
def wordpress(httpserver):
    return FakeWordPress(httpserver, posts=30)


def create(api, tenant, user, fake, password=APP_PASSWORD, **extra):
    body = {
        "provider": "wordpress",
        "name": "Company blog",
        "config": {"site_url": fake.site_url, "username": USER, "application_password": password, **extra},
    }
    return api.post("/api/v1/connections/", body, **bearer(user, tenant))


def test_the_catalogue_describes_every_connector(api, acme):
    tenant, people = acme

    response = api.get("/api/v1/connectors/", **bearer(people["viewer"], tenant))

    assert response.status_code == 200
    wordpress = next(c for c in response.json() if c["key"] == "wordpress")
    assert wordpress["category"] == "cms"
    assert wordpress["auth_type"] == "app_password"
    assert {f["name"]: f["secret"] for f in wordpress["config_schema"]}["application_password"] is True
    assert [r["name"] for r in wordpress["resources"]] == ["posts", "pages"]
    assert wordpress["connected_count"] == 0
    assert api.get("/api/v1/connectors/nope/", **bearer(people["viewer"], tenant)).status_code == 404


def test_secrets_are_masked_in_responses_and_unreadable_in_the_row(api, acme, wordpress):
    tenant, people = acme

    response = create(api, tenant, people["admin"], wordpress)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secrets"] == {"application_password": "********", "webhook_secret": None}
    assert APP_PASSWORD not in response.content.decode()
    assert body["config"] == {"site_url": wordpress.site_url, "username": USER}
    with schema_context(tenant.schema_name), db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connectors_connection")
        stored = cursor.fetchone()[0]
    assert APP_PASSWORD not in stored and "abcd" not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    listed = api.get("/api/v1/connections/", **bearer(people["viewer"], tenant))
    assert APP_PASSWORD not in listed.content.decode()
    with schema_context(tenant.schema_name):
        assert APP_PASSWORD not in str(list(AuditEvent.objects.values("changes")))


def test_bad_config_is_field_level_and_creates_nothing(api, acme, wordpress):
    tenant, people = acme
    body = {"provider": "wordpress", "name": "", "config": {"site_url": "not a url", "bogus": 1}}

    response = api.post("/api/v1/connections/", body, **bearer(people["admin"], tenant))
    unknown = api.post("/api/v1/connections/", {"provider": "myspace", "name": "x"}, **bearer(people["admin"], tenant))

    assert response.status_code == 400
    assert set(response.json()) == {
        "name",
        "config.site_url",
        "config.bogus",
        "config.username",
        "config.application_password",
    }
    assert unknown.status_code == 400 and "provider" in unknown.json()
    with schema_context(tenant.schema_name):
        assert Connection.objects.count() == 0


def test_test_connection_records_health_and_status(api, acme, wordpress):
    tenant, people = acme
    good = create(api, tenant, people["admin"], wordpress).json()
    bad = create(api, tenant, people["admin"], wordpress, password="wrong").json()
    auth = bearer(people["member"], tenant)

    ok = api.post(f"/api/v1/connections/{good['id']}/test/", **auth)
    failed = api.post(f"/api/v1/connections/{bad['id']}/test/", **auth)

    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert failed.status_code == 200 and failed.json()["ok"] is False
    assert "not currently logged in" in failed.json()["error"]
    assert api.get(f"/api/v1/connections/{good['id']}/", **auth).json()["status"] == "active"
    assert api.get(f"/api/v1/connections/{bad['id']}/", **auth).json()["status"] == "error"
    health = api.get(f"/api/v1/connections/{bad['id']}/health/", **auth).json()
    assert [c["ok"] for c in health["results"]] == [False]


def test_reads_are_live_paginated_and_cached_until_a_write(api, acme, wordpress):
    tenant, people = acme
    conn = create(api, tenant, people["admin"], wordpress).json()
    auth = bearer(people["viewer"], tenant)
    url = f"/api/v1/connections/{conn['id']}/resources/posts/"

    first = api.get(url, {"limit": 20}, **auth).json()
    second = api.get(url, {"limit": 20, "cursor": first["next_cursor"]}, **auth).json()
    hits_before = len(wordpress.server.log)
    again = api.get(url, {"limit": 20}, **auth).json()
    fresh = api.get(url, {"limit": 20, "fresh": "1"}, **auth).json()

    assert first["model"] == "cms.post" and first["cached"] is False
    assert len(first["records"]) == 20 and first["records"][0]["data"]["title"] == "Post 1"
    assert first["records"][0]["raw"]["id"] == 1
    assert [r["id"] for r in second["records"]] == [str(n) for n in range(21, 31)]
    assert second["next_cursor"] is None
    assert again["cached"] is True and again["records"] == first["records"]
    assert fresh["cached"] is False
    assert len(wordpress.server.log) == hits_before + 1  # only the fresh read reached the site

    acted = api.post(
        f"/api/v1/connections/{conn['id']}/actions/create_draft_post/",
        {"input": {"title": "New", "content": "Body"}},
        **bearer(people["member"], tenant),
    )
    assert acted.status_code == 200, acted.content
    assert acted.json()["result"]["status"] == "draft"
    assert api.get(url, {"limit": 20}, **auth).json()["cached"] is False  # the write invalidated


def test_action_input_is_validated_field_by_field(api, acme, wordpress):
    tenant, people = acme
    conn = create(api, tenant, people["admin"], wordpress).json()
    auth = bearer(people["member"], tenant)

    missing = api.post(f"/api/v1/connections/{conn['id']}/actions/create_draft_post/", {"input": {"title": ""}}, **auth)
    unknown = api.post(f"/api/v1/connections/{conn['id']}/actions/delete_everything/", {"input": {}}, **auth)

    assert missing.status_code == 400
    assert missing.json() == {"input.title": ["This field is required."], "input.content": ["This field is required."]}
    assert unknown.status_code == 400 and "action" in unknown.json()
    assert wordpress.created == []


def test_provider_errors_become_clear_api_errors(api, acme, wordpress, httpserver):
    tenant, people = acme
    bad = create(api, tenant, people["admin"], wordpress, password="wrong").json()
    auth = bearer(people["viewer"], tenant)

    response = api.get(f"/api/v1/connections/{bad['id']}/resources/posts/", **auth)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_credentials"
    assert "not currently logged in" in response.json()["detail"]


def test_a_private_or_link_local_site_url_is_refused(api, acme):
    tenant, people = acme
    for url in ("http://10.20.30.40", "http://169.254.169.254", "http://192.168.1.10:8080"):
        body = {
            "provider": "wordpress",
            "name": "internal",
            "config": {"site_url": url, "username": "u", "application_password": "p"},
        }
        created = api.post("/api/v1/connections/", body, **bearer(people["admin"], tenant)).json()

        response = api.post(f"/api/v1/connections/{created['id']}/test/", **bearer(people["admin"], tenant))

        assert response.status_code == 200
        assert response.json()["ok"] is False
        assert "non-public address" in response.json()["error"]


@pytest.mark.parametrize(
    ("role", "create_status", "test_status", "read_status", "delete_status"),
    [
        ("viewer", 403, 403, 200, 403),
        ("member", 403, 200, 200, 403),
        ("admin", 201, 200, 200, 204),
        ("owner", 201, 200, 200, 204),
    ],
)
def test_roles(api, acme, wordpress, role, create_status, test_status, read_status, delete_status):
    tenant, people = acme
    existing = create(api, tenant, people["owner"], wordpress).json()
    auth = bearer(people[role], tenant)

    assert create(api, tenant, people[role], wordpress).status_code == create_status
    assert api.post(f"/api/v1/connections/{existing['id']}/test/", **auth).status_code == test_status
    assert api.get(f"/api/v1/connections/{existing['id']}/resources/posts/", **auth).status_code == read_status
    assert api.delete(f"/api/v1/connections/{existing['id']}/", **auth).status_code == delete_status


def test_another_tenant_cannot_see_test_read_or_act_through_a_connection(api, acme, wordpress):
    tenant, people = acme
    conn = create(api, tenant, people["owner"], wordpress).json()
    other = make_tenant(slug="globex")
    intruder = bearer(make_member(other, "owner"), other)
    base = f"/api/v1/connections/{conn['id']}"

    assert api.get("/api/v1/connections/", **intruder).json()["count"] == 0
    assert api.get(f"{base}/", **intruder).status_code == 404
    assert api.post(f"{base}/test/", **intruder).status_code == 404
    assert api.get(f"{base}/resources/posts/", **intruder).status_code == 404
    assert (
        api.post(
            f"{base}/actions/create_draft_post/", {"input": {"title": "x", "content": "y"}}, **intruder
        ).status_code
        == 404
    )
    assert api.patch(f"{base}/", {"name": "mine"}, **intruder).status_code == 404
    assert wordpress.created == []
    assert len(wordpress.server.log) == 0


def test_updating_config_keeps_omitted_secrets(api, acme, wordpress):
    tenant, people = acme
    conn = create(api, tenant, people["admin"], wordpress).json()
    auth = bearer(people["admin"], tenant)

    renamed = api.patch(f"/api/v1/connections/{conn['id']}/", {"name": "Blog", "config": {"username": USER}}, **auth)
    tested = api.post(f"/api/v1/connections/{conn['id']}/test/", **auth)

    assert renamed.status_code == 200 and renamed.json()["name"] == "Blog"
    assert tested.json()["ok"] is True


def test_reads_still_work_when_redis_is_down(api, acme, wordpress, settings):
    tenant, people = acme
    conn = create(api, tenant, people["admin"], wordpress).json()
    dead = {**settings.CACHES["default"], "LOCATION": "unix:///nonexistent/redis.sock"}
    settings.CACHES = {"default": dead}
    auth = bearer(people["viewer"], tenant)

    first = api.get(f"/api/v1/connections/{conn['id']}/resources/posts/", **auth)
    second = api.get(f"/api/v1/connections/{conn['id']}/resources/posts/", **auth)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["cached"], second.json()["cached"]) == (False, False)


def test_a_provider_that_is_down_is_a_502_with_retry_advice(api, acme, httpserver):
    tenant, people = acme
    httpserver.expect_request("/wp-json/wp/v2/posts").respond_with_data("maintenance", status=503)
    body = {
        "provider": "wordpress",
        "name": "down",
        "config": {
            "site_url": httpserver.url_for("/").rstrip("/"),
            "username": USER,
            "application_password": APP_PASSWORD,
        },
    }
    conn = api.post("/api/v1/connections/", body, **bearer(people["admin"], tenant)).json()

    response = api.get(f"/api/v1/connections/{conn['id']}/resources/posts/", **bearer(people["viewer"], tenant))

    assert response.status_code == 502
    assert response.json()["code"] == "provider_unavailable"
    assert "try again later" in response.json()["detail"]


def test_a_stored_secret_is_never_sent_to_a_new_site(api, acme, wordpress):
    """Re-pointing a connection needs its secrets again: otherwise whoever may edit it could move the site URL to
    a host of their own and receive the stored application password with the next test."""
    from pytest_httpserver import HTTPServer

    tenant, people = acme
    conn = create(api, tenant, people["admin"], wordpress).json()
    auth = bearer(people["admin"], tenant)
    elsewhere = HTTPServer(host="127.0.0.1", port=0)
    elsewhere.expect_request("/wp-json/wp/v2/users/me").respond_with_json({"id": 1})
    elsewhere.start()
    try:
        other_site = f"http://127.0.0.1:{elsewhere.port}"
        refused = api.patch(f"/api/v1/connections/{conn['id']}/", {"config": {"site_url": other_site}}, **auth)
        assert refused.status_code == 400
        assert set(refused.json()) == {"config.application_password"}
        assert "Enter it again" in refused.json()["config.application_password"][0]
        with schema_context(tenant.schema_name):
            stored = Connection.objects.get(pk=conn["id"])
        assert stored.config["site_url"] == wordpress.site_url and stored.credentials["application_password"]

        api.post(f"/api/v1/connections/{conn['id']}/test/", **auth)
        assert elsewhere.log == []  # the password never went there

        moved = api.patch(
            f"/api/v1/connections/{conn['id']}/",
            {"config": {"site_url": other_site, "application_password": "a new one for the new site"}},
            **auth,
        )
        assert moved.status_code == 200, moved.content
        api.post(f"/api/v1/connections/{conn['id']}/test/", **auth)
        [(request, _response)] = elsewhere.log
        assert request.authorization.password == "a new one for the new site"
    finally:
        elsewhere.clear()
        elsewhere.stop()


def test_a_new_address_drops_oauth_tokens_but_not_webhook_secrets(api, acme):
    tenant, people = acme
    with schema_context(tenant.schema_name):
        conn = Connection.objects.create(
            provider="zendesk",
            name="Desk",
            config={"subdomain": "acme", "client_id": "cid"},
            credentials={"client_secret": "cs", "webhook_secret": "ws", "access_token": "at", "refresh_token": "rt"},
            status=Connection.Status.ACTIVE,
        )
    auth = bearer(people["admin"], tenant)

    refused = api.patch(f"/api/v1/connections/{conn.pk}/", {"config": {"subdomain": "evil"}}, **auth)
    assert refused.status_code == 400 and set(refused.json()) == {"config.client_secret"}  # not the webhook one

    moved = api.patch(
        f"/api/v1/connections/{conn.pk}/", {"config": {"subdomain": "globex", "client_secret": "cs2"}}, **auth
    )
    assert moved.status_code == 200, moved.content
    with schema_context(tenant.schema_name):
        conn.refresh_from_db()
    assert conn.credentials == {"client_secret": "cs2", "webhook_secret": "ws"}  # tokens of acme's address gone
    assert conn.status == Connection.Status.PENDING

    same = api.patch(f"/api/v1/connections/{conn.pk}/", {"config": {"subdomain": "GLOBEX.zendesk.com"}}, **auth)
    assert same.status_code == 200  # the same address, spelled otherwise, is not a move
