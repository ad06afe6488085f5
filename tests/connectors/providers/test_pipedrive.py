"""Pipedrive against a loopback server that follows the API v2 contract (v1 for users/me)."""

import base64
import json
import time

import pytest
from django.core.exceptions import ValidationError
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ProviderUnavailableError,
)
from apps.connectors.registry import registry

API_TOKEN = "9f3c2a7e1b4d4e0f9a6c2d5e7f901234abcdef12"
ACCESS_TOKEN = "v1u:AQIBAHj-oauth-access-token"
UNAUTHORISED = {
    "success": False,
    "error": "unauthorized access",
    "errorCode": 401,
    "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
}
RATE_HEADERS = {"x-ratelimit-limit": "40", "x-ratelimit-remaining": "39"}


def person(n: int) -> dict:
    """A person as GET /api/v2/persons returns it."""
    return {
        "id": n,
        "name": f"First{n} Last{n}",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "owner_id": 7,
        "org_id": 300 + n if n % 2 else None,
        "add_time": f"2026-01-{n:02d}T09:00:00Z",
        "update_time": f"2026-02-{n:02d}T10:00:00Z",
        "emails": [
            {"value": f"home{n}@example.com", "primary": False, "label": "home"},
            {"value": f"person{n}@example.com", "primary": True, "label": "work"},
        ],
        "phones": [{"value": f"+372 5555 {n:04d}", "primary": True, "label": "mobile"}] if n % 3 else [],
        "is_deleted": False,
        "visible_to": 3,
        "label_ids": [5, 9] if n == 1 else [],
        "picture_id": None,
        "custom_fields": {},
    }


def deal(n: int) -> dict:
    return {
        "id": 900 + n,
        "title": f"Deal {n}",
        "owner_id": 7,
        "person_id": n,
        "org_id": None,
        "pipeline_id": 1,
        "stage_id": 2 + n % 3,
        "value": n * 1000.5,
        "currency": "EUR",
        "add_time": f"2026-03-{n:02d}T08:00:00Z",
        "update_time": f"2026-04-{n:02d}T08:00:00Z",
        "status": "open",
        "probability": None,
        "expected_close_date": f"2026-06-{n:02d}",
        "close_time": None,
        "is_deleted": False,
    }


def cursor_for(offset: int) -> str:
    return base64.b64encode(json.dumps({"id": offset}).encode()).decode()


class FakePipedrive:
    """API v2: x-api-token or Bearer auth; `cursor`/`limit` (max 500) with `additional_data.next_cursor`."""

    def __init__(self, httpserver, persons: int = 12, deals: int = 5):
        self.server = httpserver
        self.items = {
            "persons": [person(n) for n in range(1, persons + 1)],
            "deals": [deal(n) for n in range(1, deals + 1)],
        }
        self.created: list[dict] = []
        self.seen_params: list[dict] = []
        for resource in ("persons", "deals"):
            httpserver.expect_request(f"/api/v2/{resource}", method="GET").respond_with_handler(
                lambda request, resource=resource: self.list(request, resource)
            )
        httpserver.expect_request("/api/v2/persons", method="POST").respond_with_handler(self.create)
        httpserver.expect_request("/api/v1/users/me").respond_with_handler(self.me)

    @property
    def base(self) -> str:
        return self.server.url_for("/").rstrip("/")

    @staticmethod
    def _json(body, status=200):
        return Response(json.dumps(body), status=status, content_type="application/json", headers=RATE_HEADERS)

    def _unauthorised(self, request):
        if request.args.get("api_token"):
            return self._json(UNAUTHORISED, 401)  # the token must travel in the header, never in the query
        token_ok = request.headers.get("x-api-token") == API_TOKEN
        bearer_ok = request.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"
        return None if token_ok or bearer_ok else self._json(UNAUTHORISED, 401)

    def me(self, request):
        return self._unauthorised(request) or self._json(
            {"success": True, "data": {"id": 7, "name": "Owner", "company_domain": "acme"}}
        )

    def list(self, request, resource):
        denied = self._unauthorised(request)
        if denied:
            return denied
        self.seen_params.append(dict(request.args))
        limit = int(request.args.get("limit", 100))
        if not 1 <= limit <= 500:
            return self._json({"success": False, "error": "limit must be <= 500", "errorCode": 400}, 400)
        offset = 0
        if request.args.get("cursor"):
            offset = json.loads(base64.b64decode(request.args["cursor"]))["id"]
        items = self.items[resource]
        chunk = items[offset : offset + limit]
        following = offset + limit
        return self._json(
            {
                "success": True,
                "data": chunk,
                "additional_data": {"next_cursor": cursor_for(following) if following < len(items) else None},
            }
        )

    def create(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        self.created.append(body)
        created = {
            **person(500),
            "id": 500,
            "name": body["name"],
            "first_name": body["name"].split()[0],
            "last_name": body["name"].split()[-1],
            "emails": body.get("emails", []),
            "phones": body.get("phones", []),
            "org_id": body.get("org_id"),
            "label_ids": [],
        }
        return self._json({"success": True, "data": created}, 201)


@pytest.fixture
def pipedrive(httpserver):
    return FakePipedrive(httpserver)


def context(provider_context, base, credentials=None):
    return provider_context(
        "pipedrive",
        {"company_domain": "acme", "api_base_url": base},
        credentials if credentials is not None else {"api_token": API_TOKEN},
    )


def read_all(ctx, resource, limit):
    provider, cursor, records, pages = registry.get("pipedrive")(), None, [], 0
    while True:
        page = provider.read(ctx, resource, cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


def test_reads_every_person_across_cursor_pages_normalised_with_raw(provider_context, pipedrive):
    records, pages = read_all(context(provider_context, pipedrive.base), "persons", limit=5)

    assert pages == 3
    assert [r.id for r in records] == [str(n) for n in range(1, 13)]
    assert pipedrive.seen_params[0] == {"limit": "5"}
    assert pipedrive.seen_params[1] == {"limit": "5", "cursor": cursor_for(5)}
    assert records[0].data == {
        "id": "1",
        "email": "person1@example.com",
        "first_name": "First1",
        "last_name": "Last1",
        "phone": "+372 5555 0001",
        "company": None,
        "tags": ["5", "9"],
        "lead_score": None,
        "created_at": "2026-01-01T09:00:00Z",
        "updated_at": "2026-02-01T10:00:00Z",
    }
    assert records[2].data["phone"] is None
    assert records[0].raw == person(1)


def test_reads_deals_with_oauth_bearer_and_caps_limit_at_500(provider_context, pipedrive):
    ctx = context(provider_context, pipedrive.base, {"access_token": ACCESS_TOKEN})

    page = registry.get("pipedrive")().read(ctx, "deals", cursor=None, limit=10_000)

    assert pipedrive.seen_params == [{"limit": "500"}]
    assert page.next_cursor is None
    assert [r.id for r in page.records] == ["901", "902", "903", "904", "905"]
    assert page.records[0].data == {
        "id": "901",
        "name": "Deal 1",
        "stage": "3",
        "amount": 1000.5,
        "currency": "EUR",
        "close_date": "2026-06-01",
        "created_at": "2026-03-01T08:00:00Z",
        "updated_at": "2026-04-01T08:00:00Z",
    }
    assert page.records[0].raw["pipeline_id"] == 1


def test_api_token_is_sent_as_a_header_not_in_the_query(provider_context, pipedrive):
    registry.get("pipedrive")().check(context(provider_context, pipedrive.base))

    request = pipedrive.server.log[-1][0]
    assert request.headers["x-api-token"] == API_TOKEN
    assert "api_token" not in request.args
    assert "Authorization" not in request.headers


def test_check_with_a_bad_token_is_an_authentication_error_with_the_providers_message(provider_context, pipedrive):
    ctx = context(provider_context, pipedrive.base, {"api_token": "wrong-token"})

    with pytest.raises(AuthenticationError) as failure:
        registry.get("pipedrive")().check(ctx)

    assert failure.value.message == "Pipedrive rejected the credentials: unauthorized access"
    assert failure.value.provider_status == 401
    assert "wrong-token" not in failure.value.message


def test_create_person_sends_exactly_the_documented_v2_body(provider_context, pipedrive):
    result = registry.get("pipedrive")().perform(
        context(provider_context, pipedrive.base),
        "create_person",
        {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000", "org_id": 42},
    )

    assert pipedrive.created == [
        {
            "name": "Ada Lovelace",
            "emails": [{"value": "ada@example.com", "primary": True, "label": "work"}],
            "phones": [{"value": "+44 20 7946 0000", "primary": True, "label": "work"}],
            "org_id": 42,
        }
    ]
    assert result["id"] == "500"
    assert result["record"]["email"] == "ada@example.com"
    assert result["record"]["phone"] == "+44 20 7946 0000"
    assert (result["record"]["first_name"], result["record"]["last_name"]) == ("Ada", "Lovelace")


def test_create_person_with_only_a_name_sends_only_the_name(provider_context, pipedrive):
    action = registry.get("pipedrive").action("create_person")
    payload = action.clean({"name": "  Grace Hopper "})

    registry.get("pipedrive")().perform(context(provider_context, pipedrive.base), "create_person", payload)

    assert pipedrive.created == [{"name": "Grace Hopper"}]


def test_create_person_input_is_validated_field_by_field():
    action = registry.get("pipedrive").action("create_person")

    with pytest.raises(ValidationError) as failure:
        action.clean({"email": "not-an-email", "org_id": "abc", "colour": "red"})

    assert failure.value.message_dict == {
        "name": ["This field is required."],
        "email": ["Enter a valid email address."],
        "org_id": ["Must be an integer."],
        "colour": ["Unknown field."],
    }
    assert action.clean({"name": "A", "org_id": "7"}) == {"name": "A", "org_id": 7}


def test_config_requires_a_subdomain_and_refuses_foreign_api_hosts():
    provider = registry.get("pipedrive")

    with pytest.raises(ValidationError) as failure:
        provider.clean_config(
            {"company_domain": "acme.pipedrive.com", "api_base_url": "http://evil.example.com", "api_token": "t"}
        )

    assert set(failure.value.message_dict) == {"company_domain", "api_base_url"}
    config, secrets = provider.clean_config({"company_domain": "Acme", "api_token": "t"})
    assert (config, secrets) == ({"company_domain": "acme"}, {"api_token": "t"})
    assert provider().base_url(config) == "https://acme.pipedrive.com/api/"


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request("/api/v2/persons").respond_with_response(
        Response(
            json.dumps({"success": False, "error": "Request over limit", "errorCode": 429}),
            status=429,
            content_type="application/json",
            headers={"Retry-After": "1", "x-ratelimit-remaining": "0"},
        )
    )
    httpserver.expect_ordered_request("/api/v2/persons").respond_with_json(
        {"success": True, "data": [person(1)], "additional_data": {"next_cursor": None}}
    )
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    started = time.monotonic()
    page = registry.get("pipedrive")().read(ctx, "persons", cursor=None, limit=10)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["1"]
    assert len(httpserver.log) == 2


def test_429_for_a_spent_daily_allowance_is_not_retried():
    provider = registry.get("pipedrive")()

    class Spent:
        status_code = 429
        headers = {"x-daily-requests-left": "0"}
        text = '{"success": false, "error": "Request over limit"}'

    assert provider.retry_after(Spent()) == float("inf")


def test_5xx_then_success_is_retried_for_reads(provider_context, httpserver):
    httpserver.expect_ordered_request("/api/v2/deals").respond_with_data("upstream down", status=502)
    httpserver.expect_ordered_request("/api/v2/deals").respond_with_json(
        {"success": True, "data": [deal(7)], "additional_data": {"next_cursor": None}}
    )
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    page = registry.get("pipedrive")().read(ctx, "deals", cursor=None, limit=10)

    assert [r.id for r in page.records] == ["907"]


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request("/api/v2/persons").respond_with_data("down", status=503)
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(ProviderUnavailableError):
        registry.get("pipedrive")().read(ctx, "persons", cursor=None, limit=10)
    assert len(httpserver.log) == 4  # the first try and three retries


def test_malformed_json_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request("/api/v2/persons").respond_with_data("{not json", content_type="application/json")
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("pipedrive")().read(ctx, "persons", cursor=None, limit=10)


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


V2_BODY = json.dumps(
    {
        "data": {"id": 42, "name": "Ada Lovelace"},
        "previous": {"name": "Ada"},
        "meta": {
            "action": "change",
            "entity": "person",
            "entity_id": "42",
            "id": "5b1c7d8e-0f4a-4c2b-9e6d-1a2b3c4d5e6f",
            "correlation_id": "c0ffee00-1111-2222-3333-444455556666",
            "timestamp": "2026-05-01T12:00:00.000Z",
            "version": "2.0",
            "attempt": 1,
        },
    }
).encode()


def test_webhook_with_the_configured_basic_credentials_is_accepted():
    provider = registry.get("pipedrive")()

    event = provider.verify_webhook(
        method="POST", url="/", headers=basic("hooks", "s3cret:pw"), body=V2_BODY, secret="s3cret:pw", user="hooks"
    )

    assert event.event_id == "5b1c7d8e-0f4a-4c2b-9e6d-1a2b3c4d5e6f"
    assert event.event_type == "person.change"
    assert event.payload["data"]["id"] == 42


def test_v1_webhook_is_identified_by_object_id_and_moment():
    body = json.dumps(
        {
            "v": 1,
            "event": "updated.deal",
            "current": {"id": 901},
            "previous": {},
            "meta": {"v": 1, "action": "updated", "object": "deal", "id": 901, "timestamp_micro": 1777636800000000},
        }
    ).encode()

    event = registry.get("pipedrive")().verify_webhook(
        method="POST", url="/", headers=basic("any", "pw"), body=body, secret="pw"
    )

    assert (event.event_id, event.event_type) == ("deal.updated:901:1777636800000000", "deal.updated")


@pytest.mark.parametrize(
    "headers,user",
    [
        (basic("hooks", "wrong"), None),
        (basic("intruder", "pw"), "hooks"),
        ({}, None),
        ({"Authorization": "Bearer pw"}, None),
        ({"Authorization": "Basic !!not-base64!!"}, None),
    ],
)
def test_webhook_with_wrong_or_missing_credentials_is_rejected(headers, user):
    with pytest.raises(WebhookVerificationError):
        registry.get("pipedrive")().verify_webhook(
            method="POST", url="/", headers=headers, body=V2_BODY, secret="pw", user=user
        )


def test_webhook_is_rejected_when_no_password_is_configured():
    with pytest.raises(WebhookVerificationError, match="no webhook password"):
        registry.get("pipedrive")().verify_webhook(
            method="POST", url="/", headers=basic("hooks", ""), body=V2_BODY, secret=""
        )


def test_after_oauth_calls_go_to_the_api_domain_named_by_pipedrives_token_response(provider_context, httpserver):
    FakePipedrive(httpserver)
    base = httpserver.url_for("/").rstrip("/")
    config, _ = registry.get("pipedrive").clean_config({"client_id": "cid", "client_secret": "cs"})
    tokens = {"client_secret": "cs", "access_token": ACCESS_TOKEN, "api_domain": base}

    records = registry.get("pipedrive")().read(provider_context("pipedrive", config, tokens), "persons",
                                               cursor=None, limit=5).records  # fmt: skip

    assert "company_domain" not in config  # nobody typed it
    assert records


def test_an_api_token_still_needs_the_company_domain():
    with pytest.raises(ValidationError) as failure:
        registry.get("pipedrive").clean_config({"api_token": "t0ken"})

    assert set(failure.value.message_dict) == {"company_domain"}
