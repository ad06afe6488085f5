"""FluentCRM against a loopback server that follows the fluent-crm/v2 contract (developers.fluentcrm.com/rest-api)."""

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
    NotFoundError,
    ProviderRequestError,
    ProviderUnavailableError,
)
from apps.connectors.registry import registry

USER, APP_PASSWORD = "crm_api", "abcd EFGH ijkl MNOP qrst UVWX"
EXPECTED_AUTH = "Basic " + base64.b64encode(f"{USER}:{APP_PASSWORD}".encode()).decode()
BASE = "/wp-json/fluent-crm/v2"
TAGS = [
    {"id": 1, "title": "VIP Customer", "slug": "vip-customer"},
    {"id": 2, "title": "Newsletter", "slug": "newsletter"},
]


def contact(n: int, **overrides) -> dict:
    return {
        "id": n,
        "user_id": None,
        "hash": f"hash{n:04d}",
        "contact_owner": None,
        "company_id": None,
        "prefix": "",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "full_name": f"First{n} Last{n}",
        "email": f"person{n}@example.com",
        "status": "subscribed",
        "contact_type": "lead",
        "phone": f"+1555000{n:04d}",
        "total_points": n * 10,
        "created_at": "2024-01-15 10:30:00",
        "updated_at": f"2024-03-{1 + n % 28:02d} 14:30:00",
        "tags": [TAGS[0]] if n % 2 else [],
        "lists": [],
        **overrides,
    }


def json_response(body, status=200, headers=None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


class FakeFluentCRM:
    """fluent-crm/v2: Basic auth with a WordPress application password; `page`/`per_page` pagination answered as
    `{"subscribers": {paginator}}`; create-or-update with `__force_update`; tag attach through sync-segments."""

    def __init__(self, httpserver, contacts: int = 25):
        self.server = httpserver
        self.contacts = [contact(n) for n in range(1, contacts + 1)]
        self.list_queries: list[dict] = []
        self.upserts: list[dict] = []
        self.syncs: list[dict] = []
        httpserver.expect_request(f"{BASE}/subscribers", method="GET").respond_with_handler(self.list_contacts)
        httpserver.expect_request(f"{BASE}/subscribers", method="POST").respond_with_handler(self.create)
        httpserver.expect_request(f"{BASE}/subscribers/sync-segments", method="POST").respond_with_handler(self.sync)

    @property
    def site_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _unauthorised(self, request):
        sent = request.headers.get("Authorization")
        if sent is None:  # FluentCRM's route permission check, no user
            body = {
                "code": "rest_forbidden",
                "message": "Sorry, you are not allowed to do that.",
                "data": {"status": 401},
            }
            return json_response(body, status=401)
        if sent != EXPECTED_AUTH:  # WordPress core's application-password check
            body = {
                "code": "incorrect_password",
                "message": "The provided password is an invalid application password.",
                "data": {"status": 401},
            }
            return json_response(body, status=401)
        return None

    def list_contacts(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        self.list_queries.append(dict(request.args))
        page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 15))
        sort_by, sort_type = request.args.get("sort_by", "id"), request.args.get("sort_type", "DESC")
        ordered = sorted(self.contacts, key=lambda c: c[sort_by], reverse=sort_type.upper() == "DESC")
        chunk = ordered[(page - 1) * per_page : page * per_page]
        last_page = max(1, -(-len(ordered) // per_page))
        url = f"{BASE}/subscribers"
        return json_response(
            {
                "subscribers": {
                    "total": len(ordered),
                    "per_page": per_page,
                    "current_page": page,
                    "last_page": last_page,
                    "next_page_url": f"{url}?page={page + 1}" if page < last_page else None,
                    "prev_page_url": f"{url}?page={page - 1}" if page > 1 else None,
                    "from": (page - 1) * per_page + 1 if chunk else None,
                    "to": (page - 1) * per_page + len(chunk) if chunk else None,
                    "data": chunk,
                },
                "custom": None,
            }
        )

    def create(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        self.upserts.append(body)
        errors = {name: [f"The {name} field is required."] for name in ("email", "status") if not body.get(name)}
        if errors:
            return json_response({"message": next(iter(errors.values()))[0], "errors": errors}, status=422)
        fields = {k: v for k, v in body.items() if k in ("email", "status", "first_name", "last_name", "phone")}
        existing = next((c for c in self.contacts if c["email"] == body["email"]), None)
        if existing and body.get("__force_update") != "yes":
            message = "Provided email already assigned to another subscriber."
            return json_response({"message": message, "errors": {"email": [message]}}, status=422)
        if existing:
            existing.update(fields, updated_at="2024-04-01 09:00:00")
            return json_response({"message": "Contact has been updated", "contact": existing, "action_type": "updated"})
        created = contact(len(self.contacts) + 1, first_name="", last_name="", phone="", tags=[], total_points=0)
        created.update(fields)
        self.contacts.append(created)
        return json_response(
            {"message": "Successfully added the subscriber.", "contact": created, "action_type": "created"}
        )

    def sync(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        self.syncs.append(body)
        find_by = body.get("find_by", "slug")
        wanted = {str(value) for value in body.get("attach", [])}
        attach = [tag for tag in TAGS if str(tag[find_by]) in wanted]  # unknown tags are skipped
        touched = []
        for c in self.contacts:
            if c["id"] in [int(s) for s in body["subscribers"]]:
                c["tags"] = c["tags"] + [tag for tag in attach if tag not in c["tags"]]
                touched.append(c)
        return json_response({"message": "Successfully updated the subscriber.", "subscribers": touched})


@pytest.fixture
def fluentcrm(httpserver):
    return FakeFluentCRM(httpserver)


def context(provider_context, site_url, password=APP_PASSWORD):
    return provider_context("fluentcrm", {"site_url": site_url, "username": USER}, {"application_password": password})


def site(httpserver) -> str:
    return httpserver.url_for("/").rstrip("/")


def provider():
    return registry.get("fluentcrm")()


def read_all(ctx, limit=10):
    cursor, records, pages = None, [], 0
    while True:
        page = provider().read(ctx, "subscribers", cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


# --- reads ----------------------------------------------------------------------------------------------------


def test_reads_every_contact_across_pages_oldest_first_normalised_with_raw(provider_context, fluentcrm):
    records, pages = read_all(context(provider_context, fluentcrm.site_url), limit=10)

    assert pages == 3
    assert [r.id for r in records] == [str(n) for n in range(1, 26)]
    assert records[0].data == {
        "id": "1",
        "email": "person1@example.com",
        "first_name": "First1",
        "last_name": "Last1",
        "phone": "+15550000001",
        "company": None,
        "tags": ["VIP Customer"],
        "lead_score": 10,
        "created_at": "2024-01-15 10:30:00",
        "updated_at": "2024-03-02 14:30:00",
    }
    assert records[1].data["tags"] == []
    assert records[0].raw == contact(1)
    assert [(q["page"], q["per_page"], q["sort_by"], q["sort_type"]) for q in fluentcrm.list_queries] == [
        ("1", "10", "id", "ASC"),
        ("2", "10", "id", "ASC"),
        ("3", "10", "id", "ASC"),
    ]


def test_a_large_limit_is_capped_at_100_per_page(provider_context, fluentcrm):
    page = provider().read(context(provider_context, fluentcrm.site_url), "subscribers", cursor=None, limit=500)

    assert fluentcrm.list_queries[0]["per_page"] == "100"
    assert len(page.records) == 25
    assert page.next_cursor is None


def test_an_empty_crm_reads_as_one_empty_page(provider_context, httpserver):
    fake = FakeFluentCRM(httpserver, contacts=0)

    page = provider().read(context(provider_context, fake.site_url), "subscribers", cursor=None, limit=10)

    assert (page.records, page.next_cursor) == ([], None)


def test_a_body_that_is_not_the_documented_paginator_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(f"{BASE}/subscribers").respond_with_json([contact(1)])  # a bare list, not documented

    with pytest.raises(BadResponseError, match="unexpected body"):
        provider().read(context(provider_context, site(httpserver)), "subscribers", cursor=None, limit=10)


# --- check and errors -----------------------------------------------------------------------------------------


def test_check_with_the_right_password_makes_one_cheap_call(provider_context, fluentcrm):
    provider().check(context(provider_context, fluentcrm.site_url))

    assert [(q["page"], q["per_page"]) for q in fluentcrm.list_queries] == [("1", "1")]


def test_check_with_a_wrong_password_is_an_authentication_error_with_the_providers_message(provider_context, fluentcrm):
    with pytest.raises(AuthenticationError) as failure:
        provider().check(context(provider_context, fluentcrm.site_url, password="wrong-password"))

    assert failure.value.provider_status == 401
    assert "The provided password is an invalid application password." in failure.value.message
    assert "wrong-password" not in failure.value.message


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{BASE}/subscribers").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    httpserver.expect_ordered_request(f"{BASE}/subscribers").respond_with_json(
        {"subscribers": {"current_page": 1, "last_page": 1, "data": [contact(1)]}}
    )
    ctx = context(provider_context, site(httpserver))

    started = time.monotonic()
    page = provider().read(ctx, "subscribers", cursor=None, limit=10)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["1"]
    assert len(httpserver.log) == 2


def test_5xx_then_success_is_retried_for_reads(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{BASE}/subscribers").respond_with_data("oops", status=502)
    httpserver.expect_ordered_request(f"{BASE}/subscribers").respond_with_json(
        {"subscribers": {"current_page": 1, "last_page": 1, "data": [contact(7)]}}
    )

    page = provider().read(context(provider_context, site(httpserver)), "subscribers", cursor=None, limit=10)

    assert [r.id for r in page.records] == ["7"]
    assert len(httpserver.log) == 2


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request(f"{BASE}/subscribers").respond_with_data("down", status=503)

    with pytest.raises(ProviderUnavailableError):
        provider().read(context(provider_context, site(httpserver)), "subscribers", cursor=None, limit=10)
    assert len(httpserver.log) == 4  # the first try and three retries


def test_malformed_json_is_a_clear_error(provider_context, httpserver):
    httpserver.expect_request(f"{BASE}/subscribers").respond_with_data("{not json", content_type="application/json")

    with pytest.raises(BadResponseError, match="not valid JSON"):
        provider().read(context(provider_context, site(httpserver)), "subscribers", cursor=None, limit=10)


def test_a_plain_http_site_that_is_not_local_is_refused_before_any_call(provider_context):
    with pytest.raises(ConfigurationError, match="HTTPS"):
        context(provider_context, "http://crm.example.com")


# --- actions --------------------------------------------------------------------------------------------------


def test_upsert_contact_creates_a_new_contact_with_force_update(provider_context, fluentcrm):
    payload = (
        registry.get("fluentcrm").action("upsert_contact").clean({"email": "ada@example.com", "first_name": "Ada"})
    )

    result = provider().perform(context(provider_context, fluentcrm.site_url), "upsert_contact", payload)

    assert fluentcrm.upserts == [
        {"email": "ada@example.com", "status": "subscribed", "first_name": "Ada", "__force_update": "yes"}
    ]
    assert result["id"] == "26"
    assert result["action"] == "created"
    assert result["record"]["email"] == "ada@example.com"
    assert result["record"]["first_name"] == "Ada"
    assert result["record"]["last_name"] is None


def test_upsert_contact_updates_the_contact_with_that_email(provider_context, fluentcrm):
    payload = (
        registry.get("fluentcrm")
        .action("upsert_contact")
        .clean({"email": "person3@example.com", "last_name": "Lovelace", "phone": "+44 20 0000", "status": "pending"})
    )

    result = provider().perform(context(provider_context, fluentcrm.site_url), "upsert_contact", payload)

    assert fluentcrm.upserts == [
        {
            "email": "person3@example.com",
            "status": "pending",
            "last_name": "Lovelace",
            "phone": "+44 20 0000",
            "__force_update": "yes",
        }
    ]
    assert (result["id"], result["action"]) == ("3", "updated")
    assert result["record"]["last_name"] == "Lovelace"
    assert result["record"]["updated_at"] == "2024-04-01 09:00:00"
    assert len(fluentcrm.contacts) == 25


def test_upsert_contact_rejected_by_fluentcrm_carries_its_message(provider_context, httpserver):
    message = "Provided email already assigned to another subscriber."
    httpserver.expect_request(f"{BASE}/subscribers", method="POST").respond_with_response(
        json_response({"message": message, "errors": {"email": [message]}}, status=422)
    )

    with pytest.raises(ProviderRequestError) as failure:
        provider().perform(
            context(provider_context, site(httpserver)),
            "upsert_contact",
            {"email": "a@example.com", "status": "subscribed"},
        )

    assert failure.value.provider_status == 422
    assert message in failure.value.message


def test_upsert_contact_is_not_sent_twice_after_a_5xx(provider_context, httpserver):
    httpserver.expect_request(f"{BASE}/subscribers", method="POST").respond_with_data("oops", status=502)

    with pytest.raises(ProviderUnavailableError):
        provider().perform(
            context(provider_context, site(httpserver)),
            "upsert_contact",
            {"email": "a@example.com", "status": "subscribed"},
        )
    assert len(httpserver.log) == 1


def test_add_tag_by_slugs_sends_the_documented_sync_segments_body(provider_context, fluentcrm):
    payload = (
        registry.get("fluentcrm").action("add_tag").clean({"subscriber_id": "2", "tags": "vip-customer, newsletter"})
    )

    result = provider().perform(context(provider_context, fluentcrm.site_url), "add_tag", payload)

    assert fluentcrm.syncs == [
        {"subscribers": [2], "type": "tags", "attach": ["vip-customer", "newsletter"], "find_by": "slug"}
    ]
    assert result["id"] == "2"
    assert result["tags"] == ["VIP Customer", "Newsletter"]
    assert result["missing"] == []
    assert result["record"]["tags"] == ["VIP Customer", "Newsletter"]


def test_add_tag_by_ids_reports_the_tags_fluentcrm_does_not_have(provider_context, fluentcrm):
    payload = registry.get("fluentcrm").action("add_tag").clean({"subscriber_id": 1, "tags": "2,99"})

    result = provider().perform(context(provider_context, fluentcrm.site_url), "add_tag", payload)

    assert fluentcrm.syncs == [{"subscribers": [1], "type": "tags", "attach": ["2", "99"], "find_by": "id"}]
    assert result["tags"] == ["VIP Customer", "Newsletter"]
    assert result["missing"] == ["99"]


def test_add_tag_to_a_contact_that_does_not_exist_is_not_found(provider_context, fluentcrm):
    with pytest.raises(NotFoundError, match="no contact with id 404"):
        provider().perform(
            context(provider_context, fluentcrm.site_url), "add_tag", {"subscriber_id": 404, "tags": ["newsletter"]}
        )


def test_add_tag_is_retried_after_a_5xx_because_attaching_is_repeatable(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{BASE}/subscribers/sync-segments").respond_with_data("oops", status=503)
    httpserver.expect_ordered_request(f"{BASE}/subscribers/sync-segments").respond_with_json(
        {"message": "ok", "subscribers": [contact(3, tags=[TAGS[1]])]}
    )

    result = provider().perform(
        context(provider_context, site(httpserver)), "add_tag", {"subscriber_id": 3, "tags": ["newsletter"]}
    )

    assert result["tags"] == ["Newsletter"]
    assert len(httpserver.log) == 2


# --- input validation -----------------------------------------------------------------------------------------


def errors_of(action: str, payload: dict) -> dict:
    with pytest.raises(ValidationError) as failure:
        registry.get("fluentcrm").action(action).clean(payload)
    return failure.value.message_dict


def test_upsert_contact_input_is_validated_field_by_field():
    assert errors_of("upsert_contact", {"email": "not-an-email", "status": "active", "colour": "red"}) == {
        "email": ["Enter a valid email address."],
        "status": ["One of: subscribed, pending, unsubscribed, bounced, complained."],
        "colour": ["Unknown field."],
    }
    assert errors_of("upsert_contact", {"first_name": "Ada"}) == {"email": ["This field is required."]}


def test_upsert_contact_defaults_the_required_status_to_subscribed():
    assert registry.get("fluentcrm").action("upsert_contact").clean({"email": " ada@example.com "}) == {
        "email": "ada@example.com",
        "status": "subscribed",
    }


def test_add_tag_input_is_validated_field_by_field():
    assert errors_of("add_tag", {"subscriber_id": "abc", "tags": " , "}) == {
        "subscriber_id": ["Must be an integer."],
        "tags": ["Give at least one tag id or slug."],
    }
    assert errors_of("add_tag", {"subscriber_id": 1, "tags": "3,vip"}) == {
        "tags": ["Give either tag ids or tag slugs, not both."]
    }
    assert errors_of("add_tag", {"subscriber_id": 1, "tags": "VIP Customer!"}) == {
        "tags": ["Not a tag slug: VIP Customer!."]
    }
    assert errors_of("add_tag", {"subscriber_id": 1}) == {"tags": ["This field is required."]}


def test_add_tag_input_cleans_to_a_deduplicated_list():
    assert registry.get("fluentcrm").action("add_tag").clean({"subscriber_id": "5", "tags": "vip, news,vip"}) == {
        "subscriber_id": 5,
        "tags": ["vip", "news"],
    }


def test_secrets_are_declared_secret_and_kept_apart_from_config():
    fluent = registry.get("fluentcrm")

    config, secrets = fluent.clean_config(
        {"site_url": "https://crm.example.com/", "username": USER, "application_password": APP_PASSWORD}
    )

    assert {f.name for f in fluent.config_fields if f.secret} == {"application_password", "webhook_secret"}
    assert config == {"site_url": "https://crm.example.com", "username": USER}
    assert secrets == {"application_password": APP_PASSWORD}
    assert fluent.describe()["resources"] == [
        {
            "name": "subscribers",
            "model": "crm.contact",
            "description": "Contacts (FluentCRM subscribers), oldest first",
            "window": None,
        }
    ]


# --- webhooks -------------------------------------------------------------------------------------------------


def webhook(body: bytes, headers: dict, secret="s3cret-value"):
    return provider().verify_webhook(
        method="POST", url="https://hub.example/hooks/fluentcrm", headers=headers, body=body, secret=secret
    )


def test_webhook_with_the_shared_secret_header_is_accepted():
    body = json.dumps({"event": "contact_tag_added", "id": 5, "email": "person5@example.com"}).encode()

    event = webhook(body, {"Content-Type": "application/json", "X-BizOSaaS-Webhook-Secret": "s3cret-value"})

    assert event.event_type == "contact_tag_added"
    assert event.payload == {"event": "contact_tag_added", "id": 5, "email": "person5@example.com"}
    assert event.event_id == f"contact_tag_added:5:{hashlib.sha256(body).hexdigest()[:32]}"


def test_webhook_sent_as_form_data_is_accepted_and_parsed():
    body = urlencode({"id": "5", "email": "person5@example.com"}).encode()

    event = webhook(
        body, {"content-type": "application/x-www-form-urlencoded", "x-bizosaas-webhook-secret": "s3cret-value"}
    )

    assert event.event_type == "fluentcrm.webhook"
    assert event.payload == {"id": "5", "email": "person5@example.com"}


def test_the_same_webhook_body_twice_has_one_event_id_and_a_different_body_another():
    headers = {"X-BizOSaaS-Webhook-Secret": "s3cret-value"}
    first = webhook(b'{"id": 5, "status": "subscribed"}', headers)

    assert webhook(b'{"id": 5, "status": "subscribed"}', headers).event_id == first.event_id
    assert webhook(b'{"id": 5, "status": "unsubscribed"}', headers).event_id != first.event_id


@pytest.mark.parametrize(
    ("headers", "secret"),
    [
        ({"X-BizOSaaS-Webhook-Secret": "s3cret-valuX"}, "s3cret-value"),  # wrong secret
        ({}, "s3cret-value"),  # no header
        ({"X-BizOSaaS-Webhook-Secret": ""}, ""),  # no secret configured: never accept
    ],
)
def test_webhook_without_the_right_shared_secret_is_rejected(headers, secret):
    with pytest.raises(WebhookVerificationError, match="shared secret"):
        webhook(b'{"id": 5}', headers, secret=secret)


def test_webhook_with_the_secret_but_a_body_that_is_not_json_is_rejected():
    with pytest.raises(WebhookVerificationError, match="not JSON"):
        webhook(b"<html>", {"X-BizOSaaS-Webhook-Secret": "s3cret-value"})
