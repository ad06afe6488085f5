"""Bounds on input, as a client meets them: no list answers more than API_MAX_PAGE_SIZE items, however large the
`limit` (every list of the OpenAPI schema is walked), and a request body over API_MAX_BODY_BYTES answers 413 on
every endpoint, signed in or not, before anything is read or written."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant, User
from apps.accounts.services import api_key_create
from apps.agents.models import Document
from apps.integrations.models import Subscription
from tests.connectors.providers.test_wordpress import APP_PASSWORD, USER, FakeWordPress
from tests.factories import PASSWORD, bearer, make_member, make_tenant

pytestmark = pytest.mark.django_db

MAX = 3  # API_MAX_PAGE_SIZE in these tests
HUGE = "100000"

# Lists that are not paged, each bounded by something other than a page size.
UNPAGED = {
    "/api/v1/agent-templates/": "the fixed catalogue of agent templates",
    "/api/v1/connectors/": "the fixed catalogue of connectors",
    "/api/v1/workflows/templates/": "the fixed catalogue of workflow templates",
    "/api/v1/rules/action-types/": "the fixed catalogue of rule action types",
    "/api/v1/agents/{id}/available-tools/": "one entry per connection of the tenant; the tools editor shows all",
}
# Lists that refuse a limit over their own, smaller maximum instead of clamping it.
REFUSED_OVER_MAX = {
    "/api/v1/knowledge/search/": ({"q": "anything"}, {"limit": ["An integer from 1 to 50."]}),
}


def list_operations(schema: dict) -> dict[str, dict]:
    """Every GET of the schema that answers a list: it takes `limit`, answers a Paginated... body or an array."""
    found = {}
    for path, item in schema["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        body = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        paginated = body.get("$ref", "").rsplit("/", 1)[-1].startswith("Paginated")
        if "limit" in query or paginated or body.get("type") == "array":
            found[path] = {"limit": "limit" in query, "array": body.get("type") == "array"}
    return found


@pytest.fixture
def acme(api, httpserver, settings):
    """A tenant with more than MAX rows in several lists, and a connection to a loopback WordPress of 30 posts."""
    settings.API_MAX_PAGE_SIZE = MAX
    tenant = make_tenant(slug="acme-bounds")
    owner = make_member(tenant, "owner")
    auth = bearer(owner, tenant)
    for index in range(MAX + 1):
        make_member(tenant, "viewer")
        api_key_create(
            tenant=tenant,
            name=f"k{index}",
            scopes=["members:read"],
            expires_at=None,
            created_by=owner,
            actor=Actor.system("test"),
        )
        assert (
            api.post("/api/v1/events/", {"type": "shop.order.created", "payload": {"n": index}}, **auth).status_code
            == 202
        )
        assert api.post("/api/v1/knowledge/collections/", {"name": f"C{index}"}, **auth).status_code == 201
    wordpress = FakeWordPress(httpserver, posts=30)
    body = {
        "provider": "wordpress",
        "name": "Blog",
        "config": {"site_url": wordpress.site_url, "username": USER, "application_password": APP_PASSWORD},
    }
    connection = api.post("/api/v1/connections/", body, **auth).json()["id"]
    for _ in range(MAX + 1):
        assert api.post(f"/api/v1/connections/{connection}/test/", **auth).json()["ok"] is True
    return {"tenant": tenant, "owner": owner, "auth": auth, "connection": connection}


# --- page size ---------------------------------------------------------------------------------------------------


def test_no_list_of_the_schema_answers_more_than_the_maximum_page_size(api, acme):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    lists = list_operations(schema)
    connection = f"/api/v1/connections/{acme['connection']}"
    with_ids = {
        "/api/v1/connections/{id}/health/": f"{connection}/health/",
        "/api/v1/connections/{id}/resources/{resource_name}/": f"{connection}/resources/posts/",
    }
    over_max = {
        "/api/v1/members/",
        "/api/v1/api-keys/",
        "/api/v1/audit-log/",
        "/api/v1/events/",
        "/api/v1/knowledge/collections/",
        "/api/v1/connections/{id}/health/",
        "/api/v1/connections/{id}/resources/{resource_name}/",
    }

    assert {path for path, kind in lists.items() if kind["array"] and not kind["limit"]} == set(UNPAGED)
    assert len(lists) > 20
    checked = set()
    for path in sorted(lists):
        if path in UNPAGED and "{" in path:
            continue
        assert "{" not in path or path in with_ids, f"{path}: a list under an id the walker cannot fill in"
        url = with_ids.get(path, path)
        extra, refused = REFUSED_OVER_MAX.get(path, ({}, None))

        response = api.get(url, {"limit": HUGE, **extra}, **acme["auth"])

        if refused is not None:
            assert (response.status_code, response.json()) == (400, refused), path
            continue
        assert response.status_code == 200, (path, response.content[:300])
        body = response.json()
        items = body if isinstance(body, list) else body.get("results", body.get("records"))
        assert isinstance(items, list), path
        if path in UNPAGED:
            continue
        assert len(items) <= MAX, (path, len(items))
        if path in over_max:
            assert len(items) == MAX, path
            assert body.get("count", MAX + 1) > MAX or body.get("next_cursor"), path
        checked.add(path)
    assert over_max <= checked


def test_a_list_without_limit_answers_a_page_no_larger_than_the_maximum(api, acme):
    body = api.get("/api/v1/audit-log/", **acme["auth"]).json()

    assert len(body["results"]) == MAX < body["count"]
    assert f"limit={MAX}" in body["next"]


def test_the_maximum_is_read_at_request_time(api, acme, settings):
    settings.API_MAX_PAGE_SIZE = 2

    audit = api.get("/api/v1/audit-log/", {"limit": HUGE}, **acme["auth"]).json()
    posts = api.get(f"/api/v1/connections/{acme['connection']}/resources/posts/", {"limit": HUGE}, **acme["auth"])

    assert len(audit["results"]) == 2
    assert len(posts.json()["records"]) == 2


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"limit": "abc"}, {"limit": [f"An integer from 1 to {MAX}."]}),
        ({"limit": "0"}, {"limit": [f"An integer from 1 to {MAX}."]}),
        ({"limit": "-5"}, {"limit": [f"An integer from 1 to {MAX}."]}),
        ({"limit": "²"}, {"limit": [f"An integer from 1 to {MAX}."]}),
        ({"offset": "x"}, {"offset": ["A non-negative integer."]}),
    ],
)
def test_a_malformed_limit_or_offset_is_a_400_naming_it(api, acme, query, error):
    listed = api.get("/api/v1/audit-log/", query, **acme["auth"])
    preview = api.get(f"/api/v1/connections/{acme['connection']}/resources/posts/", query, **acme["auth"])

    assert (listed.status_code, listed.json()) == (400, error)
    if "limit" in query:
        assert (preview.status_code, preview.json()) == (400, error)


def test_an_offset_past_the_end_is_an_empty_page(api, acme):
    body = api.get("/api/v1/audit-log/", {"offset": "9" * 40}, **acme["auth"]).json()

    assert body["results"] == [] and body["count"] > 0


def test_every_page_tells_the_same_count_and_a_short_page_asks_no_count(api, acme):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    total = api.get("/api/v1/audit-log/", **acme["auth"]).json()["count"]
    offsets = (0, total - 1, total, total + 5)
    pages = [api.get("/api/v1/audit-log/", {"offset": offset}, **acme["auth"]).json() for offset in offsets]
    with CaptureQueriesContext(connection) as queries:
        last = api.get("/api/v1/audit-log/", {"offset": total - 1}, **acme["auth"]).json()

    assert total > MAX
    assert [page["count"] for page in pages] == [total] * 4
    assert [len(page["results"]) for page in pages] == [MAX, 1, 0, 0]
    assert (pages[1]["next"], pages[2]["next"]) == (None, None)
    assert last == pages[1]
    assert not [query for query in queries.captured_queries if "COUNT(" in query["sql"]]


# --- body size ---------------------------------------------------------------------------------------------------

LIMIT = 1024 * 1024
TOO_LARGE = {"detail": f"Request body larger than {LIMIT} bytes.", "code": "body_too_large", "limit": LIMIT}


def padded(body: dict, size: int) -> str:
    """`body` as JSON of exactly `size` bytes (an ignored field carries the padding)."""
    text = json.dumps({**body, "padding": ""})
    assert len(text) <= size
    return json.dumps({**body, "padding": "x" * (size - len(text))})


@pytest.fixture
def person(db):
    tenant = make_tenant(slug="acme-body")
    return tenant, make_member(tenant, "owner", email="owner@acme-body.test")


def test_an_oversized_login_is_refused_with_413_before_anything_is_read(api, person):
    credentials = {"email": "owner@acme-body.test", "password": PASSWORD}
    tokens = OutstandingToken.objects.count()

    refused = api.client.post("/api/v1/auth/login/", padded(credentials, LIMIT + 1), content_type="application/json")

    assert (refused.status_code, refused.json()) == (413, TOO_LARGE)
    assert OutstandingToken.objects.count() == tokens
    at_limit = api.client.post("/api/v1/auth/login/", padded(credentials, LIMIT), content_type="application/json")
    assert at_limit.status_code == 200
    assert OutstandingToken.objects.count() == tokens + 1


def test_an_oversized_sign_up_creates_no_account_or_tenant(api, db):
    body = {"email": "new@example.com", "password": PASSWORD, "tenant_name": "New", "tenant_slug": "new-co"}

    refused = api.client.post("/api/v1/auth/register/", padded(body, 2 * LIMIT), content_type="application/json")

    assert (refused.status_code, refused.json()) == (413, TOO_LARGE)
    assert not User.objects.filter(email="new@example.com").exists()
    assert not Tenant.objects.filter(slug="new-co").exists()


def test_an_oversized_body_to_a_signed_in_endpoint_writes_nothing(api, person):
    tenant, owner = person
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["shop.*"]}

    refused = api.client.post(
        "/api/v1/webhooks/subscriptions/",
        padded(body, LIMIT + 1),
        content_type="application/json",
        **bearer(owner, tenant),
    )

    assert (refused.status_code, refused.json()) == (413, TOO_LARGE)
    assert refused["X-Request-ID"]
    with schema_context(tenant.schema_name):
        assert Subscription.objects.count() == 0
    assert api.post("/api/v1/webhooks/subscriptions/", body, **bearer(owner, tenant)).status_code == 201


def test_the_limit_is_read_at_request_time(api, person, settings):
    settings.API_MAX_BODY_BYTES = 100

    refused = api.post("/api/v1/auth/login/", {"email": "owner@acme-body.test", "password": "p" * 100})

    assert refused.status_code == 413
    assert refused.json() == {"detail": "Request body larger than 100 bytes.", "code": "body_too_large", "limit": 100}


def test_a_body_without_a_content_length_is_not_read(api, person):
    """Chunked bodies: under WSGI Django reads nothing of a body it has no length for, so nothing large is ever
    held; the request is answered as the empty body it is to Django."""
    credentials = padded({"email": "owner@acme-body.test", "password": PASSWORD}, 4 * LIMIT)
    tokens = OutstandingToken.objects.count()

    response = api.client.post(
        "/api/v1/auth/login/",
        credentials,
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"email", "password"}
    assert OutstandingToken.objects.count() == tokens


def test_knowledge_uploads_may_be_larger_but_their_form_fields_may_not(api, person, settings):
    tenant, owner = person
    auth = bearer(owner, tenant)
    collection = api.post("/api/v1/knowledge/collections/", {"name": "Docs"}, **auth).json()["id"]
    settings.API_MAX_BODY_BYTES = 1000  # below the file; the upload's own limit applies to it

    upload = api.client.post(
        "/api/v1/knowledge/documents/",
        {"collection": collection, "file": SimpleUploadedFile("notes.txt", b"Plain notes. " * 400)},
        **auth,
    )
    big_field = api.client.post(
        "/api/v1/knowledge/documents/",
        {"collection": collection, "title": "t" * (LIMIT + 1), "file": SimpleUploadedFile("x.txt", b"Small note.")},
        **auth,
    )
    as_json = api.post("/api/v1/knowledge/documents/", {"collection": collection, "title": "t" * 2000}, **auth)

    assert upload.status_code == 201, upload.content
    # the form field is over DATA_UPLOAD_MAX_MEMORY_SIZE: Django's RequestDataTooBig, answered like the rest
    assert (big_field.status_code, big_field.json()) == (413, TOO_LARGE)
    assert as_json.status_code == 413
    assert as_json.json() == {"detail": "Request body larger than 1000 bytes.", "code": "body_too_large", "limit": 1000}
    with schema_context(tenant.schema_name):
        assert list(Document.objects.values_list("filename", flat=True)) == ["notes.txt"]


def test_webhook_intake_keeps_its_own_limit(api, db, settings):
    settings.API_MAX_BODY_BYTES = 100
    settings.WEBHOOK_MAX_BODY_BYTES = 1000

    within = api.client.post("/hooks/no-such-token/", "x" * 500, content_type="application/json")
    over = api.client.post("/hooks/no-such-token/", "x" * 1001, content_type="application/json")

    assert within.status_code == 404  # past the general limit, within the webhook one: the token decides
    assert (over.status_code, over.json()) == (413, {"detail": "Body larger than 1000 bytes."})
