"""Shopify against a loopback server that follows the Admin REST API (2026-10) contract."""

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    ProviderRequestError,
    ProviderUnavailableError,
    RateLimitedError,
)
from apps.connectors.registry import registry

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
OAUTH_TOKEN = "shpua_fedcba9876543210fedcba9876543210"
CLIENT_SECRET = "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"
API = "/admin/api/2026-10"
THROTTLED = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def order(n: int) -> dict:
    return {
        "id": 450789469 + n,
        "name": f"#{1000 + n}",
        "order_number": 1000 + n,
        "email": f"buyer{n}@example.com" if n % 2 else "",
        "contact_email": f"buyer{n}@example.com" if n % 2 else None,
        "customer": {"id": 207119551 + n, "email": f"customer{n}@example.com"},
        "financial_status": "paid" if n % 3 else "pending",
        "cancelled_at": "2026-10-05T12:00:00-04:00" if n == 3 else None,
        "closed_at": "2026-10-06T12:00:00-04:00" if n == 4 else None,
        "currency": "EUR",
        "total_price": f"{n * 10}.95",
        "tags": "vip, wholesale" if n == 1 else "",
        "created_at": f"2026-10-{n:02d}T09:00:00-04:00",
        "updated_at": f"2026-11-{n:02d}T09:00:00-04:00",
    }


def product(n: int) -> dict:
    """A Product node as the GraphQL Admin API answers the connector's query."""
    return {
        "id": f"gid://shopify/Product/{632910392 + n}",
        "legacyResourceId": str(632910392 + n),
        "title": f"Product {n}",
        "status": "ACTIVE" if n % 2 else "DRAFT",
        "createdAt": f"2026-10-{n:02d}T13:00:00Z",
        "updatedAt": f"2026-09-{n:02d}T14:00:00Z",
        "totalInventory": n + 2,
        "variants": {"nodes": [{"sku": f"SKU-{n}-A", "price": f"{n}.00"}]},
    }


def throttled(requested: float, available: float, restore_rate: float) -> dict:
    """Shopify's THROTTLED answer (HTTP 200): the error, and the cost the query asked against the bucket's state."""
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
            }
        ],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": available,
                    "restoreRate": restore_rate,
                },
            }
        },
    }


def customer(n: int) -> dict:
    return {
        "id": 207119551 + n,
        "email": f"person{n}@example.com",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "phone": f"+1613555{n:04d}" if n % 2 else None,
        "tags": "newsletter, repeat" if n == 1 else "",
        "default_address": {"company": f"Company {n}", "phone": "+16135550000"},
        "created_at": f"2026-08-{n:02d}T10:00:00-04:00",
        "updated_at": f"2026-08-{n:02d}T11:00:00-04:00",
    }


def json_response(body, status=200, headers=None):
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json; charset=utf-8",
        headers={"X-Shopify-Shop-Api-Call-Limit": "1/40", **(headers or {})},
    )


class FakeShopify:
    """Admin REST API: X-Shopify-Access-Token, `limit` (max 250) and Link-header `page_info` cursors; a page_info
    request accepts only `limit` and `fields`; orders default to status=open."""

    def __init__(self, httpserver, tokens=(TOKEN, OAUTH_TOKEN), read_all_orders=True):
        self.server = httpserver
        self.scopes = ["read_orders", "read_products", "read_customers"] + (["read_all_orders"] * read_all_orders)
        self.tokens = set(tokens)
        self.data = {
            "orders": [order(n) for n in range(1, 8)],
            "products": [product(n) for n in range(1, 6)],
            "customers": [customer(n) for n in range(1, 4)],
        }
        self.requests: list[dict] = []
        self.updates: list[dict] = []
        for resource in ("orders", "customers"):
            httpserver.expect_request(f"{API}/{resource}.json", method="GET").respond_with_handler(
                lambda request, resource=resource: self.list(request, resource)
            )
        self.graphql_requests: list[dict] = []
        self.graphql_answers: list[dict] = []  # answered (HTTP 200) before anything else: throttles, errors
        httpserver.expect_request(f"{API}/graphql.json", method="POST").respond_with_handler(self.graphql)
        httpserver.expect_request(f"{API}/shop.json", method="GET").respond_with_handler(self.shop)
        httpserver.expect_request("/admin/oauth/access_scopes.json").respond_with_handler(self.access_scopes)
        for item in self.data["orders"]:
            httpserver.expect_request(f"{API}/orders/{item['id']}.json", method="PUT").respond_with_handler(
                lambda request, item=item: self.update_order(request, item)
            )

    @property
    def base(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _unauthorised(self, request):
        if request.headers.get("X-Shopify-Access-Token") not in self.tokens:
            return json_response({"errors": INVALID_TOKEN}, status=401)
        return None

    def access_scopes(self, request):
        return self._unauthorised(request) or json_response({"access_scopes": [{"handle": s} for s in self.scopes]})

    def shop(self, request):
        return self._unauthorised(request) or json_response({"shop": {"id": 548380009, "name": "Example"}})

    def list(self, request, resource):
        denied = self._unauthorised(request)
        if denied:
            return denied
        args = request.args.to_dict()
        self.requests.append({"resource": resource, **args})
        limit = int(args.get("limit", 50))
        if limit > 250:
            return json_response({"errors": {"limit": ["must be less than or equal to 250"]}}, status=400)
        items = self.data[resource]
        if "page_info" in args:
            extra = set(args) - {"page_info", "limit", "fields"}
            if extra:
                return json_response({"errors": {"page_info": [f"{sorted(extra)} cannot be used with page_info"]}}, 400)
            # the token remembers the first page's filters, as Shopify's does
            _resource, offset, status, low, high = base64.urlsafe_b64decode(args["page_info"]).decode().split("|")
            offset = int(offset)
        else:
            offset, status = 0, args.get("status", "open") if resource == "orders" else ""
            low, high = args.get("created_at_min", ""), args.get("created_at_max", "")
        if status == "open":
            items = [o for o in items if not o["cancelled_at"] and not o["closed_at"]]
        # created_at_min / created_at_max: at or after / at or before an ISO 8601 time with offset
        if low:
            items = [i for i in items if datetime.fromisoformat(i["created_at"]) >= datetime.fromisoformat(low)]
        if high:
            items = [i for i in items if datetime.fromisoformat(i["created_at"]) <= datetime.fromisoformat(high)]

        def token_for(at: int) -> str:
            return base64.urlsafe_b64encode(f"{resource}|{at}|{status}|{low}|{high}".encode()).decode()

        chunk = items[offset : offset + limit]
        links = []
        url = self.server.url_for(f"{API}/{resource}.json")
        if offset > 0:
            token = token_for(max(0, offset - limit))
            links.append(f'<{url}?{urlencode({"limit": limit, "page_info": token})}>; rel="previous"')
        if offset + limit < len(items):
            token = token_for(offset + limit)
            links.append(f'<{url}?{urlencode({"limit": limit, "page_info": token})}>; rel="next"')
        headers = {"Link": ", ".join(links)} if links else {}
        return json_response({resource: chunk}, headers=headers)

    def graphql(self, request):
        """GraphQL Admin API: POST {query, variables}, HTTP 200 for query errors; the products connection pages with
        `first` (max 250) / `after` (an opaque cursor) and filters with the `query` search syntax."""
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json(silent=True) or {}
        query, variables = str(body.get("query") or ""), body.get("variables") or {}
        self.graphql_requests.append(variables)
        if self.graphql_answers:
            return json_response(self.graphql_answers.pop(0))
        if "read_products" not in self.scopes:
            return json_response(
                {
                    "errors": [
                        {
                            "message": "Access denied for products field. Required access: `read_products` access "
                            "scope.",
                            "extensions": {"code": "ACCESS_DENIED"},
                        }
                    ]
                }
            )
        if query.startswith("mutation"):
            field = {"field": ["input", "title"], "message": "Title can't be blank"}
            return json_response({"data": {"productUpdate": {"product": None, "userErrors": [field]}}})
        if "products(first: $first, after: $after, query: $query" not in query:
            return json_response({"errors": [{"message": "Field 'products' is missing required arguments"}]})
        first = variables.get("first")
        if not isinstance(first, int) or not 1 <= first <= 250:
            return json_response({"errors": [{"message": "The first argument must be between 1 and 250."}]})
        items = sorted(self.data["products"], key=lambda node: int(node["legacyResourceId"]))
        for operator, moment in re.findall(r"created_at:(>=|<=)'([^']+)'", variables.get("query") or ""):
            bound = datetime.fromisoformat(moment)
            keep = (lambda at, b=bound: at >= b) if operator == ">=" else (lambda at, b=bound: at <= b)
            items = [node for node in items if keep(datetime.fromisoformat(node["createdAt"]))]
        offset = int(base64.b64decode(variables["after"]).decode().split(":")[1]) if variables.get("after") else 0
        chunk = items[offset : offset + first]
        more = offset + first < len(items)
        end = base64.b64encode(f"cursor:{offset + len(chunk)}".encode()).decode() if chunk else None
        cost = {"requestedQueryCost": 2 + first * 2, "actualQueryCost": 2 + len(chunk) * 2}
        return json_response(
            {
                "data": {"products": {"pageInfo": {"hasNextPage": more, "endCursor": end}, "nodes": chunk}},
                "extensions": {"cost": {**cost, "throttleStatus": {"maximumAvailable": 2000.0,
                                                                   "currentlyAvailable": 1990.0,
                                                                   "restoreRate": 100.0}}},
            }
        )  # fmt: skip

    def update_order(self, request, item):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        self.updates.append(body)
        if "<" in body["order"]["tags"]:
            return json_response({"errors": {"tags": ["contains invalid characters"]}}, status=422)
        return json_response({"order": {**item, "tags": body["order"]["tags"]}})


@pytest.fixture
def shopify(httpserver):
    return FakeShopify(httpserver)


def context(provider_context, base, credentials=None):
    credentials = {"admin_api_access_token": TOKEN} if credentials is None else credentials
    return provider_context("shopify", {"shop": "example", "api_base_url": base}, credentials)


def read_all(ctx, resource, limit):
    provider, cursor, records, pages = registry.get("shopify")(), None, [], 0
    while True:
        page = provider.read(ctx, resource, cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


def test_a_date_window_goes_out_as_created_at_min_and_max_and_holds_across_pages(provider_context, shopify):
    ctx, provider, pages = context(provider_context, shopify.base), registry.get("shopify")(), []
    window = {"since": date(2026, 10, 2), "until": date(2026, 10, 4)}
    page = provider.read(ctx, "orders", cursor=None, limit=2, **window)
    pages.append(page)
    while page.next_cursor:
        page = provider.read(ctx, "orders", cursor=page.next_cursor, limit=2, **window)
        pages.append(page)

    first = shopify.requests[0]
    assert (first["created_at_min"], first["created_at_max"], first["status"]) == (
        "2026-10-02T00:00:00+00:00",
        "2026-10-04T23:59:59+00:00",
        "any",
    )
    assert [sorted(r) for r in shopify.requests[1:]] == [["limit", "page_info", "resource"]]
    assert [r.id for p in pages for r in p.records] == [str(450789469 + n) for n in (2, 3, 4)]


def test_reads_every_order_of_any_status_across_link_header_pages(provider_context, shopify):
    records, pages = read_all(context(provider_context, shopify.base), "orders", limit=3)

    assert pages == 3
    assert [r.id for r in records] == [str(450789469 + n) for n in range(1, 8)]
    assert records[0].data == {
        "id": "450789470",
        "number": "#1001",
        "status": "paid",
        "currency": "EUR",
        "total": "10.95",
        "customer_email": "buyer1@example.com",
        "created_at": "2026-10-01T09:00:00-04:00",
        "updated_at": "2026-11-01T09:00:00-04:00",
    }
    assert records[1].data["customer_email"] == "customer2@example.com"  # no order e-mail: the customer's
    assert records[2].data["status"] == "cancelled"
    assert records[0].raw == order(1)
    # the first page asks for every status; page_info pages carry nothing but limit and page_info
    assert shopify.requests[0] == {"resource": "orders", "limit": "3", "status": "any"}
    assert [sorted(r) for r in shopify.requests[1:]] == [["limit", "page_info", "resource"]] * 2


def test_reads_products_and_customers_normalised(provider_context, shopify):
    ctx = context(provider_context, shopify.base)

    products, product_pages = read_all(ctx, "products", limit=2)
    customers, customer_pages = read_all(ctx, "customers", limit=250)

    assert (product_pages, customer_pages) == (3, 1)
    assert [r.id for r in products] == [str(632910392 + n) for n in range(1, 6)]
    assert products[1].data == {
        "id": "632910394",
        "name": "Product 2",
        "sku": "SKU-2-A",
        "price": "2.00",
        "currency": None,
        "stock": 4,
        "status": "draft",
        "updated_at": "2026-09-02T14:00:00Z",
    }
    assert products[0].data["status"] == "active"
    assert products[1].raw == product(2)
    assert customers[0].data == {
        "id": "207119552",
        "email": "person1@example.com",
        "first_name": "First1",
        "last_name": "Last1",
        "phone": "+16135550001",
        "company": "Company 1",
        "tags": ["newsletter", "repeat"],
        "lead_score": None,
        "created_at": "2026-08-01T10:00:00-04:00",
        "updated_at": "2026-08-01T11:00:00-04:00",
    }
    assert customers[1].data["phone"] == "+16135550000"  # falls back to the default address
    assert customers[1].raw == customer(2)


def test_limit_is_capped_at_250(provider_context, shopify):
    registry.get("shopify")().read(context(provider_context, shopify.base), "customers", cursor=None, limit=1000)

    assert shopify.requests == [{"resource": "customers", "limit": "250"}]


def test_check_with_a_wrong_token_is_an_authentication_error_with_shopifys_message(provider_context, shopify):
    ctx = context(provider_context, shopify.base, {"admin_api_access_token": "shpat_wrong"})

    with pytest.raises(AuthenticationError) as failure:
        registry.get("shopify")().check(ctx)

    assert failure.value.message == f"Shopify rejected the credentials: {INVALID_TOKEN}"
    assert failure.value.provider_status == 401
    assert "shpat_wrong" not in failure.value.message


def test_check_passes_with_an_oauth_access_token(provider_context, shopify):
    ctx = context(provider_context, shopify.base, {"access_token": OAUTH_TOKEN})

    assert registry.get("shopify")().check(ctx) is None


def test_update_order_tags_sends_the_documented_body(provider_context, shopify):
    target = shopify.data["orders"][1]

    result = registry.get("shopify")().perform(
        context(provider_context, shopify.base), "update_order_tags", {"order_id": target["id"], "tags": "a, b ,,c"}
    )

    assert shopify.updates == [{"order": {"id": target["id"], "tags": "a, b, c"}}]
    assert result["id"] == str(target["id"])
    assert result["tags"] == ["a", "b", "c"]
    assert result["record"]["number"] == "#1002"


def test_update_order_tags_refused_carries_shopifys_field_errors(provider_context, shopify):
    target = shopify.data["orders"][0]

    with pytest.raises(ProviderRequestError) as failure:
        registry.get("shopify")().perform(
            context(provider_context, shopify.base), "update_order_tags", {"order_id": target["id"], "tags": "<b>"}
        )

    assert failure.value.message == "Shopify refused the request: tags contains invalid characters"
    assert failure.value.provider_status == 422


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{API}/orders.json").respond_with_response(
        json_response(
            {"errors": THROTTLED},
            status=429,
            headers={"Retry-After": "1", "X-Shopify-Shop-Api-Call-Limit": "40/40"},
        )
    )
    httpserver.expect_ordered_request(f"{API}/orders.json").respond_with_response(json_response({"orders": [order(1)]}))
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    started = time.monotonic()
    page = registry.get("shopify")().read(ctx, "orders", cursor=None, limit=10)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["450789470"]
    assert page.next_cursor is None


def test_429_without_retry_after_waits_for_the_bucket_to_leak():
    class Response429:
        status_code = 429
        headers = {"X-Shopify-Shop-Api-Call-Limit": "40/40"}

    class Response503:
        status_code = 503
        headers = {}

    provider = registry.get("shopify")()

    assert provider.retry_after(Response429()) == 1.0
    assert provider.retry_after(Response503()) is None


def test_5xx_then_success_is_retried(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{API}/customers.json").respond_with_data("oops", status=502)
    httpserver.expect_ordered_request(f"{API}/customers.json").respond_with_response(
        json_response({"customers": [customer(2)]})
    )
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    page = registry.get("shopify")().read(ctx, "customers", cursor=None, limit=10)

    assert [r.id for r in page.records] == ["207119553"]


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request(f"{API}/graphql.json").respond_with_data("down", status=503)
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(ProviderUnavailableError):
        registry.get("shopify")().read(ctx, "products", cursor=None, limit=10)
    assert len(httpserver.log) == 4  # the first try and three retries


def test_malformed_json_is_a_clear_error(provider_context, httpserver):
    httpserver.expect_request(f"{API}/orders.json").respond_with_data("{not json", content_type="application/json")
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("shopify")().read(ctx, "orders", cursor=None, limit=10)


def test_a_body_without_the_list_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(f"{API}/orders.json").respond_with_response(json_response({"products": []}))
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="orders list"):
        registry.get("shopify")().read(ctx, "orders", cursor=None, limit=10)


def signed(body: bytes, secret: str = CLIENT_SECRET) -> str:
    """As Shopify documents it: base64 of the HMAC-SHA256 digest of the raw body, keyed with the client secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_headers(body: bytes, signature: str | None = None) -> dict:
    return {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": signed(body) if signature is None else signature,
        "X-Shopify-Shop-Domain": "example.myshopify.com",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Triggered-At": "2026-11-24T17:00:00.000000Z",
    }


def test_webhook_with_a_correct_signature_is_accepted():
    body = json.dumps({"id": 820982911946154508, "email": "jon@example.com"}).encode()

    event = registry.get("shopify")().verify_webhook(
        method="POST",
        url="https://hub.example.com/hooks/shopify",
        headers=webhook_headers(body),
        body=body,
        secret=CLIENT_SECRET,
    )

    assert event.event_type == "orders/create"
    assert event.payload == {"id": 820982911946154508, "email": "jon@example.com"}
    # the id follows what is signed (topic and body), not the unsigned X-Shopify-Webhook-Id
    redelivered = {**webhook_headers(body), "X-Shopify-Webhook-Id": "ffffffff-0000-4000-8000-000000000000"}
    again = registry.get("shopify")().verify_webhook(
        method="POST", url="https://hub.example.com/hooks/shopify", headers=redelivered, body=body, secret=CLIENT_SECRET
    )
    assert again.event_id == event.event_id
    other_topic = {**webhook_headers(body), "X-Shopify-Topic": "orders/paid"}
    paid = registry.get("shopify")().verify_webhook(
        method="POST", url="https://hub.example.com/hooks/shopify", headers=other_topic, body=body, secret=CLIENT_SECRET
    )
    assert paid.event_id != event.event_id


@pytest.mark.parametrize(
    "signature",
    [
        signed(b'{"id": 1}', secret="another-secret"),
        signed(b'{"id": 2}'),  # signed for another body
        base64.b64encode(hashlib.sha256(b'{"id": 1}').digest()).decode(),  # unkeyed
        "",
    ],
)
def test_webhook_with_a_wrong_or_missing_signature_is_rejected(signature):
    body = b'{"id": 1}'

    with pytest.raises(WebhookVerificationError):
        registry.get("shopify")().verify_webhook(
            method="POST", url="/", headers=webhook_headers(body, signature), body=body, secret=CLIENT_SECRET
        )


def test_webhook_without_a_configured_secret_is_rejected():
    body = b'{"id": 1}'

    with pytest.raises(WebhookVerificationError, match="no webhook secret"):
        registry.get("shopify")().verify_webhook(
            method="POST", url="/", headers=webhook_headers(body, signed(body, secret="")), body=body, secret=""
        )


def test_update_order_tags_input_is_validated():
    spec = registry.get("shopify").action("update_order_tags")

    with pytest.raises(ValidationError) as failure:
        spec.clean({"order_id": "12a", "colour": "red"})

    assert failure.value.message_dict == {
        "order_id": ["Must be an integer."],
        "tags": ["This field is required."],
        "colour": ["Unknown field."],
    }
    assert spec.clean({"order_id": "450789470", "tags": " vip "}) == {"order_id": 450789470, "tags": "vip"}


def test_config_validates_the_shop_and_the_api_base():
    provider = registry.get("shopify")

    config, secrets = provider.clean_config(
        {"shop": "https://Example-Store.myshopify.com/", "admin_api_access_token": TOKEN}
    )
    assert (config, secrets) == ({"shop": "example-store"}, {"admin_api_access_token": TOKEN})
    assert provider().base_url(config) == "https://example-store.myshopify.com/admin/api/2026-10/"

    with pytest.raises(ValidationError) as failure:
        provider.clean_config(
            {"shop": "evil.com/x", "api_base_url": "http://example.myshopify.com", "client_id": "abc"}
        )
    assert sorted(failure.value.message_dict) == ["admin_api_access_token", "api_base_url", "shop"]


def test_oauth_urls_are_shop_scoped():
    spec = registry.get("shopify").auth.oauth2

    assert (
        spec.resolve(spec.authorize_url, {"shop": "example"}) == "https://example.myshopify.com/admin/oauth/authorize"
    )
    assert spec.resolve(spec.token_url, {"shop": "example"}) == "https://example.myshopify.com/admin/oauth/access_token"
    assert (spec.scopes, spec.pkce, spec.scope_separator) == (
        ("read_orders", "read_products", "read_customers"),
        False,
        ",",
    )


def test_an_order_window_older_than_60_days_without_read_all_orders_is_refused_saying_so(provider_context, httpserver):
    fake = FakeShopify(httpserver, read_all_orders=False)
    ctx, provider = context(provider_context, fake.base), registry.get("shopify")()
    today = datetime.now(UTC).date()

    provider.read(ctx, "orders", cursor=None, limit=5, since=today - timedelta(days=10))
    with pytest.raises(ConfigurationError, match="need the read_all_orders scope") as refused:
        provider.read(ctx, "orders", cursor=None, limit=5, since=today - timedelta(days=200))

    assert "last 60 days of orders" in refused.value.message
    assert [r["resource"] for r in fake.requests] == ["orders"]  # the old window never reached the orders list


def test_an_old_order_window_is_read_when_the_app_has_read_all_orders(provider_context, httpserver):
    fake = FakeShopify(httpserver)
    ctx, today = context(provider_context, fake.base), datetime.now(UTC).date()

    registry.get("shopify")().read(ctx, "orders", cursor=None, limit=5, since=today - timedelta(days=200))
    granted = {"admin_api_access_token": TOKEN, "scope": "read_orders,read_all_orders"}
    registry.get("shopify")().read(context(provider_context, fake.base, granted), "orders", cursor=None, limit=5,
                                   since=today - timedelta(days=200))  # fmt: skip

    assert [r["resource"] for r in fake.requests] == ["orders", "orders"]


# --- products over GraphQL ------------------------------------------------------------------------------------


def test_products_page_over_graphql_with_the_end_cursor_until_has_next_page_is_false(provider_context, shopify):
    records, pages = read_all(context(provider_context, shopify.base), "products", limit=2)

    assert pages == 3
    assert [r.id for r in records] == [str(632910392 + n) for n in range(1, 6)]
    assert [request["first"] for request in shopify.graphql_requests] == [2, 2, 2]
    assert shopify.graphql_requests[0] == {"first": 2, "after": None, "query": None}
    assert [request["after"] for request in shopify.graphql_requests[1:]] == [
        base64.b64encode(b"cursor:2").decode(),
        base64.b64encode(b"cursor:4").decode(),
    ]
    assert shopify.requests == []  # nothing asked of REST products.json


def test_a_product_window_is_a_created_at_search_sent_with_every_page(provider_context, shopify):
    ctx, provider = context(provider_context, shopify.base), registry.get("shopify")()
    window = {"since": date(2026, 10, 2), "until": date(2026, 10, 4)}

    first = provider.read(ctx, "products", cursor=None, limit=2, **window)
    second = provider.read(ctx, "products", cursor=first.next_cursor, limit=2, **window)

    search = "created_at:>='2026-10-02T00:00:00Z' AND created_at:<='2026-10-04T23:59:59Z'"
    assert [request["query"] for request in shopify.graphql_requests] == [search, search]
    assert [r.id for r in first.records + second.records] == [str(632910392 + n) for n in (2, 3, 4)]
    assert second.next_cursor is None


def test_a_throttled_query_is_sent_again_once_the_bucket_holds_its_cost(provider_context, shopify):
    shopify.graphql_answers.append(throttled(requested=52.0, available=2.0, restore_rate=100.0))  # half a second

    page = registry.get("shopify")().read(context(provider_context, shopify.base), "products", cursor=None, limit=3)

    assert [r.id for r in page.records] == [str(632910392 + n) for n in range(1, 4)]
    assert len(shopify.graphql_requests) == 2


def test_the_wait_for_a_throttle_is_the_missing_cost_over_the_restore_rate():
    from apps.connectors.providers.shopify import graphql_throttle_wait

    assert graphql_throttle_wait(throttled(requested=752, available=252, restore_rate=100)) == 5.0
    assert graphql_throttle_wait(throttled(requested=10, available=500, restore_rate=100)) == 0.0
    assert graphql_throttle_wait({"errors": [{"message": "Throttled"}]}) == 1.0  # no cost given: a second


def test_a_throttle_that_outlasts_the_deadline_is_a_rate_limit_error_without_waiting(provider_context, shopify):
    shopify.graphql_answers.append(throttled(requested=1000.0, available=0.0, restore_rate=1.0))

    with pytest.raises(RateLimitedError) as limited:
        registry.get("shopify")().read(context(provider_context, shopify.base), "products", cursor=None, limit=3)

    assert limited.value.retry_after == 1000.0
    assert "try again in 1000 s" in limited.value.message
    assert len(shopify.graphql_requests) == 1


def test_a_missing_read_products_scope_is_an_authentication_error_quoting_shopify(provider_context, httpserver):
    fake = FakeShopify(httpserver)
    fake.scopes.remove("read_products")

    with pytest.raises(AuthenticationError) as denied:
        registry.get("shopify")().read(context(provider_context, fake.base), "products", cursor=None, limit=3)

    assert denied.value.message == (
        "Shopify denied access: Access denied for products field. Required access: `read_products` access scope."
    )


def test_graphql_errors_and_user_errors_come_back_as_shopifys_messages(provider_context, shopify):
    ctx, provider = context(provider_context, shopify.base), registry.get("shopify")()
    shopify.graphql_answers.append({"errors": [{"message": "Field 'colour' doesn't exist on type 'Product'"}]})

    with pytest.raises(ProviderRequestError) as refused:
        provider.read(ctx, "products", cursor=None, limit=3)
    assert refused.value.message == "Shopify refused the query: Field 'colour' doesn't exist on type 'Product'"

    with pytest.raises(ProviderRequestError) as invalid:
        provider.graphql(ctx, 'mutation { productUpdate(input: {title: ""}) { userErrors { field message } } }', {})
    assert invalid.value.message == "Shopify refused the request: input.title Title can't be blank"


def test_a_graphql_answer_without_the_products_connection_is_a_bad_response(provider_context, shopify):
    shopify.graphql_answers.append({"data": {"products": {"nodes": [{"title": "no id"}]}}})

    with pytest.raises(BadResponseError, match="products list"):
        registry.get("shopify")().read(context(provider_context, shopify.base), "products", cursor=None, limit=3)
