"""HubSpot against a loopback server that follows the CRM objects API (2026-03) contract."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.core.exceptions import ValidationError
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NeedsReauthError,
    ProviderRequestError,
    ProviderUnavailableError,
    RateLimitedError,
)
from apps.connectors.registry import registry

PRIVATE_APP_TOKEN = "pat-na1-8f3c2a7e-1b4d-4e0f-9a6c-2d5e7f901234"
ACCESS_TOKEN = "CJSP5qf1KhICAQEYs-gDIIGOBii1oQEyGQAf3xBKmlwHjX7OIpuIFEavB2-qYAGQsF4"
CLIENT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
API = "/crm/objects/2026-03"
CONTACT_PROPERTIES = "email,firstname,lastname,phone,company,hubspotscore,createdate,lastmodifieddate"
DEAL_PROPERTIES = "dealname,dealstage,pipeline,amount,deal_currency_code,closedate,createdate,hs_lastmodifieddate"
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id"),
}
ALWAYS_RETURNED = {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}
RATE_LIMIT_HEADERS = {
    "X-HubSpot-RateLimit-Daily": "250000",
    "X-HubSpot-RateLimit-Daily-Remaining": "249990",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    "X-HubSpot-RateLimit-Max": "100",
    "X-HubSpot-RateLimit-Remaining": "97",
}


def contact(n: int) -> dict:
    """A contact as the list endpoint returns it when every property is asked for (all values are strings)."""
    return {
        "id": str(1000 + n),
        "properties": {
            "company": f"Company {n}" if n % 2 else "",
            "createdate": f"2026-01-{n:02d}T09:00:00.000Z",
            "email": f"person{n}@example.com",
            "firstname": f"First{n}",
            "hs_object_id": str(1000 + n),
            "hubspotscore": str(n * 3) if n % 3 else None,
            "lastmodifieddate": f"2026-02-{n:02d}T10:00:00.000Z",
            "lastname": f"Last{n}",
            "phone": f"+44 20 7946 {n:04d}" if n % 4 else None,
        },
        "createdAt": f"2026-01-{n:02d}T09:00:00.000Z",
        "updatedAt": f"2026-02-{n:02d}T10:00:00.000Z",
        "archived": False,
    }


def deal(n: int) -> dict:
    return {
        "id": str(5000 + n),
        "properties": {
            "amount": f"{n * 1000}.50",
            "closedate": f"2026-06-{n:02d}T00:00:00Z",
            "createdate": f"2026-03-{n:02d}T08:00:00.000Z",
            "deal_currency_code": "EUR" if n % 2 else None,
            "dealname": f"Deal {n}",
            "dealstage": "appointmentscheduled" if n % 2 else "closedwon",
            "hs_lastmodifieddate": f"2026-04-{n:02d}T08:00:00.000Z",
            "hs_object_id": str(5000 + n),
            "pipeline": "default",
        },
        "createdAt": f"2026-03-{n:02d}T08:00:00.000Z",
        "updatedAt": f"2026-04-{n:02d}T08:00:00.000Z",
        "archived": False,
    }


def error(status: int, message: str, category: str | None, headers: dict | None = None, **extra) -> Response:
    """HubSpot's error body: status, message, correlationId, and a category (429s carry errorType/policyName)."""
    body = {"status": "error", "message": message, "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf"}
    if category:
        body["category"] = category
    body.update(extra)
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def cursor_for(index: int) -> str:
    """HubSpot's `after` tokens are opaque; this fake's are base64 of the next offset, to prove they pass verbatim."""
    return base64.urlsafe_b64encode(f"offset:{index}".encode()).decode()


class FakeHubSpot:
    """CRM objects 2026-03: Bearer auth (private app token or OAuth access token), `limit` (max 100) + `after`
    cursor pagination with `paging.next.after`, requested properties only, batch upsert keyed by e-mail."""

    def __init__(self, httpserver, contacts: int = 25, deals: int = 7, tokens=(PRIVATE_APP_TOKEN, ACCESS_TOKEN)):
        self.server = httpserver
        self.tokens = set(tokens)
        self.objects = {
            "contacts": [contact(n) for n in range(1, contacts + 1)],
            "deals": [deal(n) for n in range(1, deals + 1)],
        }
        self.upserts: list[dict] = []
        for object_type in ("contacts", "deals"):
            httpserver.expect_request(f"{API}/{object_type}", method="GET").respond_with_handler(
                lambda request, object_type=object_type: self.list_objects(request, object_type)
            )
        httpserver.expect_request(f"{API}/contacts/batch/upsert", method="POST").respond_with_handler(self.upsert)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def requests_to(self, path: str) -> list:
        return [request for request, _response in self.server.log if request.path == f"{API}/{path}"]

    def _unauthorised(self, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
                "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        return None

    def list_objects(self, request, object_type: str):
        denied = self._unauthorised(request)
        if denied:
            return denied
        try:
            limit = int(request.args.get("limit", 10))
            after = request.args.get("after")
            offset = int(base64.urlsafe_b64decode(after).decode().split(":")[1]) if after else 0
        except (ValueError, IndexError):
            return error(400, "Invalid input JSON on line 1: unparsable `after` or `limit`", "VALIDATION_ERROR")
        if not 1 <= limit <= 100:
            return error(400, "Invalid limit: must be between 1 and 100", "VALIDATION_ERROR")
        requested = request.args.get("properties")
        # hs_object_id and the create/modify dates come back whatever is asked for
        wanted = set(requested.split(",")) | ALWAYS_RETURNED if requested else set(DEFAULT_PROPERTIES[object_type])
        items = [] if request.args.get("archived") == "true" else self.objects[object_type]
        chunk = [
            {**item, "properties": {k: v for k, v in item["properties"].items() if k in wanted}}
            for item in items[offset : offset + limit]
        ]
        body = {"results": chunk}
        if offset + limit < len(items):
            after = cursor_for(offset + limit)
            body["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return Response(json.dumps(body), content_type="application/json", headers=RATE_LIMIT_HEADERS)

    def upsert(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        self.upserts.append(body)
        results = []
        for entry in body["inputs"]:
            if entry.get("idProperty") != "email":
                return error(400, "idProperty must be a unique property", "VALIDATION_ERROR")
            existing = next(
                (c for c in self.objects["contacts"] if c["properties"]["email"] == entry["id"].lower()), None
            )
            if existing is None:
                existing = {
                    "id": str(9000 + len(self.upserts)),
                    "properties": {"email": entry["id"].lower()},
                    "createdAt": "2026-05-01T12:00:00.000Z",
                    "updatedAt": "2026-05-01T12:00:00.000Z",
                    "archived": False,
                }
                self.objects["contacts"].append(existing)
                new = True
            else:
                new = False
            existing["properties"].update(entry["properties"])
            existing["updatedAt"] = "2026-05-02T12:00:00.000Z"
            results.append({**existing, "properties": dict(entry["properties"]), "new": new})
        answer = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": "2026-05-02T12:00:00.000Z",
            "completedAt": "2026-05-02T12:00:00.100Z",
        }
        return Response(json.dumps(answer), content_type="application/json", headers=RATE_LIMIT_HEADERS)


@pytest.fixture
def hubspot(httpserver):
    return FakeHubSpot(httpserver)


def context(provider_context, base_url, **credentials):
    credentials = credentials or {"private_app_token": PRIVATE_APP_TOKEN}
    return provider_context("hubspot", {"api_base_url": base_url}, credentials)


def read_all(ctx, resource, limit=10):
    provider, cursor, records, pages = registry.get("hubspot")(), None, [], 0
    while True:
        page = provider.read(ctx, resource, cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        assert pages < 50, "the cursor does not advance"
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


# --- reads ----------------------------------------------------------------------------------------------------


def test_reads_every_contact_across_pages_normalised_with_raw(provider_context, hubspot):
    records, pages = read_all(context(provider_context, hubspot.base_url), "contacts", limit=10)

    assert pages == 3
    assert [r.id for r in records] == [str(1000 + n) for n in range(1, 26)]
    assert records[0].data == {
        "id": "1001",
        "email": "person1@example.com",
        "first_name": "First1",
        "last_name": "Last1",
        "phone": "+44 20 7946 0001",
        "company": "Company 1",
        "tags": None,
        "lead_score": 3,
        "created_at": "2026-01-01T09:00:00.000Z",
        "updated_at": "2026-02-01T10:00:00.000Z",
    }
    # blanks and nulls become None; a missing score stays None rather than 0
    assert (records[1].data["company"], records[2].data["lead_score"], records[3].data["phone"]) == (None, None, None)
    assert records[0].raw == contact(1)
    sent = hubspot.requests_to("contacts")
    assert [dict(r.args) for r in sent] == [
        {"limit": "10", "properties": CONTACT_PROPERTIES, "archived": "false"},
        {"limit": "10", "properties": CONTACT_PROPERTIES, "archived": "false", "after": cursor_for(10)},
        {"limit": "10", "properties": CONTACT_PROPERTIES, "archived": "false", "after": cursor_for(20)},
    ]


def test_reads_deals_normalised(provider_context, hubspot):
    records, pages = read_all(context(provider_context, hubspot.base_url), "deals", limit=5)

    assert pages == 2
    assert [r.id for r in records] == [str(5000 + n) for n in range(1, 8)]
    assert records[0].data == {
        "id": "5001",
        "name": "Deal 1",
        "stage": "appointmentscheduled",
        "amount": "1000.50",
        "currency": "EUR",
        "close_date": "2026-06-01T00:00:00Z",
        "created_at": "2026-03-01T08:00:00.000Z",
        "updated_at": "2026-04-01T08:00:00.000Z",
    }
    assert records[1].data["currency"] is None
    assert records[1].raw["properties"]["pipeline"] == "default"
    assert hubspot.requests_to("deals")[0].args["properties"] == DEAL_PROPERTIES


def test_a_page_size_over_the_documented_maximum_is_capped_at_100(provider_context, httpserver):
    fake = FakeHubSpot(httpserver, contacts=150)

    page = registry.get("hubspot")().read(context(provider_context, fake.base_url), "contacts", cursor=None, limit=500)

    assert len(page.records) == 100
    assert fake.requests_to("contacts")[0].args["limit"] == "100"
    assert page.next_cursor == cursor_for(100)


def test_the_last_page_has_no_cursor(provider_context, httpserver):
    fake = FakeHubSpot(httpserver, contacts=3)

    page = registry.get("hubspot")().read(context(provider_context, fake.base_url), "contacts", cursor=None, limit=10)

    assert [r.id for r in page.records] == ["1001", "1002", "1003"]
    assert page.next_cursor is None


def test_oauth_access_token_is_sent_as_bearer(provider_context, hubspot):
    ctx = context(provider_context, hubspot.base_url, access_token=ACCESS_TOKEN, refresh_token="r", expires_at=9e9)

    registry.get("hubspot")().check(ctx)

    assert hubspot.requests_to("contacts")[0].headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert dict(hubspot.requests_to("contacts")[0].args) == {"limit": "1", "archived": "false"}


def test_private_app_token_wins_over_an_oauth_token(provider_context, hubspot):
    ctx = context(provider_context, hubspot.base_url, private_app_token=PRIVATE_APP_TOKEN, access_token="stale")

    registry.get("hubspot")().check(ctx)

    assert hubspot.requests_to("contacts")[0].headers["Authorization"] == f"Bearer {PRIVATE_APP_TOKEN}"


def test_check_with_a_wrong_token_is_an_authentication_error_with_the_providers_message(provider_context, hubspot):
    with pytest.raises(AuthenticationError) as failure:
        registry.get("hubspot")().check(context(provider_context, hubspot.base_url, private_app_token="pat-na1-wrong"))

    assert "Authentication credentials not found" in failure.value.message
    assert failure.value.provider_status == 401
    assert "pat-na1-wrong" not in failure.value.message


def test_check_without_any_token_needs_reauthorisation_and_sends_nothing(provider_context, hubspot):
    with pytest.raises(NeedsReauthError):
        registry.get("hubspot")().check(context(provider_context, hubspot.base_url, refresh_token="r"))

    assert hubspot.server.log == []


# --- actions --------------------------------------------------------------------------------------------------


def test_upsert_contact_creates_by_email_with_the_documented_body(provider_context, hubspot):
    result = registry.get("hubspot")().perform(
        context(provider_context, hubspot.base_url),
        "upsert_contact",
        {"email": "new@example.com", "first_name": "Ada", "company": "Analytical Engines"},
    )

    assert hubspot.upserts == [
        {
            "inputs": [
                {
                    "idProperty": "email",
                    "id": "new@example.com",
                    "properties": {"email": "new@example.com", "firstname": "Ada", "company": "Analytical Engines"},
                }
            ]
        }
    ]
    assert result == {
        "id": "9001",
        "created": True,
        "record": {
            "id": "9001",
            "email": "new@example.com",
            "first_name": "Ada",
            "last_name": None,
            "phone": None,
            "company": "Analytical Engines",
            "tags": None,
            "lead_score": None,
            "created_at": "2026-05-01T12:00:00.000Z",
            "updated_at": "2026-05-02T12:00:00.000Z",
        },
    }


def test_upsert_contact_updates_the_contact_with_that_email(provider_context, hubspot):
    result = registry.get("hubspot")().perform(
        context(provider_context, hubspot.base_url),
        "upsert_contact",
        {"email": "person2@example.com", "last_name": "Lovelace", "phone": "+44 1"},
    )

    assert hubspot.upserts[0]["inputs"][0]["properties"] == {
        "email": "person2@example.com",
        "lastname": "Lovelace",
        "phone": "+44 1",
    }
    assert (result["id"], result["created"]) == ("1002", False)
    assert hubspot.objects["contacts"][1]["properties"]["lastname"] == "Lovelace"
    assert len(hubspot.objects["contacts"]) == 25


def test_upsert_contact_is_resent_after_a_5xx_because_an_upsert_by_email_is_idempotent(provider_context, httpserver):
    fake = FakeHubSpot(httpserver)
    httpserver.clear_all_handlers()
    httpserver.expect_ordered_request(f"{API}/contacts/batch/upsert", method="POST").respond_with_response(
        error(502, "Bad Gateway", "INTERNAL_ERROR")
    )
    httpserver.expect_ordered_request(f"{API}/contacts/batch/upsert", method="POST").respond_with_handler(fake.upsert)

    result = registry.get("hubspot")().perform(
        context(provider_context, fake.base_url), "upsert_contact", {"email": "retry@example.com"}
    )

    assert len(httpserver.log) == 2
    assert fake.upserts == [
        {"inputs": [{"idProperty": "email", "id": "retry@example.com", "properties": {"email": "retry@example.com"}}]}
    ]
    assert (result["id"], result["created"]) == ("9001", True)


def test_upsert_contact_with_only_failures_raises_the_providers_message(provider_context, httpserver):
    httpserver.expect_request(f"{API}/contacts/batch/upsert", method="POST").respond_with_json(
        {
            "status": "COMPLETE",
            "results": [],
            "numErrors": 1,
            "errors": [
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": 'Property values were not valid: [{"name":"phone","message":"too long"}]',
                    "context": {},
                }
            ],
        },
        status=207,
    )

    with pytest.raises(ProviderRequestError, match="Property values were not valid"):
        registry.get("hubspot")().perform(
            context(provider_context, httpserver.url_for("/").rstrip("/")), "upsert_contact", {"email": "a@b.co"}
        )


def test_upsert_contact_input_is_validated_field_by_field():
    action = registry.get("hubspot").action("upsert_contact")

    with pytest.raises(ValidationError) as failure:
        action.clean({"email": "not-an-email", "first_name": 7, "nickname": "x"})

    assert set(failure.value.message_dict) == {"email", "first_name", "nickname"}
    assert failure.value.message_dict["first_name"] == ["Must be a string."]
    assert failure.value.message_dict["nickname"] == ["Unknown field."]
    with pytest.raises(ValidationError) as missing:
        action.clean({"first_name": "Ada"})
    assert missing.value.message_dict == {"email": ["This field is required."]}
    assert action.clean({"email": " ada@example.com ", "last_name": "Lovelace"}) == {
        "email": "ada@example.com",
        "last_name": "Lovelace",
    }


# --- configuration --------------------------------------------------------------------------------------------


def test_config_needs_a_private_app_token_or_oauth_client_credentials():
    spec = registry.get("hubspot")

    with pytest.raises(ValidationError) as failure:
        spec.clean_config({})

    assert list(failure.value.message_dict) == ["private_app_token"]
    config, secrets = spec.clean_config({"private_app_token": PRIVATE_APP_TOKEN})
    assert (config, secrets) == ({"api_base_url": "https://api.hubapi.com"}, {"private_app_token": PRIVATE_APP_TOKEN})
    config, secrets = spec.clean_config({"client_id": "7fff1e36", "client_secret": CLIENT_SECRET})
    assert (config, secrets) == (
        {"client_id": "7fff1e36", "api_base_url": "https://api.hubapi.com"},
        {"client_secret": CLIENT_SECRET},
    )
    # an update that keeps the stored token
    assert spec.clean_config({"client_id": "x"}, existing_secrets=frozenset({"private_app_token"}))[0]["client_id"]


def test_tokens_are_only_sent_to_hubapi_hosts_over_https():
    spec = registry.get("hubspot")

    with pytest.raises(ValidationError) as failure:
        spec.clean_config({"private_app_token": PRIVATE_APP_TOKEN, "api_base_url": "https://evil.example.com"})
    assert list(failure.value.message_dict) == ["api_base_url"]
    with pytest.raises(ValidationError):
        spec.clean_config({"private_app_token": PRIVATE_APP_TOKEN, "api_base_url": "http://api.hubapi.com"})
    with pytest.raises(ConfigurationError):
        spec().base_url({"api_base_url": "https://api.hubapi.com.evil.example"})
    assert spec().base_url({}) == "https://api.hubapi.com/"
    assert spec().base_url({"api_base_url": "http://127.0.0.1:8000"}) == "http://127.0.0.1:8000/"


def test_describes_oauth_and_secret_fields():
    described = registry.get("hubspot").describe()

    assert described["auth_type"] == "oauth2"
    assert described["oauth_scopes"] == [
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.objects.deals.read",
    ]
    secret = {f["name"] for f in described["config_schema"] if f["secret"]}
    assert secret == {"private_app_token", "client_secret"}
    assert [r["model"] for r in described["resources"]] == ["crm.contact", "crm.deal"]


# --- failures -------------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{API}/contacts").respond_with_response(
        error(
            429,
            "You have reached your ten secondly limit.",
            None,
            headers={**RATE_LIMIT_HEADERS, "X-HubSpot-RateLimit-Remaining": "0", "Retry-After": "1"},
            errorType="RATE_LIMIT",
            policyName="TEN_SECONDLY_ROLLING",
            requestId="3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd",
        )
    )
    httpserver.expect_ordered_request(f"{API}/contacts").respond_with_json({"results": [contact(1)]})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    started = time.monotonic()
    page = registry.get("hubspot")().read(ctx, "contacts", cursor=None, limit=10)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["1001"]
    assert len(httpserver.log) == 2


def test_5xx_then_success_is_retried_for_reads(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{API}/deals").respond_with_response(error(502, "Bad Gateway", "INTERNAL_ERROR"))
    httpserver.expect_ordered_request(f"{API}/deals").respond_with_json({"results": [deal(3)]})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    page = registry.get("hubspot")().read(ctx, "deals", cursor=None, limit=10)

    assert [r.id for r in page.records] == ["5003"]
    assert len(httpserver.log) == 2


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request(f"{API}/contacts").respond_with_data("upstream down", status=503)
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(ProviderUnavailableError):
        registry.get("hubspot")().read(ctx, "contacts", cursor=None, limit=10)
    assert len(httpserver.log) == 4  # the first try and three retries


def test_malformed_json_is_a_clear_error(provider_context, httpserver):
    httpserver.expect_request(f"{API}/contacts").respond_with_data('{"results": [', content_type="application/json")
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("hubspot")().read(ctx, "contacts", cursor=None, limit=10)


def test_a_body_without_results_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(f"{API}/contacts").respond_with_json({"contacts": []})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="unexpected body for the contacts list"):
        registry.get("hubspot")().read(ctx, "contacts", cursor=None, limit=10)


# --- webhooks -------------------------------------------------------------------------------------------------

WEBHOOK_URL = "https://hooks.example.com/api/v1/webhooks/hubspot/?connection=42"


def events(*ids: int, subscription_type: str = "contact.creation") -> bytes:
    return json.dumps(
        [
            {
                "eventId": event_id,
                "subscriptionId": 25,
                "portalId": 33,
                "appId": 1160452,
                "occurredAt": 1767225600000,
                "subscriptionType": subscription_type,
                "attemptNumber": 0,
                "objectId": 123 + event_id,
                "changeFlag": "CREATED",
                "changeSource": "CRM",
            }
            for event_id in ids
        ]
    ).encode()


def sign(method: str, uri: str, body: bytes, timestamp: str, secret: str = CLIENT_SECRET) -> str:
    """As HubSpot documents v3: base64(HMAC-SHA256(client secret, UTF-8 of method + URI + body + timestamp))."""
    source = f"{method}{uri}{body.decode()}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def now_ms() -> str:
    return str(int(time.time() * 1000))


def test_webhook_with_a_valid_v3_signature_is_accepted():
    body, timestamp = events(100), now_ms()
    headers = {
        "X-HubSpot-Signature-v3": sign("POST", WEBHOOK_URL, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }

    event = registry.get("hubspot")().verify_webhook(
        method="POST", url=WEBHOOK_URL, headers=headers, body=body, secret=CLIENT_SECRET
    )

    assert (event.event_id, event.event_type) == ("100", "contact.creation")
    assert event.payload[0]["objectId"] == 223


def test_webhook_uri_is_signed_with_the_documented_escapes_decoded():
    received = "https://hooks.example.com/hubspot?return=https%3A%2F%2Fapp.example.com%2Fdone&note=a%20b"
    as_signed = "https://hooks.example.com/hubspot?return=https://app.example.com/done&note=a%20b"
    body, timestamp = events(7, 8, 9), now_ms()
    headers = {
        "x-hubspot-signature-v3": sign("POST", as_signed, body, timestamp),
        "x-hubspot-request-timestamp": timestamp,
    }

    event = registry.get("hubspot")().verify_webhook(
        method="POST", url=received, headers=headers, body=body, secret=CLIENT_SECRET
    )

    assert event.event_type == "contact.creation"
    assert event.event_id == "batch-" + hashlib.sha256(b"7,8,9").hexdigest()[:32]
    assert [e["eventId"] for e in event.payload] == [7, 8, 9]


def test_webhook_with_a_wrong_signature_is_rejected():
    body, timestamp = events(100), now_ms()
    headers = {
        "X-HubSpot-Signature-v3": sign("POST", WEBHOOK_URL, body, timestamp, secret="another-apps-secret"),
        "X-HubSpot-Request-Timestamp": timestamp,
    }

    with pytest.raises(WebhookVerificationError, match="wrong signature"):
        registry.get("hubspot")().verify_webhook(
            method="POST", url=WEBHOOK_URL, headers=headers, body=body, secret=CLIENT_SECRET
        )


def test_webhook_with_a_tampered_body_is_rejected():
    body, timestamp = events(100), now_ms()
    headers = {
        "X-HubSpot-Signature-v3": sign("POST", WEBHOOK_URL, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }

    with pytest.raises(WebhookVerificationError, match="wrong signature"):
        registry.get("hubspot")().verify_webhook(
            method="POST", url=WEBHOOK_URL, headers=headers, body=events(101), secret=CLIENT_SECRET
        )


def test_webhook_older_than_five_minutes_is_rejected_even_when_correctly_signed():
    body = events(100)
    timestamp = str(int(time.time() * 1000) - 5 * 60 * 1000 - 1000)
    headers = {
        "X-HubSpot-Signature-v3": sign("POST", WEBHOOK_URL, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }

    with pytest.raises(WebhookVerificationError, match="5 minutes"):
        registry.get("hubspot")().verify_webhook(
            method="POST", url=WEBHOOK_URL, headers=headers, body=body, secret=CLIENT_SECRET
        )


def test_webhook_without_signature_headers_or_secret_is_rejected():
    provider, body, timestamp = registry.get("hubspot")(), events(100), now_ms()
    signed = {
        "X-HubSpot-Signature-v3": sign("POST", WEBHOOK_URL, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }

    with pytest.raises(WebhookVerificationError, match="missing"):
        provider.verify_webhook(
            method="POST",
            url=WEBHOOK_URL,
            headers={"X-HubSpot-Signature-v3": signed["X-HubSpot-Signature-v3"]},
            body=body,
            secret=CLIENT_SECRET,
        )
    with pytest.raises(WebhookVerificationError, match="no client secret"):
        provider.verify_webhook(method="POST", url=WEBHOOK_URL, headers=signed, body=body, secret="")


def test_a_rolling_window_429_waits_for_the_interval_and_a_daily_one_is_not_retried(provider_context, httpserver):
    window = {
        **RATE_LIMIT_HEADERS,
        "X-HubSpot-RateLimit-Interval-Milliseconds": "1000",
        "X-HubSpot-RateLimit-Remaining": "0",
    }
    httpserver.expect_ordered_request(f"{API}/contacts").respond_with_response(
        error(
            429,
            "You have reached your ten_secondly_rolling limit.",
            "RATE_LIMITS",
            headers=window,
            policyName="TEN_SECONDLY_ROLLING",
        )
    )
    httpserver.expect_ordered_request(f"{API}/contacts").respond_with_json({"results": [contact(1)]})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"), private_app_token=PRIVATE_APP_TOKEN)
    provider = registry.get("hubspot")()

    started = time.monotonic()
    page = provider.read(ctx, "contacts", cursor=None, limit=10)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["1001"]

    httpserver.clear()
    daily = {**RATE_LIMIT_HEADERS, "X-HubSpot-RateLimit-Daily-Remaining": "0"}
    httpserver.expect_request(f"{API}/contacts").respond_with_response(
        error(429, "You have reached your daily limit.", "RATE_LIMITS", headers=daily, policyName="DAILY")
    )
    with pytest.raises(RateLimitedError, match="daily limit"):
        provider.read(ctx, "contacts", cursor=None, limit=10)
    assert len(httpserver.log) == 1


def test_behind_a_proxy_that_rewrites_host_the_public_url_hubspot_signed_is_verified(settings):
    settings.GATEWAY_URL = "https://hub.example.com"
    body, timestamp = b'[{"eventId": 1, "subscriptionType": "contact.creation"}]', str(int(time.time() * 1000))

    def signed_for(url: str) -> dict:
        source = b"POST" + url.encode() + body + timestamp.encode()
        signature = base64.b64encode(hmac.new(b"client-secret", source, hashlib.sha256).digest()).decode()
        return {"X-HubSpot-Signature-V3": signature, "X-HubSpot-Request-Timestamp": timestamp}

    received = "http://10.0.0.5:8000/hooks/tok3n/?portal=62515"  # what the gateway sees behind the proxy
    verify = registry.get("hubspot")().verify_webhook

    event = verify(method="POST", url=received, headers=signed_for("https://hub.example.com/hooks/tok3n/?portal=62515"),
                   body=body, secret="client-secret")  # fmt: skip
    assert event.event_id == "1"
    for other in (
        "https://evil.example/hooks/tok3n/?portal=62515",
        "https://hub.example.com/hooks/other/?portal=62515",
    ):
        with pytest.raises(WebhookVerificationError, match="wrong signature"):
            verify(method="POST", url=received, headers=signed_for(other), body=body, secret="client-secret")


def test_tokens_are_asked_of_hubspots_dated_oauth_endpoint_with_the_client_in_the_body():
    oauth = registry.get("hubspot").auth.oauth2

    # /oauth/v1/token is deprecated (sunset 16 February 2027) for the 2026-03 endpoint
    assert oauth.resolve(oauth.token_url, {}) == "https://api.hubapi.com/oauth/2026-03/token"
    assert oauth.token_auth_method == "client_secret_post"
