"""Intercom against a loopback server that follows the REST API 2.14 contract."""

import base64
import hashlib
import hmac
import json
import re
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
)
from apps.connectors.registry import registry

ACCESS_TOKEN = "dG9rOmY4YjNlNmJkXzk0ZDFfNGE3Y19iNTZlXzFjMGQ4ZTNmYTIxMjoxOjA="
OAUTH_TOKEN = "dG9rOjAwMTFfb2F1dGhfYWNjZXNzX3Rva2VuOjE6MA=="
CLIENT_SECRET = "3c9d2e7f-0b1a-4c5d-8e6f-a7b8c9d0e1f2"
RATE_LIMIT_HEADERS = {"X-RateLimit-Limit": "167", "X-RateLimit-Remaining": "166", "X-RateLimit-Reset": "1487332510"}


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})


def error_list(status: int, code: str, message: str) -> Response:
    body = {"type": "error.list", "request_id": "000ab1cd2ef3gh4ij5kl", "errors": [{"code": code, "message": message}]}
    return json_response(body, status=status)


def contact(n: int) -> dict:
    return {
        "type": "contact",
        "id": f"64a0{n:020d}",
        "workspace_id": "a86dr8yl",
        "external_id": f"ext-{n}" if n % 2 else None,
        "role": "user" if n % 3 else "lead",
        "email": f"person{n}@example.com",
        "phone": f"+353 87 123 {n:04d}" if n % 4 else None,
        "name": f"First{n} Middle Last{n}" if n % 5 else None,
        "created_at": 1767225600 + n,  # 2026-01-01T00:00:00Z + n seconds
        "updated_at": 1769904000 + n,  # 2026-02-01T00:00:00Z + n seconds
        "tags": {"type": "list", "data": [{"type": "tag", "id": str(700 + n), "url": f"/tags/{700 + n}"}]},
        "companies": {"type": "list", "data": [], "total_count": 0, "has_more": False},
    }


def conversation(n: int) -> dict:
    return {
        "type": "conversation",
        "id": str(1911149811 + n),
        "title": f"Refund for order {n}" if n % 2 else None,
        "created_at": 1767225600 + n,
        "updated_at": 1769904000 + n,
        "source": {
            "type": "conversation",
            "id": str(269650473 + n),
            "delivered_as": "customer_initiated",
            "subject": f"Subject {n}",
            "body": "<p>Hi</p>",
            "author": {"type": "user", "id": f"5bc8f7{n}", "name": f"Person {n}", "email": f"person{n}@example.com"},
        },
        "state": "open" if n % 2 else "closed",
        "open": bool(n % 2),
        "priority": "priority" if n % 3 == 0 else "not_priority",
    }


class FakeIntercom:
    """REST API 2.14: Bearer token + Intercom-Version, cursor pagination with per_page (max 150) and the opaque
    `starting_after` from `pages.next`, error.list bodies, X-RateLimit-* headers on authenticated answers."""

    def __init__(self, httpserver, contacts: int = 23, conversations: int = 5):
        self.server = httpserver
        self.records = {
            "contacts": [contact(n) for n in range(1, contacts + 1)],
            "conversations": [conversation(n) for n in range(1, conversations + 1)],
        }
        self.versions: list[str | None] = []
        self.list_queries: list[dict] = []
        self.created: list[dict] = []
        self.updated: list[tuple[str, dict]] = []
        httpserver.expect_request("/me", method="GET").respond_with_handler(self.me)
        httpserver.expect_request("/contacts", method="GET").respond_with_handler(self.list_handler("contacts"))
        httpserver.expect_request("/conversations", method="GET").respond_with_handler(
            self.list_handler("conversations")
        )
        httpserver.expect_request("/contacts", method="POST").respond_with_handler(self.create)
        httpserver.expect_request(re.compile(r"^/contacts/[^/]+$"), method="PUT").respond_with_handler(self.update)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _unauthorised(self, request):
        self.versions.append(request.headers.get("Intercom-Version"))
        if request.headers.get("Authorization") not in (f"Bearer {ACCESS_TOKEN}", f"Bearer {OAUTH_TOKEN}"):
            return error_list(401, "unauthorized", "Access Token Invalid")
        return None

    def me(self, request):
        return self._unauthorised(request) or json_response(
            {"type": "admin", "id": "991267", "email": "admin@example.com", "app": {"id_code": "a86dr8yl"}},
            headers=RATE_LIMIT_HEADERS,
        )

    @staticmethod
    def _cursor(offset: int) -> str:
        return base64.b64encode(json.dumps([offset, "cursor"]).encode()).decode()

    def list_handler(self, resource: str):
        key = "data" if resource == "contacts" else "conversations"
        list_type = "list" if resource == "contacts" else "conversation.list"

        def handle(request):
            denied = self._unauthorised(request)
            if denied:
                return denied
            self.list_queries.append(dict(request.args))
            per_page = int(request.args.get("per_page", 50 if resource == "contacts" else 20))
            if per_page > 150:
                return error_list(400, "parameter_invalid", "per_page must be less than or equal to 150")
            offset = 0
            if "starting_after" in request.args:
                try:
                    offset = json.loads(base64.b64decode(request.args["starting_after"]))[0]
                except ValueError:
                    return error_list(
                        400,
                        "client_error",
                        "Invalid starting_after param. Please try again using a starting_after value from a "
                        "paginated response",
                    )
            items = self.records[resource]
            chunk = items[offset : offset + per_page]
            page = offset // per_page + 1
            total_pages = max(1, -(-len(items) // per_page))
            pages = {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages}
            if offset + per_page < len(items):
                pages["next"] = {"page": page + 1, "starting_after": self._cursor(offset + per_page)}
            body = {"type": list_type, key: chunk, "total_count": len(items), "pages": pages}
            return json_response(body, headers=RATE_LIMIT_HEADERS)

        return handle

    def create(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        self.created.append(body)
        if body.get("role") not in ("user", "lead"):
            return error_list(400, "parameter_invalid", "Role must be one of user, lead")
        if any(c["email"] == body.get("email") for c in self.records["contacts"]):
            return error_list(409, "conflict", "A contact matching those details already exists with id=64a01")
        created = {**contact(900), **{k: body.get(k) for k in ("role", "email", "name", "phone", "external_id")}}
        return json_response(created, headers=RATE_LIMIT_HEADERS)

    def update(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        contact_id = request.path.rsplit("/", 1)[1]
        body = request.get_json()
        self.updated.append((contact_id, body))
        existing = next((c for c in self.records["contacts"] if c["id"] == contact_id), None)
        if existing is None:
            return error_list(404, "not_found", "User Not Found")
        return json_response({**existing, **body}, headers=RATE_LIMIT_HEADERS)


@pytest.fixture
def intercom(httpserver):
    return FakeIntercom(httpserver)


def context(provider_context, url, token=ACCESS_TOKEN, **config):
    return provider_context("intercom", {"api_base_url": url, **config}, {"api_token": token})


def read_all(ctx, resource, limit=10):
    provider, cursor, records, pages = registry.get("intercom")(), None, [], 0
    while True:
        page = provider.read(ctx, resource, cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


# --- reads -------------------------------------------------------------------------------------------------------


def test_reads_every_contact_across_pages_normalised_with_raw(provider_context, intercom):
    records, pages = read_all(context(provider_context, intercom.url), "contacts", limit=10)

    assert pages == 3
    assert [r.id for r in records] == [f"64a0{n:020d}" for n in range(1, 24)]
    assert records[0].data == {
        "id": contact(1)["id"],
        "email": "person1@example.com",
        "first_name": "First1",
        "last_name": "Middle Last1",
        "phone": "+353 87 123 0001",
        "company": None,
        "tags": ["701"],
        "lead_score": None,
        "created_at": "2026-01-01T00:00:01Z",
        "updated_at": "2026-02-01T00:00:01Z",
    }
    assert records[4].data["first_name"] is None and records[4].data["last_name"] is None  # no name
    assert records[0].raw == contact(1)
    assert [q.get("starting_after") for q in intercom.list_queries] == [
        None,
        FakeIntercom._cursor(10),
        FakeIntercom._cursor(20),
    ]
    assert {q["per_page"] for q in intercom.list_queries} == {"10"}
    assert set(intercom.versions) == {"2.14"}


def test_reads_conversations_as_tickets(provider_context, intercom):
    records, pages = read_all(context(provider_context, intercom.url), "conversations", limit=2)

    assert pages == 3
    assert [r.id for r in records] == [str(1911149811 + n) for n in range(1, 6)]
    assert records[0].data == {
        "id": "1911149812",
        "subject": "Refund for order 1",
        "status": "open",
        "priority": "not_priority",
        "requester_email": "person1@example.com",
        "created_at": "2026-01-01T00:00:01Z",
        "updated_at": "2026-02-01T00:00:01Z",
    }
    assert records[1].data["subject"] == "Subject 2"  # no title: the source's subject
    assert records[2].data["priority"] == "priority"
    assert records[1].raw["source"]["author"]["type"] == "user"


def test_a_page_size_over_the_documented_maximum_is_capped_at_150(provider_context, intercom):
    page = registry.get("intercom")().read(context(provider_context, intercom.url), "contacts", cursor=None, limit=999)

    assert intercom.list_queries == [{"per_page": "150"}]
    assert len(page.records) == 23
    assert page.next_cursor is None


def test_region_chooses_the_documented_host():
    provider = registry.get("intercom")()

    assert provider.base_url({"region": "us"}) == "https://api.intercom.io/"
    assert provider.base_url({"region": "eu"}) == "https://api.eu.intercom.io/"
    assert provider.base_url({"region": "au"}) == "https://api.au.intercom.io/"
    assert provider.base_url({}) == "https://api.intercom.io/"


def test_oauth_access_token_is_sent_as_bearer(provider_context, intercom):
    ctx = provider_context("intercom", {"api_base_url": intercom.url}, {"access_token": OAUTH_TOKEN})

    registry.get("intercom")().check(ctx)

    assert intercom.server.log[-1][0].headers["Authorization"] == f"Bearer {OAUTH_TOKEN}"


# --- check / auth ------------------------------------------------------------------------------------------------


def test_check_with_a_wrong_token_is_an_authentication_error_with_the_providers_message(provider_context, intercom):
    with pytest.raises(AuthenticationError) as failure:
        registry.get("intercom")().check(context(provider_context, intercom.url, token="wrong-token"))

    assert failure.value.message == "Intercom rejected the credentials: Access Token Invalid"
    assert failure.value.provider_status == 401
    assert "wrong-token" not in failure.value.message


def test_check_with_the_right_token_calls_me(provider_context, intercom):
    registry.get("intercom")().check(context(provider_context, intercom.url))

    request = intercom.server.log[-1][0]
    assert (request.method, request.path) == ("GET", "/me")
    assert request.headers["Intercom-Version"] == "2.14"


def test_check_without_any_token_needs_reauthorisation_and_sends_nothing(provider_context, intercom):
    ctx = provider_context("intercom", {"api_base_url": intercom.url}, {})

    with pytest.raises(NeedsReauthError):
        registry.get("intercom")().check(ctx)
    assert intercom.server.log == []


# --- actions -----------------------------------------------------------------------------------------------------


def test_create_contact_sends_exactly_the_documented_body(provider_context, intercom):
    action = registry.get("intercom").action("create_contact")
    payload = action.clean({"role": "lead", "email": " new@example.com ", "name": "Ada Lovelace", "phone": "+44 1"})

    result = registry.get("intercom")().perform(context(provider_context, intercom.url), "create_contact", payload)

    assert intercom.created == [{"role": "lead", "email": "new@example.com", "name": "Ada Lovelace", "phone": "+44 1"}]
    request = intercom.server.log[-1][0]
    assert (request.method, request.path) == ("POST", "/contacts")
    assert result["id"] == contact(900)["id"]
    assert result["role"] == "lead"
    assert result["record"]["email"] == "new@example.com"
    assert (result["record"]["first_name"], result["record"]["last_name"]) == ("Ada", "Lovelace")


def test_create_contact_conflict_raises_the_providers_message_and_is_not_resent(provider_context, intercom):
    with pytest.raises(ProviderRequestError) as failure:
        registry.get("intercom")().perform(
            context(provider_context, intercom.url), "create_contact", {"role": "user", "email": "person1@example.com"}
        )

    assert "A contact matching those details already exists" in failure.value.message
    assert failure.value.provider_status == 409
    assert len(intercom.created) == 1


def test_create_contact_is_not_retried_after_a_5xx(provider_context, httpserver):
    httpserver.expect_request("/contacts", method="POST").respond_with_data("oops", status=502)

    with pytest.raises(ProviderUnavailableError):
        registry.get("intercom")().perform(
            context(provider_context, httpserver.url_for("/").rstrip("/")), "create_contact", {"role": "lead"}
        )
    assert len(httpserver.log) == 1


def test_update_contact_puts_only_the_given_fields_to_the_contact(provider_context, intercom):
    target = contact(2)["id"]

    result = registry.get("intercom")().perform(
        context(provider_context, intercom.url),
        "update_contact",
        {"id": target, "name": "Grace Hopper", "external_id": "ext-99"},
    )

    assert intercom.updated == [(target, {"name": "Grace Hopper", "external_id": "ext-99"})]
    request = intercom.server.log[-1][0]
    assert (request.method, request.path) == ("PUT", f"/contacts/{target}")
    assert result["id"] == target
    assert result["record"]["first_name"] == "Grace"
    assert result["record"]["email"] == "person2@example.com"


def test_create_contact_input_is_validated_field_by_field():
    action = registry.get("intercom").action("create_contact")

    with pytest.raises(ValidationError) as failure:
        action.clean({"role": "admin", "email": "not-an-email", "name": 7, "nickname": "x"})
    assert failure.value.message_dict == {
        "role": ["One of: user, lead."],
        "email": ["Enter a valid email address."],
        "name": ["Must be a string."],
        "nickname": ["Unknown field."],
    }
    with pytest.raises(ValidationError) as missing:
        action.clean({"email": "a@example.com"})
    assert missing.value.message_dict == {"role": ["This field is required."]}
    with pytest.raises(ValidationError) as anonymous_user:
        action.clean({"role": "user", "name": "Ada"})
    assert anonymous_user.value.message_dict == {"email": ["A user needs an e-mail address or an external id."]}
    assert action.clean({"role": "user", "external_id": "42"}) == {"role": "user", "external_id": "42"}
    assert action.clean({"role": "lead"}) == {"role": "lead"}


def test_update_contact_input_needs_an_id_and_something_to_change():
    action = registry.get("intercom").action("update_contact")

    with pytest.raises(ValidationError) as missing:
        action.clean({"name": "Ada"})
    assert missing.value.message_dict == {"id": ["This field is required."]}
    with pytest.raises(ValidationError) as nothing:
        action.clean({"id": "64a0"})
    assert nothing.value.message_dict == {"id": ["Give at least one field to change."]}
    with pytest.raises(ValidationError) as bad_role:
        action.clean({"id": "64a0", "role": "visitor"})
    assert bad_role.value.message_dict == {"role": ["One of: user, lead."]}


# --- configuration -----------------------------------------------------------------------------------------------


def test_config_needs_a_token_or_oauth_client_credentials():
    provider = registry.get("intercom")

    with pytest.raises(ValidationError) as failure:
        provider.clean_config({"region": "eu"})
    assert list(failure.value.message_dict) == ["api_token"]
    config, secrets = provider.clean_config({"region": "eu", "api_token": ACCESS_TOKEN})
    assert (config, secrets) == ({"region": "eu"}, {"api_token": ACCESS_TOKEN})
    config, secrets = provider.clean_config({"client_id": "abc", "client_secret": CLIENT_SECRET})
    assert (config, secrets) == ({"region": "us", "client_id": "abc"}, {"client_secret": CLIENT_SECRET})
    with pytest.raises(ValidationError) as region:
        provider.clean_config({"region": "mars", "api_token": ACCESS_TOKEN})
    assert region.value.message_dict == {"region": ["One of: us, eu, au."]}


def test_tokens_are_only_sent_to_intercom_hosts_over_https():
    provider = registry.get("intercom")

    with pytest.raises(ValidationError) as failure:
        provider.clean_config({"api_token": ACCESS_TOKEN, "api_base_url": "https://evil.example.com"})
    assert list(failure.value.message_dict) == ["api_base_url"]
    with pytest.raises(ValidationError):
        provider.clean_config({"api_token": ACCESS_TOKEN, "api_base_url": "http://api.intercom.io"})
    with pytest.raises(ConfigurationError):
        provider().base_url({"api_base_url": "https://api.intercom.io.evil.example"})
    assert provider().base_url({"api_base_url": "https://api.eu.intercom.io"}) == "https://api.eu.intercom.io/"


def test_describes_oauth_and_secret_fields():
    described = registry.get("intercom").describe()

    assert described["category"] == "support"
    assert described["auth_type"] == "oauth2"
    secrets = {f["name"] for f in described["config_schema"] if f["secret"]}
    assert secrets == {"api_token", "client_secret"}
    assert [r["model"] for r in described["resources"]] == ["crm.contact", "support.ticket"]
    assert registry.get("intercom").auth.oauth2.token_url == "https://api.intercom.io/auth/eagle/token"


# --- failures ----------------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request("/contacts").respond_with_response(
        Response(
            json.dumps(
                {
                    "type": "error.list",
                    "errors": [{"code": "rate_limit_exceeded", "message": "Exceeded rate limit of 167 in 10_seconds"}],
                }
            ),
            status=429,
            content_type="application/json",
            headers={"Retry-After": "1", "X-RateLimit-Limit": "167", "X-RateLimit-Remaining": "0"},
        )
    )
    httpserver.expect_ordered_request("/contacts").respond_with_json(
        {"type": "list", "data": [contact(1)], "pages": {"type": "pages", "page": 1, "total_pages": 1}}
    )

    started = time.monotonic()
    page = registry.get("intercom")().read(
        context(provider_context, httpserver.url_for("/").rstrip("/")), "contacts", cursor=None, limit=10
    )

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == [contact(1)["id"]]
    assert len(httpserver.log) == 2


def test_5xx_then_success_is_retried_for_reads(provider_context, httpserver):
    httpserver.expect_ordered_request("/conversations").respond_with_data("oops", status=503)
    httpserver.expect_ordered_request("/conversations").respond_with_json(
        {"type": "conversation.list", "conversations": [conversation(7)], "pages": {"type": "pages"}}
    )

    page = registry.get("intercom")().read(
        context(provider_context, httpserver.url_for("/").rstrip("/")), "conversations", cursor=None, limit=10
    )

    assert [r.id for r in page.records] == [str(1911149818)]
    assert page.next_cursor is None
    assert len(httpserver.log) == 2


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request("/contacts").respond_with_data("down", status=503)

    with pytest.raises(ProviderUnavailableError):
        registry.get("intercom")().read(
            context(provider_context, httpserver.url_for("/").rstrip("/")), "contacts", cursor=None, limit=10
        )
    assert len(httpserver.log) == 4  # the first try and three retries


def test_malformed_json_is_a_clear_error(provider_context, httpserver):
    httpserver.expect_request("/contacts").respond_with_data("{not json", content_type="application/json")

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("intercom")().read(
            context(provider_context, httpserver.url_for("/").rstrip("/")), "contacts", cursor=None, limit=10
        )


def test_a_body_without_the_list_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request("/conversations").respond_with_json({"type": "conversation.list"})

    with pytest.raises(BadResponseError, match="conversations list"):
        registry.get("intercom")().read(
            context(provider_context, httpserver.url_for("/").rstrip("/")), "conversations", cursor=None, limit=10
        )


# --- webhooks ----------------------------------------------------------------------------------------------------


def notification(topic: str = "contact.user.created") -> bytes:
    return json.dumps(
        {
            "type": "notification_event",
            "app_id": "a86dr8yl",
            "data": {"type": "notification_event_data", "item": contact(3)},
            "id": "notif_78c122d0-23ba-11e4-9464-79b01267cc2e",
            "topic": topic,
            "delivery_attempts": 1,
            "first_sent_at": 1767225600,
            "created_at": 1767225600,
        }
    ).encode()


def signed(body: bytes, secret: str = CLIENT_SECRET) -> dict[str, str]:
    """As Intercom documents it: `sha1=` + the hex HMAC-SHA1 of the raw body keyed with the client secret."""
    return {"X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def test_webhook_with_a_valid_signature_is_accepted():
    body = notification()

    event = registry.get("intercom")().verify_webhook(
        method="POST",
        url="https://hub.example.com/hooks/intercom",
        headers=signed(body),
        body=body,
        secret=CLIENT_SECRET,
    )

    assert event.event_id == "notif_78c122d0-23ba-11e4-9464-79b01267cc2e"
    assert event.event_type == "contact.user.created"
    assert event.payload["data"]["item"]["id"] == contact(3)["id"]


def test_webhook_header_names_are_case_insensitive():
    body = notification("ping")
    headers = {"x-hub-signature": signed(body)["X-Hub-Signature"]}

    event = registry.get("intercom")().verify_webhook(
        method="POST", url="/", headers=headers, body=body, secret=CLIENT_SECRET
    )

    assert event.event_type == "ping"


@pytest.mark.parametrize(
    "headers",
    [
        signed(notification(), secret="another-secret"),
        {"X-Hub-Signature": "sha256=" + hmac.new(CLIENT_SECRET.encode(), notification(), hashlib.sha256).hexdigest()},
        {"X-Hub-Signature": hmac.new(CLIENT_SECRET.encode(), notification(), hashlib.sha1).hexdigest()},
        {},
    ],
    ids=["wrong-secret", "sha256", "no-prefix", "missing"],
)
def test_webhook_with_a_wrong_or_missing_signature_is_rejected(headers):
    with pytest.raises(WebhookVerificationError):
        registry.get("intercom")().verify_webhook(
            method="POST", url="/", headers=headers, body=notification(), secret=CLIENT_SECRET
        )


def test_webhook_with_a_tampered_body_is_rejected():
    headers = signed(notification())

    with pytest.raises(WebhookVerificationError, match="wrong signature"):
        registry.get("intercom")().verify_webhook(
            method="POST", url="/", headers=headers, body=notification("contact.user.deleted"), secret=CLIENT_SECRET
        )


def test_webhook_without_a_configured_secret_is_rejected():
    body = notification()

    with pytest.raises(WebhookVerificationError, match="no client secret"):
        registry.get("intercom")().verify_webhook(
            method="POST", url="/", headers=signed(body, ""), body=body, secret=""
        )
