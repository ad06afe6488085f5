"""WooCommerce against a loopback server that follows the wc/v3 REST API contract."""

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NotFoundError,
    ProviderUnavailableError,
)
from apps.connectors.registry import registry

CONSUMER_KEY = "ck_4f0b99580930dc703c5b8e3ce6f169b60249de6c"
CONSUMER_SECRET = "cs_a9080c505b7d4be9a305a038ff8e656d0bf41cc3"
API = "/wp-json/wc/v3"
DOCUMENTED_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash")


def order(n: int) -> dict:
    """An order shaped like the v3 docs' example (dates grow with the id, so date order differs from id asc)."""
    return {
        "id": n,
        "parent_id": 0,
        "number": str(1000 + n),
        "order_key": f"wc_order_{n:05d}",
        "created_via": "checkout",
        "status": "processing",
        "currency": "EUR",
        "date_created": f"2026-03-{n:02d}T11:00:00",
        "date_created_gmt": f"2026-03-{n:02d}T10:00:00",
        "date_modified": f"2026-03-{n:02d}T12:30:00",
        "date_modified_gmt": f"2026-03-{n:02d}T11:30:00",
        "total": f"{n * 10}.50",
        "customer_id": 0,
        "billing": {"first_name": "Ada", "last_name": f"Buyer {n}", "email": f"buyer{n}@example.com"},
        "line_items": [{"id": 100 + n, "name": "Woo Ninja", "product_id": 34, "quantity": 1, "total": "10.00"}],
        "_links": {"self": [{"href": f"https://shop.example.com/wp-json/wc/v3/orders/{n}"}]},
    }


def product(n: int) -> dict:
    return {
        "id": n,
        "name": f"Product {n}",
        "slug": f"product-{n}",
        "permalink": f"https://shop.example.com/product/product-{n}/",
        "type": "simple",
        "status": "publish" if n % 2 else "draft",
        "sku": f"SKU-{n}" if n % 3 else "",
        "price": f"{n}.99" if n % 4 else "",
        "regular_price": f"{n}.99",
        "manage_stock": n % 2 == 1,
        "stock_quantity": n * 2 if n % 2 else None,
        "stock_status": "instock",
        "date_modified": f"2026-02-{n:02d}T09:00:00",
        "date_modified_gmt": f"2026-02-{n:02d}T08:00:00",
    }


def error(code: str, message: str, status: int, headers: dict | None = None, **data) -> Response:
    body = {"code": code, "message": message, "data": {"status": status, **data}}
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


class FakeWooCommerce:
    """wc/v3: consumer key/secret over Basic, page/per_page pagination (max 100) with X-WP-* headers and Link."""

    def __init__(self, httpserver, orders: int = 25, products: int = 12, currency_denied: bool = False):
        self.server = httpserver
        self.orders = {n: order(n) for n in range(1, orders + 1)}
        self.products = {n: product(n) for n in range(1, products + 1)}
        self.currency_denied = currency_denied
        self.updates: list[tuple[int, dict]] = []
        httpserver.expect_request(f"{API}/orders", method="GET").respond_with_handler(
            lambda request: self.collection(request, self.orders, "orders")
        )
        httpserver.expect_request(f"{API}/products", method="GET").respond_with_handler(
            lambda request: self.collection(request, self.products, "products")
        )
        httpserver.expect_request(f"{API}/data/currencies/current", method="GET").respond_with_handler(
            self.current_currency
        )
        httpserver.expect_request(re.compile(rf"^{API}/orders/\d+$"), method="PUT").respond_with_handler(
            self.update_order
        )

    @property
    def store_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def requests_to(self, path: str) -> list:
        return [request for request, _response in self.server.log if request.path == f"{API}/{path}"]

    def _unauthorised(self, request):
        """Like WC_REST_Authentication: no credentials fall through as a guest; wrong ones name the wrong part."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)
        key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if key != CONSUMER_KEY:
            return error("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401)
        if secret != CONSUMER_SECRET:
            return error("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401)
        return None

    def collection(self, request, items: dict, rest_base: str):
        denied = self._unauthorised(request)
        if denied:
            return denied
        try:
            page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 10))
        except ValueError:
            return error("rest_invalid_param", "Invalid parameter(s): page, per_page", 400)
        if not 1 <= per_page <= 100:
            return error(
                "rest_invalid_param",
                "Invalid parameter(s): per_page",
                400,
                params={"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"},
            )
        orderby, descending = request.args.get("orderby", "date"), request.args.get("order", "desc") == "desc"
        field = {"id": "id", "date": "date_created_gmt" if rest_base == "orders" else "date_modified_gmt"}[orderby]
        ordered = sorted(items.values(), key=lambda item: item[field], reverse=descending)
        # after / before: strictly after / before an ISO 8601 time, site time unless dates_are_gmt (creation date)
        created = "date_created_gmt" if request.args.get("dates_are_gmt") == "true" else "date_created"
        after, before = request.args.get("after"), request.args.get("before")
        ordered = [i for i in ordered if (not after or i[created] > after) and (not before or i[created] < before)]
        total_pages = max(1, -(-len(ordered) // per_page))
        chunk = ordered[(page - 1) * per_page : page * per_page]
        links = []
        if page < total_pages:
            links.append(f'<{self.server.url_for(f"{API}/{rest_base}")}?page={page + 1}>; rel="next"')
        return Response(
            json.dumps(chunk),
            content_type="application/json",
            headers={"X-WP-Total": str(len(ordered)), "X-WP-TotalPages": str(total_pages), "Link": ", ".join(links)},
        )

    def current_currency(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        if self.currency_denied:
            return error("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.", 401)
        body = {"code": "EUR", "name": "Euro", "symbol": "&euro;", "_links": {}}
        return Response(json.dumps(body), content_type="application/json")

    def update_order(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        order_id = int(request.path.rsplit("/", 1)[1])
        body = request.get_json()
        if "status" in body and body["status"] not in DOCUMENTED_STATUSES:
            return error(
                "rest_invalid_param",
                "Invalid parameter(s): status",
                400,
                params={"status": f"status is not one of {', '.join(DOCUMENTED_STATUSES)}."},
            )
        if order_id not in self.orders:
            return error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
        self.updates.append((order_id, body))
        self.orders[order_id] = {**self.orders[order_id], **body, "date_modified_gmt": "2026-04-01T08:00:00"}
        return Response(json.dumps(self.orders[order_id]), content_type="application/json")


@pytest.fixture
def woocommerce(httpserver):
    return FakeWooCommerce(httpserver)


def context(provider_context, store_url, key=CONSUMER_KEY, secret=CONSUMER_SECRET):
    return provider_context("woocommerce", {"store_url": store_url}, {"consumer_key": key, "consumer_secret": secret})


def read_all(ctx, resource, limit=10):
    provider, cursor, records, pages = registry.get("woocommerce")(), None, [], 0
    while True:
        page = provider.read(ctx, resource, cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


# --- reads ----------------------------------------------------------------------------------------------------


def test_a_date_window_filters_orders_by_creation_in_utc_on_the_wire(provider_context, woocommerce):
    page = registry.get("woocommerce")().read(
        context(provider_context, woocommerce.store_url),
        "orders",
        cursor=None,
        limit=50,
        since=date(2026, 3, 3),
        until=date(2026, 3, 5),
    )

    sent = woocommerce.requests_to("orders")[0].args
    assert (sent["after"], sent["before"], sent["dates_are_gmt"]) == (
        "2026-03-03T00:00:00",
        "2026-03-06T00:00:00",
        "true",
    )
    assert [r.id for r in page.records] == ["3", "4", "5"]
    assert page.next_cursor is None


def test_reads_every_order_across_pages_oldest_id_first_normalised_with_raw(provider_context, woocommerce):
    records, pages = read_all(context(provider_context, woocommerce.store_url), "orders", limit=10)

    assert pages == 3
    assert [r.id for r in records] == [str(n) for n in range(1, 26)]
    assert records[0].data == {
        "id": "1",
        "number": "1001",
        "status": "processing",
        "currency": "EUR",
        "total": "10.50",
        "customer_email": "buyer1@example.com",
        "created_at": "2026-03-01T10:00:00",
        "updated_at": "2026-03-01T11:30:00",
    }
    assert records[0].raw == order(1)
    sent = [dict(request.args) for request in woocommerce.requests_to("orders")]
    assert sent == [{"page": str(p), "per_page": "10", "orderby": "id", "order": "asc"} for p in (1, 2, 3)]


def test_reads_products_in_the_store_currency_looked_up_once(provider_context, woocommerce):
    records, pages = read_all(context(provider_context, woocommerce.store_url), "products", limit=5)

    assert pages == 3
    assert [r.id for r in records] == [str(n) for n in range(1, 13)]
    assert len(woocommerce.requests_to("data/currencies/current")) == 1
    by_id = {r.id: r for r in records}
    assert by_id["1"].data == {
        "id": "1",
        "name": "Product 1",
        "sku": "SKU-1",
        "price": "1.99",
        "currency": "EUR",
        "stock": 2,
        "status": "publish",
        "updated_at": "2026-02-01T08:00:00",
    }
    # no SKU, no price and unmanaged stock are absent, not empty strings
    assert (by_id["12"].data["sku"], by_id["12"].data["price"], by_id["12"].data["stock"]) == (None, None, None)
    assert by_id["12"].data["currency"] == "EUR"
    assert by_id["12"].raw["regular_price"] == "12.99"


def test_products_are_still_read_when_the_key_may_not_see_the_store_currency(provider_context, httpserver):
    fake = FakeWooCommerce(httpserver, currency_denied=True)

    records, _pages = read_all(context(provider_context, fake.store_url), "products", limit=100)

    assert len(records) == 12
    assert {r.data["currency"] for r in records} == {None}


def test_page_size_is_capped_at_the_documented_maximum_of_100(provider_context, httpserver):
    fake = FakeWooCommerce(httpserver, orders=150)

    page = registry.get("woocommerce")().read(
        context(provider_context, fake.store_url), "orders", cursor=None, limit=500
    )

    assert len(page.records) == 100
    assert page.next_cursor == "2"
    assert fake.requests_to("orders")[0].args["per_page"] == "100"


def test_reading_with_wrong_credentials_is_an_authentication_error(provider_context, woocommerce):
    with pytest.raises(AuthenticationError, match="Consumer key is invalid"):
        registry.get("woocommerce")().read(
            context(provider_context, woocommerce.store_url, key="ck_unknown"), "orders", cursor=None, limit=10
        )


# --- check ----------------------------------------------------------------------------------------------------


def test_check_passes_with_the_right_keys(provider_context, woocommerce):
    registry.get("woocommerce")().check(context(provider_context, woocommerce.store_url))

    (request,) = woocommerce.requests_to("data/currencies/current")
    expected = "Basic " + base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == expected


@pytest.mark.parametrize(
    ("key", "secret", "message"),
    [
        ("ck_0000000000000000000000000000000000000000", CONSUMER_SECRET, "Consumer key is invalid."),
        (CONSUMER_KEY, "cs_wrong_secret_value", "Consumer secret is invalid."),
    ],
)
def test_check_with_bad_credentials_is_an_authentication_error_with_the_providers_message(
    provider_context, woocommerce, key, secret, message
):
    with pytest.raises(AuthenticationError) as failure:
        registry.get("woocommerce")().check(context(provider_context, woocommerce.store_url, key=key, secret=secret))

    assert failure.value.message == f"WooCommerce rejected the credentials: {message}"
    assert failure.value.provider_status == 401
    assert secret not in failure.value.message


# --- actions --------------------------------------------------------------------------------------------------


def test_update_order_status_puts_exactly_the_status_and_returns_the_updated_order(provider_context, woocommerce):
    result = registry.get("woocommerce")().perform(
        context(provider_context, woocommerce.store_url), "update_order_status", {"id": 7, "status": "completed"}
    )

    assert woocommerce.updates == [(7, {"status": "completed"})]
    (request,) = [r for r, _ in woocommerce.server.log if r.method == "PUT"]
    assert request.path == f"{API}/orders/7"
    assert json.loads(request.get_data()) == {"status": "completed"}
    assert result == {
        "id": "7",
        "number": "1007",
        "status": "completed",
        "record": {
            "id": "7",
            "number": "1007",
            "status": "completed",
            "currency": "EUR",
            "total": "70.50",
            "customer_email": "buyer7@example.com",
            "created_at": "2026-03-07T10:00:00",
            "updated_at": "2026-04-01T08:00:00",
        },
    }


def test_update_order_status_of_an_unknown_order_is_not_found(provider_context, woocommerce):
    with pytest.raises(NotFoundError, match="Invalid ID"):
        registry.get("woocommerce")().perform(
            context(provider_context, woocommerce.store_url), "update_order_status", {"id": 999, "status": "failed"}
        )
    assert woocommerce.updates == []


def test_update_order_status_input_accepts_every_documented_lifecycle_status():
    spec = registry.get("woocommerce").action("update_order_status")

    for status in ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed"):
        assert spec.clean({"id": "42", "status": status}) == {"id": 42, "status": status}


def test_update_order_status_input_is_validated_field_by_field():
    spec = registry.get("woocommerce").action("update_order_status")

    with pytest.raises(ValidationError) as failure:
        spec.clean({"id": "seven", "status": "shipped", "note": "x"})

    assert failure.value.message_dict == {
        "id": ["Must be an integer."],
        "status": ["One of: pending, processing, on-hold, completed, cancelled, refunded, failed."],
        "note": ["Unknown field."],
    }
    with pytest.raises(ValidationError) as missing:
        spec.clean({})
    assert missing.value.message_dict == {"id": ["This field is required."], "status": ["This field is required."]}
    with pytest.raises(ValidationError) as trash:
        spec.clean({"id": 1, "status": "trash"})
    assert list(trash.value.message_dict) == ["status"]


# --- resilience -----------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{API}/orders").respond_with_response(
        error("too_many_requests", "Too many requests.", 429, headers={"Retry-After": "1"})
    )
    httpserver.expect_ordered_request(f"{API}/orders").respond_with_json([order(1)], headers={"X-WP-TotalPages": "1"})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    started = time.monotonic()
    page = registry.get("woocommerce")().read(ctx, "orders", cursor=None, limit=10)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["1"]
    assert page.next_cursor is None
    assert len(httpserver.log) == 2


def test_5xx_then_success_is_retried_for_reads(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{API}/orders").respond_with_data("Bad Gateway", status=502)
    httpserver.expect_ordered_request(f"{API}/orders").respond_with_json([order(7)], headers={"X-WP-TotalPages": "1"})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    page = registry.get("woocommerce")().read(ctx, "orders", cursor=None, limit=10)

    assert [r.id for r in page.records] == ["7"]
    assert len(httpserver.log) == 2


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request(f"{API}/orders").respond_with_response(
        error("internal_server_error", "There has been a critical error on this website.", 500)
    )
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(ProviderUnavailableError):
        registry.get("woocommerce")().read(ctx, "orders", cursor=None, limit=10)
    assert len(httpserver.log) == 4  # the first try and three retries


def test_malformed_json_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(f"{API}/orders").respond_with_data('[{"id": 1,', content_type="application/json")
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("woocommerce")().read(ctx, "orders", cursor=None, limit=10)


def test_a_list_that_is_not_a_list_of_resources_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(f"{API}/orders").respond_with_json({"orders": []})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="unexpected body"):
        registry.get("woocommerce")().read(ctx, "orders", cursor=None, limit=10)


# --- configuration --------------------------------------------------------------------------------------------


def test_keys_are_secrets_and_plain_http_stores_are_refused():
    provider = registry.get("woocommerce")

    config, secrets = provider.clean_config(
        {"store_url": "https://shop.example.com/", "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
    )

    assert config == {"store_url": "https://shop.example.com"}
    assert secrets == {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
    assert provider().base_url(config) == "https://shop.example.com/wp-json/wc/v3/"
    with pytest.raises(ConfigurationError, match="HTTPS"):
        provider().base_url({"store_url": "http://shop.example.com"})


def test_a_cursor_that_is_not_ours_is_refused(provider_context, woocommerce):
    with pytest.raises(ConfigurationError, match="cursor"):
        registry.get("woocommerce")().read(
            context(provider_context, woocommerce.store_url), "orders", cursor="abc", limit=10
        )


# --- webhooks -------------------------------------------------------------------------------------------------

WEBHOOK_SECRET = "wh-s3cret&value"


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """As documented: X-WC-Webhook-Signature is base64(HMAC-SHA256(secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery_headers(body: bytes, **overrides) -> dict:
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "updated",
        "X-WC-Webhook-Signature": signed(body),
        "X-WC-Webhook-ID": "142",
        "X-WC-Webhook-Delivery-ID": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    }
    return {**headers, **overrides}


def test_webhook_with_a_correct_signature_is_accepted():
    body = json.dumps(order(7)).encode()

    event = registry.get("woocommerce")().verify_webhook(
        method="POST", url="/hooks/woocommerce", headers=delivery_headers(body), body=body, secret=WEBHOOK_SECRET
    )

    assert event.event_type == "order.updated"
    assert event.payload == order(7)
    # WooCommerce gives a redelivery a new (unsigned) delivery id: it is still the same event
    redelivery = registry.get("woocommerce")().verify_webhook(
        method="POST",
        url="/hooks/woocommerce",
        headers=delivery_headers(body, **{"X-WC-Webhook-Delivery-ID": "0f" * 16}),
        body=body,
        secret=WEBHOOK_SECRET,
    )
    assert redelivery.event_id == event.event_id


def test_a_second_delivery_of_the_same_change_is_the_same_event_and_a_new_change_is_not():
    provider, body = registry.get("woocommerce")(), json.dumps(order(7)).encode()
    changed = json.dumps({**order(7), "date_modified_gmt": "2026-03-07T11:45:00"}).encode()

    def event_id(sent: bytes, delivery: str) -> str:
        headers = delivery_headers(sent, **{"X-WC-Webhook-Delivery-ID": delivery})
        return provider.verify_webhook(
            method="POST", url="/", headers=headers, body=sent, secret=WEBHOOK_SECRET
        ).event_id

    assert event_id(body, "aaa111") == event_id(body, "bbb222")
    assert event_id(changed, "ccc333") != event_id(body, "aaa111")


def test_webhook_header_names_are_case_insensitive():
    body = b'{"id": 5}'
    headers = {
        key.lower(): value for key, value in delivery_headers(body, **{"X-WC-Webhook-Topic": "product.created"}).items()
    }

    event = registry.get("woocommerce")().verify_webhook(
        method="POST", url="/", headers=headers, body=body, secret=WEBHOOK_SECRET
    )

    assert (event.event_type, event.payload) == ("product.created", {"id": 5})


@pytest.mark.parametrize(
    "case",
    ["signed with another secret", "body changed after signing", "signature missing", "no secret configured"],
)
def test_webhook_that_is_not_genuine_is_rejected(case):
    body = json.dumps(order(7)).encode()
    headers, secret, sent_body = delivery_headers(body), WEBHOOK_SECRET, body
    if case == "signed with another secret":
        headers["X-WC-Webhook-Signature"] = signed(body, "another-secret")
    elif case == "body changed after signing":
        sent_body = body.replace(b'"70.50"', b'"0.01"')
    elif case == "signature missing":
        del headers["X-WC-Webhook-Signature"]
    else:
        secret = ""

    with pytest.raises(WebhookVerificationError):
        registry.get("woocommerce")().verify_webhook(
            method="POST", url="/", headers=headers, body=sent_body, secret=secret
        )


def test_the_unsigned_creation_ping_is_recognised_as_a_ping_and_nothing_else_is():
    provider = registry.get("woocommerce")()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = json.dumps(order(7)).encode()

    assert provider.webhook_ping(headers=form, body=b"webhook_id=142")
    assert not provider.webhook_ping(headers=form, body=b"webhook_id=142&x=1")
    assert not provider.webhook_ping(headers=form, body=body)
    assert not provider.webhook_ping(headers={**form, "X-WC-Webhook-Signature": "x"}, body=b"webhook_id=142")


def test_the_unsigned_creation_ping_is_not_an_event():
    # WooCommerce POSTs `webhook_id=<id>` form-encoded, without any X-WC-* header, when a webhook is first saved
    with pytest.raises(WebhookVerificationError, match="missing X-WC-Webhook-Signature"):
        registry.get("woocommerce")().verify_webhook(
            method="POST",
            url="/",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=b"webhook_id=142",
            secret=WEBHOOK_SECRET,
        )


def test_a_signed_delivery_without_its_topic_is_rejected():
    body = b'{"id": 5}'
    headers = delivery_headers(body)
    del headers["X-WC-Webhook-Topic"]

    with pytest.raises(WebhookVerificationError, match="Topic"):
        registry.get("woocommerce")().verify_webhook(
            method="POST", url="/", headers=headers, body=body, secret=WEBHOOK_SECRET
        )
