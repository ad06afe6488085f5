"""Provider calls inside gateway requests are fenced off: a total deadline, and a bounded number in flight per
tenant and per gateway process, so slow providers cannot take the threads that webhooks and health need."""

from __future__ import annotations

import time

import pytest
from django_tenants.utils import schema_context

from apps.connectors.api.slow_calls import _PROCESS
from apps.connectors.models import Connection, ConnectionCheck
from bizosaas import leases, refusals
from tests.connectors.providers.test_wordpress import APP_PASSWORD, USER
from tests.factories import bearer, make_member, make_tenant
from tests.slow_drip import SlowDripServer
from tests.wsgi import wsgi_call

pytestmark = pytest.mark.django_db


def workspace(slug: str, site_url: str):
    tenant = make_tenant(slug=slug)
    member = make_member(tenant, "member", email=f"member@{slug}.test")
    with schema_context(tenant.schema_name):
        connection = Connection.objects.create(
            provider="wordpress",
            name="Blog",
            config={"site_url": site_url, "username": USER},
            credentials={"application_password": APP_PASSWORD},
            status=Connection.Status.ACTIVE,
        )
    return tenant, member, connection


def checks(tenant) -> int:
    with schema_context(tenant.schema_name):
        return ConnectionCheck.objects.count()


def test_a_connection_test_against_a_site_that_drips_its_answer_ends_at_the_gateway_deadline(api, settings):
    settings.GATEWAY_PROVIDER_DEADLINE = 1.0
    with SlowDripServer(interval=0.2) as site:
        tenant, member, connection = workspace("drip", site.url())
        started = time.monotonic()
        response = api.post(f"/api/v1/connections/{connection.pk}/test/", **bearer(member, tenant))
        elapsed = time.monotonic() - started

    assert elapsed < 2.0
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert body["error"] == "WordPress did not answer completely within 1 s; try again later."


def test_a_tenant_with_its_share_of_provider_calls_in_flight_is_told_to_retry_and_others_are_not(api, httpserver):
    from tests.connectors.providers.test_wordpress import FakeWordPress

    site = FakeWordPress(httpserver, posts=1)
    a, a_member, a_connection = workspace("tenant-a", site.site_url)
    b, b_member, b_connection = workspace("tenant-b", site.site_url)
    held = [leases.try_acquire(f"gateway-calls:tenant:{a.schema_name}", limit=2, lease=30) for _ in range(2)]
    assert all(held)

    refused = api.post(f"/api/v1/connections/{a_connection.pk}/test/", **bearer(a_member, a))
    answered = api.post(f"/api/v1/connections/{b_connection.pk}/test/", **bearer(b_member, b))

    assert refused.status_code == 429
    assert refused["Retry-After"] == "2"
    assert refused.json() == {
        "detail": "This workspace has 2 provider calls in flight already; try again in a few seconds.",
        "code": "provider_calls_busy",
        "retry_after": 2,
    }
    assert checks(a) == 0  # nothing was tried or recorded
    assert answered.status_code == 200 and answered.json()["ok"] is True
    for token in held:
        leases.release(f"gateway-calls:tenant:{a.schema_name}", token)
    assert api.post(f"/api/v1/connections/{a_connection.pk}/test/", **bearer(a_member, a)).status_code == 200


def test_a_gateway_process_with_its_share_in_provider_calls_refuses_more_and_still_answers_the_rest(
    api, httpserver, settings, public_client
):
    from tests.connectors.providers.test_wordpress import FakeWordPress

    settings.GATEWAY_PROVIDER_CALLS_PER_PROCESS = 3
    site = FakeWordPress(httpserver, posts=1)
    tenant, member, connection = workspace("busy", site.site_url)
    name = f"gateway-calls:process:{_PROCESS}"
    held = [leases.try_acquire(name, limit=3, lease=30) for _ in range(3)]

    preview = api.get(f"/api/v1/connections/{connection.pk}/resources/posts/", **bearer(member, tenant))
    listed = api.get("/api/v1/connections/", **bearer(member, tenant))

    assert preview.status_code == 429
    assert preview.json()["detail"] == "The gateway has 3 provider calls in flight already; try again in a few seconds."
    assert listed.status_code == 200  # calls that do not reach a provider are not held back
    assert public_client.get("/healthz").status_code == 200
    for token in held:
        leases.release(name, token)


def test_a_busy_provider_call_is_repeated_to_that_request_only_for_its_retry_after(api, settings):
    tenant, member, connection = workspace("busy-held", "https://blog.example.com")
    held = [leases.try_acquire(f"gateway-calls:tenant:{tenant.schema_name}", limit=2, lease=30) for _ in range(2)]
    who = bearer(member, tenant)
    path = f"/api/v1/connections/{connection.pk}/test/"
    try:
        refused = api.post(path, **who)
        assert refused.status_code == 429
        for token in held:  # the calls in flight have ended, but the caller was told to wait 2 s
            leases.release(f"gateway-calls:tenant:{tenant.schema_name}", token)
        again = wsgi_call("POST", path, HTTP_AUTHORIZATION=who["HTTP_AUTHORIZATION"])
        other = wsgi_call("GET", "/api/v1/tenant/", HTTP_AUTHORIZATION=who["HTTP_AUTHORIZATION"])
    finally:
        refusals.forget_all()
    assert (again[0], again[1]["Retry-After"], again[2]) == ("429 Too Many Requests", "2", refused.json())
    assert other[0] == "200 OK"  # the same caller's other requests are not held
