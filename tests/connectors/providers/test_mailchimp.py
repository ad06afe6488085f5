"""Mailchimp against a loopback server that follows the Marketing API 3.0 contract."""

import base64
import hashlib
import json
import time
from urllib.parse import urlencode

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

API_KEY = "0123456789abcdef0123456789abcdef-us21"
LIST_ID = "a1b2c3d4e5"
PROBLEM = "application/problem+json; charset=utf-8"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"anyuser:{key}".encode()).decode()


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()  # the documented subscriber hash


def member(n: int) -> dict:
    email = f"Person{n}@Example.com"
    return {
        "id": md5(email),
        "email_address": email,
        "unique_email_id": f"u{n}",
        "status": "subscribed",
        "merge_fields": {"FNAME": f"First{n}", "LNAME": f"Last{n}", "ADDRESS": ""},
        "tags": [{"id": 7, "name": "customer"}] if n % 2 else [],
        "last_changed": "2026-11-01T10:00:00+00:00",
        "list_id": LIST_ID,
    }


def report(n: int) -> dict:
    return {
        "id": f"camp{n}",
        "campaign_title": f"Campaign {n}",
        "type": "regular",
        "list_id": LIST_ID,
        "subject_line": f"News {n}",
        "emails_sent": 100 * n,
        "unsubscribed": n,
        "send_time": "2026-10-01T09:00:00+00:00",
        "opens": {"opens_total": 60 * n, "unique_opens": 40 * n, "open_rate": 0.4},
        "clicks": {"clicks_total": 20 * n, "unique_clicks": 10 * n, "click_rate": 0.1},
    }


def problem(status: int, title: str, detail: str, headers: dict | None = None) -> Response:
    body = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "3b4dcb40-0b6b-4820-bfaa-41267b3826ea",
    }
    return Response(json.dumps(body), status=status, content_type=PROBLEM, headers=headers)


class FakeMailchimp:
    """3.0: Basic auth (any user, API key as password) or Bearer; count/offset pagination with total_items;
    problem+json errors; PUT members/{md5} upserts; POST members/{md5}/tags answers 204."""

    def __init__(self, httpserver, members: int = 25, reports: int = 3, bearer: str | None = None):
        self.server = httpserver
        self.bearer = bearer
        self.members = {m["id"]: m for m in (member(n) for n in range(1, members + 1))}
        self.reports = [report(n) for n in range(1, reports + 1)]
        self.puts: list[tuple[str, dict]] = []
        self.tag_posts: list[tuple[str, dict]] = []
        self.list_calls: list[dict] = []
        prefix = "/3.0"
        httpserver.expect_request(f"{prefix}/ping", method="GET").respond_with_handler(self.ping)
        httpserver.expect_request(f"{prefix}/lists/{LIST_ID}/members", method="GET").respond_with_handler(
            lambda request: self.page(request, "members", list(self.members.values()), list_id=LIST_ID)
        )
        httpserver.expect_request(f"{prefix}/reports", method="GET").respond_with_handler(
            lambda request: self.page(request, "reports", self.reports)
        )
        for subscriber in [md5("new.person@example.com"), *self.members]:
            path = f"{prefix}/lists/{LIST_ID}/members/{subscriber}"
            httpserver.expect_request(path, method="PUT").respond_with_handler(self.upsert)
            httpserver.expect_request(f"{path}/tags", method="POST").respond_with_handler(self.tags)

    @property
    def base(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _unauthorised(self, request):
        expected = f"Bearer {self.bearer}" if self.bearer else None
        sent = request.headers.get("Authorization", "")
        if expected is not None:
            ok = sent == expected
        else:
            ok = False
            if sent.startswith("Basic "):
                user, _, password = base64.b64decode(sent[6:]).decode().partition(":")
                ok = bool(user) and password == API_KEY
        if not ok:
            return problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        return None

    def ping(self, request):
        return self._unauthorised(request) or Response(
            json.dumps({"health_status": "Everything's Chimpy!"}), content_type="application/json"
        )

    def page(self, request, key, items, **extra):
        denied = self._unauthorised(request)
        if denied:
            return denied
        self.list_calls.append(dict(request.args))
        count, offset = int(request.args.get("count", 10)), int(request.args.get("offset", 0))
        if count > 1000:
            return problem(400, "Invalid Resource", "count must be less than or equal to 1000")
        body = {key: items[offset : offset + count], **extra, "total_items": len(items)}
        return Response(json.dumps(body), content_type="application/json")

    def upsert(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        subscriber = request.path.rsplit("/", 1)[1]
        if md5(body["email_address"]) != subscriber:
            return problem(400, "Invalid Resource", "The subscriber hash does not match the email address.")
        self.puts.append((subscriber, body))
        existing = self.members.get(subscriber)
        merges = {**(existing or {}).get("merge_fields", {}), **body.get("merge_fields", {})}
        updated = {
            **(existing or {"tags": [], "last_changed": "2026-11-02T08:00:00+00:00", "list_id": LIST_ID}),
            "id": subscriber,
            "email_address": body["email_address"],
            "status": existing["status"] if existing else body["status_if_new"],
            "merge_fields": merges,
        }
        self.members[subscriber] = updated
        return Response(json.dumps(updated), content_type="application/json")

    def tags(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        self.tag_posts.append((request.path.split("/")[-2], request.get_json()))
        return Response(status=204)


@pytest.fixture
def mailchimp(httpserver):
    return FakeMailchimp(httpserver)


def context(provider_context, base, key=API_KEY, **config):
    return provider_context(
        "mailchimp", {"api_base_url": base, "dc": "us21", "list_id": LIST_ID, **config}, {"api_key": key}
    )


def provider():
    return registry.get("mailchimp")()


def read_all(ctx, resource, limit=10):
    cursor, records, pages = None, [], 0
    while True:
        page = provider().read(ctx, resource, cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


# --- reads ------------------------------------------------------------------------------------------------------


def test_reads_every_member_across_pages_normalised_with_raw(provider_context, mailchimp):
    records, pages = read_all(context(provider_context, mailchimp.base), "members", limit=10)

    assert pages == 3
    assert mailchimp.list_calls == [
        {"count": "10", "offset": "0"},
        {"count": "10", "offset": "10"},
        {"count": "10", "offset": "20"},
    ]
    assert [r.id for r in records] == [md5(f"Person{n}@Example.com") for n in range(1, 26)]
    assert records[0].data == {
        "id": md5("person1@example.com"),
        "email": "Person1@Example.com",
        "status": "subscribed",
        "first_name": "First1",
        "last_name": "Last1",
        "tags": ["customer"],
        "updated_at": "2026-11-01T10:00:00+00:00",
    }
    assert records[1].data["tags"] == []
    assert records[0].raw["unique_email_id"] == "u1"


def test_reads_campaign_reports_with_unique_opens_and_clicks(provider_context, mailchimp):
    records, pages = read_all(context(provider_context, mailchimp.base), "campaign_reports", limit=2)

    assert pages == 2
    assert [r.id for r in records] == ["camp1", "camp2", "camp3"]
    assert records[1].data == {
        "campaign_id": "camp2",
        "subject": "News 2",
        "sent": 200,
        "opens": 80,
        "clicks": 20,
        "unsubscribes": 2,
        "send_time": "2026-10-01T09:00:00+00:00",
    }
    assert records[1].raw["opens"]["opens_total"] == 120


def test_oauth_access_token_is_sent_as_bearer(provider_context, httpserver):
    fake = FakeMailchimp(httpserver, bearer="oauth-token-1")
    ctx = provider_context(
        "mailchimp", {"api_base_url": fake.base, "dc": "us21", "list_id": LIST_ID}, {"access_token": "oauth-token-1"}
    )

    page = provider().read(ctx, "members", cursor=None, limit=5)

    assert len(page.records) == 5
    assert page.next_cursor == "5"


def test_members_without_an_audience_id_is_a_configuration_error(provider_context, mailchimp):
    ctx = provider_context("mailchimp", {"api_base_url": mailchimp.base, "dc": "us21"}, {"api_key": API_KEY})

    with pytest.raises(ConfigurationError, match="audience ID"):
        provider().read(ctx, "members", cursor=None, limit=10)


# --- check and errors -------------------------------------------------------------------------------------------


def test_check_succeeds_with_the_right_key(provider_context, mailchimp):
    provider().check(context(provider_context, mailchimp.base))

    assert len(mailchimp.server.log) == 1


def test_check_with_a_wrong_key_is_an_authentication_error_with_the_providers_message(provider_context, mailchimp):
    wrong = "ffffffffffffffffffffffffffffffff-us21"
    with pytest.raises(AuthenticationError) as failure:
        provider().check(context(provider_context, mailchimp.base, key=wrong))

    assert failure.value.provider_status == 401
    assert "Your API key may be invalid" in failure.value.message
    assert wrong not in failure.value.message


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request("/3.0/reports").respond_with_response(
        problem(
            429,
            "Too Many Requests",
            "You have exceeded the limit of 10 simultaneous connections.",
            headers={"Retry-After": "1"},
        )
    )
    httpserver.expect_ordered_request("/3.0/reports").respond_with_json({"reports": [report(1)], "total_items": 1})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    started = time.monotonic()
    page = provider().read(ctx, "campaign_reports", cursor=None, limit=10)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["camp1"]
    assert page.next_cursor is None


def test_5xx_then_success_is_retried_for_reads(provider_context, httpserver):
    httpserver.expect_ordered_request("/3.0/reports").respond_with_response(
        problem(503, "Service Unavailable", "Please try again later.")
    )
    httpserver.expect_ordered_request("/3.0/reports").respond_with_json({"reports": [report(7)], "total_items": 1})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    page = provider().read(ctx, "campaign_reports", cursor=None, limit=10)

    assert [r.id for r in page.records] == ["camp7"]
    assert len(httpserver.log) == 2


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request("/3.0/reports").respond_with_response(problem(500, "Internal Server Error", "Oops"))
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(ProviderUnavailableError):
        provider().read(ctx, "campaign_reports", cursor=None, limit=10)
    assert len(httpserver.log) == 4  # the first try and three retries


def test_malformed_json_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request("/3.0/reports").respond_with_data("{not json", content_type="application/json")
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="not valid JSON"):
        provider().read(ctx, "campaign_reports", cursor=None, limit=10)


def test_a_list_body_without_total_items_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request("/3.0/reports").respond_with_json({"reports": [report(1)]})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="campaign_reports"):
        provider().read(ctx, "campaign_reports", cursor=None, limit=10)


# --- actions ----------------------------------------------------------------------------------------------------


def test_upsert_member_puts_the_documented_body_at_the_md5_of_the_lowercased_email(provider_context, mailchimp):
    payload = (
        registry.get("mailchimp")
        .action("upsert_member")
        .clean(
            {
                "email": "New.Person@Example.com",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "status_if_new": "pending",
            }
        )
    )

    result = provider().perform(context(provider_context, mailchimp.base), "upsert_member", payload)

    subscriber = md5("new.person@example.com")
    assert mailchimp.puts == [
        (
            subscriber,
            {
                "email_address": "New.Person@Example.com",
                "status_if_new": "pending",
                "merge_fields": {"FNAME": "Ada", "LNAME": "Lovelace"},
            },
        )
    ]
    assert mailchimp.tag_posts == []
    assert result["id"] == subscriber
    assert result["status"] == "pending"
    assert result["list_id"] == LIST_ID
    assert result["record"]["first_name"] == "Ada"


def test_upsert_member_defaults_to_subscribed_and_adds_tags_as_active(provider_context, mailchimp):
    payload = (
        registry.get("mailchimp")
        .action("upsert_member")
        .clean({"email": "person2@example.com", "tags": "vip, newsletter"})
    )

    result = provider().perform(context(provider_context, mailchimp.base), "upsert_member", payload)

    subscriber = md5("person2@example.com")
    assert mailchimp.puts == [(subscriber, {"email_address": "person2@example.com", "status_if_new": "subscribed"})]
    assert mailchimp.tag_posts == [
        (subscriber, {"tags": [{"name": "vip", "status": "active"}, {"name": "newsletter", "status": "active"}]})
    ]
    assert result["record"]["tags"] == ["vip", "newsletter"]
    assert result["record"]["first_name"] == "First2"  # existing merge fields kept


def test_upsert_member_input_is_validated_field_by_field():
    action = registry.get("mailchimp").action("upsert_member")

    with pytest.raises(ValidationError) as failure:
        action.clean({"email": "not-an-email", "status_if_new": "maybe", "list_id": "../lists", "colour": "red"})

    errors = failure.value.message_dict
    assert set(errors) == {"email", "status_if_new", "list_id", "colour"}
    assert errors["status_if_new"] == ["One of: subscribed, pending, unsubscribed, cleaned, transactional."]
    assert errors["list_id"] == ["Letters and digits only (the audience id)."]
    assert errors["colour"] == ["Unknown field."]


def test_upsert_member_requires_an_email():
    with pytest.raises(ValidationError) as failure:
        registry.get("mailchimp").action("upsert_member").clean({"first_name": "Ada"})

    assert failure.value.message_dict == {"email": ["This field is required."]}


# --- configuration ----------------------------------------------------------------------------------------------


def test_the_data_centre_comes_from_the_api_key_suffix():
    config, secrets = registry.get("mailchimp").clean_config({"api_key": API_KEY, "list_id": LIST_ID})

    assert config == {"dc": "us21", "list_id": LIST_ID}
    assert secrets == {"api_key": API_KEY}
    assert provider().base_url(config) == "https://us21.api.mailchimp.com/3.0/"


def test_config_rejects_a_key_without_a_data_centre_and_a_foreign_api_host():
    with pytest.raises(ValidationError) as failure:
        registry.get("mailchimp").clean_config({"api_key": "nodatacentre", "api_base_url": "https://evil.example.com"})

    assert set(failure.value.message_dict) == {"api_key", "api_base_url"}


def test_oauth_config_needs_the_client_but_not_the_data_centre():
    with pytest.raises(ValidationError) as failure:
        registry.get("mailchimp").clean_config({"client_id": "123"})

    assert "api_key" in failure.value.message_dict
    config, secrets = registry.get("mailchimp").clean_config({"client_id": "123", "client_secret": "s"})
    assert (config, secrets) == ({"client_id": "123"}, {"client_secret": "s"})  # Mailchimp names the dc itself
    config, _ = registry.get("mailchimp").clean_config({"client_id": "123", "client_secret": "s", "dc": "us6"})
    assert config["dc"] == "us6"


# --- webhooks ---------------------------------------------------------------------------------------------------

WEBHOOK_SECRET = "hook-s3cret"
SUBSCRIBE = urlencode(
    {
        "type": "subscribe",
        "fired_at": "2026-04-25 14:30:00",
        "data[id]": "8a25ff1d98",
        "data[list_id]": LIST_ID,
        "data[email]": "customer@example.com",
        "data[merges][FNAME]": "Octavia",
        "data[merges][LNAME]": "Chen",
    }
).encode()


def test_webhook_with_the_secret_in_the_url_is_accepted_and_parsed():
    event = provider().verify_webhook(
        method="POST",
        url=f"https://hub.example.com/hooks/mailchimp/1?secret={WEBHOOK_SECRET}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailChimp"},
        body=SUBSCRIBE,
        secret=WEBHOOK_SECRET,
    )

    assert event.event_type == "subscribe"
    assert event.payload == {
        "type": "subscribe",
        "fired_at": "2026-04-25 14:30:00",
        "data": {
            "id": "8a25ff1d98",
            "list_id": LIST_ID,
            "email": "customer@example.com",
            "merges": {"FNAME": "Octavia", "LNAME": "Chen"},
        },
    }
    assert event.event_id == "subscribe-" + hashlib.sha256(SUBSCRIBE).hexdigest()[:32]


@pytest.mark.parametrize(
    "url", ["https://hub.example.com/hooks/mailchimp/1?secret=wrong", "https://hub.example.com/hooks/mailchimp/1"]
)
def test_webhook_with_a_wrong_or_missing_secret_is_rejected(url):
    with pytest.raises(WebhookVerificationError, match="secret"):
        provider().verify_webhook(method="POST", url=url, headers={}, body=SUBSCRIBE, secret=WEBHOOK_SECRET)


def test_webhook_without_a_configured_secret_is_rejected():
    with pytest.raises(WebhookVerificationError, match="no webhook secret"):
        provider().verify_webhook(
            method="POST", url="https://hub.example.com/h?secret=", headers={}, body=SUBSCRIBE, secret=""
        )


def test_get_validation_is_answered_only_when_the_url_secret_matches():
    assert provider().webhook_handshake(method="GET", query={"secret": WEBHOOK_SECRET}, secret=WEBHOOK_SECRET) == ""
    assert provider().webhook_handshake(method="POST", query={"secret": WEBHOOK_SECRET}, secret=WEBHOOK_SECRET) is None
    with pytest.raises(WebhookVerificationError):
        provider().webhook_handshake(method="GET", query={"secret": "nope"}, secret=WEBHOOK_SECRET)


def test_an_oauth_connection_finds_its_data_centre_in_mailchimps_metadata(provider_context, httpserver, monkeypatch):
    import apps.connectors.providers.mailchimp as module

    FakeMailchimp(httpserver, bearer="oauth-token")
    seen = []

    def metadata(request):
        seen.append(request.headers.get("Authorization"))
        base = httpserver.url_for("/").rstrip("/")  # Mailchimp's answer names https://us21.api.mailchimp.com
        return Response(json.dumps({"dc": "us21", "api_endpoint": base, "login_url": "https://login.mailchimp.com"}),
                        content_type="application/json")  # fmt: skip

    httpserver.expect_request("/oauth2/metadata").respond_with_handler(metadata)
    monkeypatch.setattr(module, "OAUTH_METADATA_URL", httpserver.url_for("/oauth2/metadata"))
    config, _ = registry.get("mailchimp").clean_config({"client_id": "cid", "client_secret": "cs", "list_id": LIST_ID})
    ctx = provider_context("mailchimp", config, {"client_secret": "cs", "access_token": "oauth-token"})

    provider().check(ctx)

    assert "dc" not in config  # nobody typed it
    assert seen == ["OAuth oauth-token"]  # the metadata endpoint's own scheme
