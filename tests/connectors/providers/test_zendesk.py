"""Zendesk Support against a loopback server that follows the Ticketing API v2 contract."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    ProviderUnavailableError,
)
from apps.connectors.registry import registry

EMAIL, API_TOKEN, ACCESS_TOKEN = "agent@acme.example", "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv", "oauth-abc"
EXPECTED_BASIC = "Basic " + base64.b64encode(f"{EMAIL}/token:{API_TOKEN}".encode()).decode()
EXPECTED_BEARER = f"Bearer {ACCESS_TOKEN}"
SIGNING_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="


def ticket(n: int) -> dict:
    return {
        "id": n,
        "url": f"https://acme.zendesk.com/api/v2/tickets/{n}.json",
        "subject": f"Printer {n} is on fire",
        "raw_subject": f"Printer {n} is on fire",
        "status": "open",
        "priority": "high" if n % 2 else None,
        "requester_id": 9000 + n,
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": "2026-03-01T10:00:00Z",
        "updated_at": f"2026-03-02T10:00:{n:02d}Z",
    }


def json_response(body, status=200, headers=None):
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


class FakeZendesk:
    """Ticketing API v2: Basic `{email}/token:{token}` or Bearer auth, cursor pagination with page[size] (max 100)
    and page[after], `meta.has_more` / `meta.after_cursor` / `links.next`, `include=users` sideloads."""

    def __init__(self, httpserver, tickets: int = 25):
        self.server = httpserver
        self.tickets = [ticket(n) for n in range(1, tickets + 1)]
        self.list_args: list[dict] = []
        self.created: list[dict] = []
        self.updated: list[tuple[int, dict]] = []
        httpserver.expect_request("/api/v2/tickets.json", method="GET").respond_with_handler(self.list_tickets)
        httpserver.expect_request("/api/v2/tickets.json", method="POST").respond_with_handler(self.create)
        httpserver.expect_request("/api/v2/tickets/7.json", method="PUT").respond_with_handler(self.update)
        httpserver.expect_request("/api/v2/users/me.json").respond_with_handler(self.me)

    @property
    def api_base_url(self) -> str:
        return self.server.url_for("/api/v2")

    def _unauthorised(self, request):
        if request.headers.get("Authorization") not in (EXPECTED_BASIC, EXPECTED_BEARER):
            return json_response({"error": "Couldn't authenticate you"}, status=401)
        return None

    @staticmethod
    def _cursor(ticket_id: int) -> str:
        return base64.urlsafe_b64encode(json.dumps({"o": "id", "v": ticket_id}).encode()).decode()

    def me(self, request):
        return self._unauthorised(request) or json_response(
            {"user": {"id": 1, "email": EMAIL, "role": "admin", "name": "Agent"}}
        )

    def list_tickets(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        self.list_args.append(dict(request.args))
        size = int(request.args.get("page[size]", 100))
        if size > 100:
            return json_response({"error": "InvalidPaginationParameter", "description": "page[size] max 100"}, 400)
        start = 0
        if "page[after]" in request.args:
            last = json.loads(base64.urlsafe_b64decode(request.args["page[after]"]))["v"]
            start = next(i for i, t in enumerate(self.tickets) if t["id"] == last) + 1
        chunk = self.tickets[start : start + size]
        has_more = start + size < len(self.tickets)
        after = self._cursor(chunk[-1]["id"]) if chunk else None
        base = self.server.url_for("/api/v2/tickets.json")
        body = {
            "tickets": chunk,
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": self._cursor(chunk[0]["id"])},
            "links": {"next": f"{base}?page[size]={size}&page[after]={after}" if has_more else None, "prev": None},
        }
        if request.args.get("include") == "users":
            body["users"] = [{"id": t["requester_id"], "email": f"customer{t['id']}@example.com"} for t in chunk]
        return json_response(body, headers={"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "699"})

    def create(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        self.created.append(body)
        sent = body["ticket"]
        created = {
            **ticket(100 + len(self.created)),
            "subject": sent["subject"],
            "status": "new",
            "priority": sent.get("priority"),
        }
        return json_response({"ticket": created}, status=201)

    def update(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        self.updated.append((7, body))
        changed = {**ticket(7), **{k: v for k, v in body["ticket"].items() if k in ("status", "priority")}}
        return json_response({"ticket": changed, "audit": {"id": 555, "ticket_id": 7, "events": []}})


@pytest.fixture
def zendesk(httpserver):
    return FakeZendesk(httpserver)


def context(provider_context, base_url, credentials=None):
    config = {"subdomain": "acme", "email": EMAIL, "api_base_url": base_url}
    return provider_context("zendesk", config, credentials or {"api_token": API_TOKEN})


def read_all(ctx, limit=10):
    provider, cursor, records, pages = registry.get("zendesk")(), None, [], 0
    while True:
        page = provider.read(ctx, "tickets", cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


def sign(timestamp: str, body: bytes, secret: str = SIGNING_SECRET) -> str:
    """As documented: base64(HMACSHA256(TIMESTAMP + BODY)) with the webhook's signing secret."""
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()


def now_iso(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- reads ------------------------------------------------------------------------------------------------------


def test_reads_every_ticket_across_cursor_pages_normalised_with_raw(provider_context, zendesk):
    records, pages = read_all(context(provider_context, zendesk.api_base_url), limit=10)

    assert pages == 3
    assert [r.id for r in records] == [str(n) for n in range(1, 26)]
    assert records[0].data == {
        "id": "1",
        "subject": "Printer 1 is on fire",
        "status": "open",
        "priority": "high",
        "requester_email": "customer1@example.com",
        "created_at": "2026-03-01T10:00:00Z",
        "updated_at": "2026-03-02T10:00:01Z",
    }
    assert records[1].data["priority"] is None
    assert records[0].raw == ticket(1)
    assert [args.get("page[size]") for args in zendesk.list_args] == ["10", "10", "10"]
    assert "page[after]" not in zendesk.list_args[0]
    assert zendesk.list_args[1]["page[after]"] == FakeZendesk._cursor(10)
    assert all(args["include"] == "users" for args in zendesk.list_args)


def test_page_size_is_capped_at_100(provider_context, zendesk):
    page = registry.get("zendesk")().read(
        context(provider_context, zendesk.api_base_url), "tickets", cursor=None, limit=500
    )

    assert zendesk.list_args[0]["page[size]"] == "100"
    assert len(page.records) == 25
    assert page.next_cursor is None


def test_reads_with_an_oauth_bearer_token(provider_context, zendesk):
    ctx = context(provider_context, zendesk.api_base_url, credentials={"access_token": ACCESS_TOKEN})

    page = registry.get("zendesk")().read(ctx, "tickets", cursor=None, limit=100)

    assert len(page.records) == 25
    assert zendesk.server.log[0][0].headers["Authorization"] == EXPECTED_BEARER


def test_requester_email_falls_back_to_the_email_source(provider_context, httpserver):
    item = {**ticket(3), "via": {"channel": "email", "source": {"from": {"address": "mail@example.com"}}}}
    httpserver.expect_request("/api/v2/tickets.json").respond_with_json(
        {"tickets": [item], "meta": {"has_more": False, "after_cursor": None}, "links": {"next": None}}
    )

    page = registry.get("zendesk")().read(
        context(provider_context, httpserver.url_for("/api/v2")), "tickets", cursor=None, limit=10
    )

    assert page.records[0].data["requester_email"] == "mail@example.com"
    assert page.next_cursor is None


# --- check ------------------------------------------------------------------------------------------------------


def test_check_with_a_wrong_token_is_an_authentication_error_with_the_providers_message(provider_context, zendesk):
    ctx = context(provider_context, zendesk.api_base_url, credentials={"api_token": "wrong-token"})

    with pytest.raises(AuthenticationError) as failure:
        registry.get("zendesk")().check(ctx)

    assert failure.value.message == "Zendesk Support rejected the credentials: Couldn't authenticate you"
    assert failure.value.provider_status == 401
    assert "wrong-token" not in failure.value.message


def test_check_with_good_credentials_passes(provider_context, zendesk):
    registry.get("zendesk")().check(context(provider_context, zendesk.api_base_url))

    assert zendesk.server.log[0][0].headers["Authorization"] == EXPECTED_BASIC


def test_check_answered_with_the_anonymous_user_is_an_authentication_error(provider_context, httpserver):
    httpserver.expect_request("/api/v2/users/me.json").respond_with_json(
        {"user": {"id": None, "name": "Anonymous user", "role": "end-user"}}
    )

    with pytest.raises(AuthenticationError, match="Couldn't authenticate you"):
        registry.get("zendesk")().check(context(provider_context, httpserver.url_for("/api/v2")))


# --- actions ----------------------------------------------------------------------------------------------------


def test_create_ticket_sends_the_documented_body(provider_context, zendesk):
    payload = (
        registry.get("zendesk")
        .action("create_ticket")
        .clean(
            {
                "subject": "Help",
                "comment": "My printer is on fire!",
                "requester_email": "customer@example.com",
                "priority": "urgent",
            }
        )
    )

    result = registry.get("zendesk")().perform(
        context(provider_context, zendesk.api_base_url), "create_ticket", payload
    )

    assert zendesk.created == [
        {
            "ticket": {
                "subject": "Help",
                "comment": {"body": "My printer is on fire!"},
                "requester": {"email": "customer@example.com"},
                "priority": "urgent",
            }
        }
    ]
    assert result["id"] == "101"
    assert result["status"] == "new"
    assert result["record"]["subject"] == "Help"
    assert result["record"]["priority"] == "urgent"
    assert result["record"]["requester_email"] == "customer@example.com"


def test_create_ticket_without_optional_fields_sends_only_subject_and_comment(provider_context, zendesk):
    payload = registry.get("zendesk").action("create_ticket").clean({"subject": "Hi", "comment": "Body"})

    registry.get("zendesk")().perform(context(provider_context, zendesk.api_base_url), "create_ticket", payload)

    assert zendesk.created == [{"ticket": {"subject": "Hi", "comment": {"body": "Body"}}}]


def test_update_ticket_sends_the_documented_body(provider_context, zendesk):
    payload = (
        registry.get("zendesk")
        .action("update_ticket")
        .clean({"id": "7", "status": "solved", "priority": "low", "comment": "Fixed it", "public": False})
    )

    result = registry.get("zendesk")().perform(
        context(provider_context, zendesk.api_base_url), "update_ticket", payload
    )

    assert zendesk.updated == [
        (7, {"ticket": {"status": "solved", "priority": "low", "comment": {"body": "Fixed it", "public": False}}})
    ]
    assert result["id"] == "7"
    assert result["status"] == "solved"
    assert result["record"]["priority"] == "low"


def test_update_ticket_comment_is_public_by_default(provider_context, zendesk):
    payload = registry.get("zendesk").action("update_ticket").clean({"id": 7, "comment": "Thanks"})

    registry.get("zendesk")().perform(context(provider_context, zendesk.api_base_url), "update_ticket", payload)

    assert zendesk.updated == [(7, {"ticket": {"comment": {"body": "Thanks", "public": True}}})]


def test_update_with_a_comment_is_not_repeated_after_a_5xx(provider_context, httpserver):
    httpserver.expect_request("/api/v2/tickets/7.json", method="PUT").respond_with_data("oops", status=503)

    with pytest.raises(ProviderUnavailableError):
        registry.get("zendesk")().perform(
            context(provider_context, httpserver.url_for("/api/v2")), "update_ticket", {"id": 7, "comment": "x"}
        )
    assert len(httpserver.log) == 1


# --- rate limits and failures -----------------------------------------------------------------------------------


def one_page(n: int) -> dict:
    return {"tickets": [ticket(n)], "meta": {"has_more": False, "after_cursor": None}, "links": {"next": None}}


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request("/api/v2/tickets.json").respond_with_response(
        Response(
            "Rate limit exceeded",
            status=429,
            headers={"Retry-After": "1", "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "0"},
        )
    )
    httpserver.expect_ordered_request("/api/v2/tickets.json").respond_with_json(one_page(1))

    started = time.monotonic()
    page = registry.get("zendesk")().read(
        context(provider_context, httpserver.url_for("/api/v2")), "tickets", cursor=None, limit=10
    )

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["1"]
    assert len(httpserver.log) == 2


def test_429_with_only_the_endpoint_limit_header_waits_for_its_reset(provider_context, httpserver):
    httpserver.expect_ordered_request("/api/v2/tickets.json").respond_with_response(
        Response(
            "slow down", status=429, headers={"zendesk-ratelimit-tickets-index": "total=100; remaining=0; resets=1"}
        )
    )
    httpserver.expect_ordered_request("/api/v2/tickets.json").respond_with_json(one_page(2))

    started = time.monotonic()
    page = registry.get("zendesk")().read(
        context(provider_context, httpserver.url_for("/api/v2")), "tickets", cursor=None, limit=10
    )

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["2"]


def test_5xx_then_success_is_retried(provider_context, httpserver):
    httpserver.expect_ordered_request("/api/v2/tickets.json").respond_with_data("oops", status=502)
    httpserver.expect_ordered_request("/api/v2/tickets.json").respond_with_json(one_page(7))

    page = registry.get("zendesk")().read(
        context(provider_context, httpserver.url_for("/api/v2")), "tickets", cursor=None, limit=10
    )

    assert [r.id for r in page.records] == ["7"]
    assert len(httpserver.log) == 2


def test_malformed_json_is_a_clear_error(provider_context, httpserver):
    httpserver.expect_request("/api/v2/tickets.json").respond_with_data("{not json", content_type="application/json")

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("zendesk")().read(
            context(provider_context, httpserver.url_for("/api/v2")), "tickets", cursor=None, limit=10
        )


def test_a_body_without_tickets_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request("/api/v2/tickets.json").respond_with_json({"results": []})

    with pytest.raises(BadResponseError, match="tickets list"):
        registry.get("zendesk")().read(
            context(provider_context, httpserver.url_for("/api/v2")), "tickets", cursor=None, limit=10
        )


# --- webhooks ---------------------------------------------------------------------------------------------------

EVENT = {
    "type": "zen:event-type:ticket.created",
    "account_id": 12514403,
    "id": "2b5ba8a7-5d6e-4a5b-b2d0-1f2a3b4c5d6e",
    "time": "2026-03-01T10:00:00Z",
    "zendesk_event_version": "2022-11-06",
    "subject": "zen:ticket:7",
    "detail": {"id": "7", "status": "NEW"},
    "event": {},
}


def signed_headers(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> dict:
    return {
        "X-Zendesk-Webhook-Signature": sign(timestamp, body, secret),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def verify(body: bytes, headers: dict, secret: str = SIGNING_SECRET):
    return registry.get("zendesk")().verify_webhook(
        method="POST", url="https://hub.example/hooks/zendesk", headers=headers, body=body, secret=secret
    )


def test_webhook_with_a_correct_signature_is_accepted():
    body = json.dumps(EVENT).encode()

    event = verify(body, signed_headers(body, now_iso()))

    assert event.event_id == EVENT["id"]
    assert event.event_type == "zen:event-type:ticket.created"
    assert event.payload == EVENT


def test_webhook_headers_are_case_insensitive_and_a_bodiless_request_is_accepted():
    timestamp = now_iso()
    headers = {k.lower(): v for k, v in signed_headers(b"", timestamp).items()}

    event = verify(b"", headers)

    assert (event.event_type, event.payload) == ("zendesk.webhook", {})
    assert event.event_id == "body-" + hashlib.sha256(b"").hexdigest()[:32]


def test_webhook_with_a_wrong_signature_is_rejected():
    body = json.dumps(EVENT).encode()
    headers = signed_headers(body, now_iso(), secret="another-secret")

    with pytest.raises(WebhookVerificationError, match="wrong signature"):
        verify(body, headers)


def test_webhook_with_a_tampered_body_is_rejected():
    body = json.dumps(EVENT).encode()
    headers = signed_headers(body, now_iso())

    with pytest.raises(WebhookVerificationError, match="wrong signature"):
        verify(body.replace(b"NEW", b"OPEN"), headers)


def test_webhook_with_a_stale_timestamp_is_rejected_even_when_correctly_signed():
    body = json.dumps(EVENT).encode()

    with pytest.raises(WebhookVerificationError, match="more than 5 minutes"):
        verify(body, signed_headers(body, now_iso(-timedelta(minutes=6))))


def test_webhook_without_signature_headers_is_rejected():
    body = json.dumps(EVENT).encode()

    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(body, {"Content-Type": "application/json"})


# --- validation and configuration -------------------------------------------------------------------------------


def test_create_ticket_input_is_validated_per_field():
    with pytest.raises(ValidationError) as failure:
        registry.get("zendesk").action("create_ticket").clean(
            {"comment": "x", "requester_email": "not-an-email", "priority": "asap", "tags": ["a"]}
        )

    assert set(failure.value.message_dict) == {"subject", "requester_email", "priority", "tags"}
    assert failure.value.message_dict["subject"] == ["This field is required."]
    assert failure.value.message_dict["priority"] == ["One of: urgent, high, normal, low."]
    assert failure.value.message_dict["tags"] == ["Unknown field."]


def test_update_ticket_input_is_validated_per_field():
    action = registry.get("zendesk").action("update_ticket")

    with pytest.raises(ValidationError) as failure:
        action.clean({"id": "seven", "status": "closed"})
    assert failure.value.message_dict == {
        "id": ["Must be an integer."],
        "status": ["One of: open, pending, hold, solved."],
    }

    with pytest.raises(ValidationError) as nothing:
        action.clean({"id": 7})
    assert nothing.value.message_dict == {"status": ["Set a status, a priority or a comment."]}

    with pytest.raises(ValidationError) as negative:
        action.clean({"id": -3, "status": "open", "public": True})
    assert negative.value.message_dict == {
        "id": ["Must be a positive ticket id."],
        "public": ["Only applies with a comment."],
    }


def test_config_refuses_a_plain_http_api_base_url_and_a_token_without_email():
    provider = registry.get("zendesk")

    with pytest.raises(ValidationError) as failure:
        provider.clean_config({"subdomain": "acme", "api_token": "t", "api_base_url": "http://evil.example/api/v2"})

    assert set(failure.value.message_dict) == {"api_base_url", "email"}


def test_config_keeps_secrets_apart_and_normalises_the_subdomain():
    config, secrets = registry.get("zendesk").clean_config(
        {"subdomain": "Acme.zendesk.com", "email": EMAIL, "api_token": API_TOKEN, "webhook_secret": "s"}
    )

    assert config == {"subdomain": "acme", "email": EMAIL}
    assert secrets == {"api_token": API_TOKEN, "webhook_secret": "s"}
    assert all(f.secret for f in registry.get("zendesk").config_fields if f.type == "secret")
    assert registry.get("zendesk")().base_url(config) == "https://acme.zendesk.com/api/v2/"


def test_oauth_urls_are_on_the_accounts_subdomain():
    spec = registry.get("zendesk").auth.oauth2

    assert (
        spec.resolve(spec.authorize_url, {"subdomain": "acme"}) == "https://acme.zendesk.com/oauth/authorizations/new"
    )
    assert spec.resolve(spec.token_url, {"subdomain": "acme"}) == "https://acme.zendesk.com/oauth/tokens"
    assert spec.scopes == ("read", "write")


def test_base_url_refuses_a_non_zendesk_host():
    with pytest.raises(ConfigurationError):
        registry.get("zendesk")().base_url({"subdomain": "acme", "api_base_url": "https://zendesk.com.evil.example"})


def test_a_422_reads_as_zendesks_description(provider_context, httpserver):
    from apps.connectors.exceptions import ProviderRequestError

    httpserver.expect_request("/api/v2/tickets.json", method="POST").respond_with_json(
        {
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {"requester": [{"description": "Requester: Email is not properly formatted"}]},
        },
        status=422,
    )
    ctx = provider_context(
        "zendesk",
        {"subdomain": "acme", "email": "agent@acme.test", "api_base_url": httpserver.url_for("/api/v2")},
        {"api_token": "tok"},
    )

    with pytest.raises(ProviderRequestError) as failure:
        registry.get("zendesk")().perform(
            ctx, "create_ticket", {"subject": "s", "comment": "c", "requester_email": "x@y.z"}
        )

    assert "Requester: Email is not properly formatted" in failure.value.message
