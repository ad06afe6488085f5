"""WooCommerce REST API (wc/v3), authenticated with a REST API consumer key and secret over HTTP Basic.

Contract: https://woocommerce.github.io/woocommerce-rest-api-docs/ (wp-api-v3) — `GET /wp-json/wc/v3/orders|products`
paginated with `page` and `per_page` (max 100), totals in `X-WP-Total` / `X-WP-TotalPages`; `PUT /orders/{id}`
updates an order; `GET /data/currencies/current` is the store currency; errors are `{"code", "message", "data":
{"status"}}` (bad keys: 401 `woocommerce_rest_authentication_error`, "Consumer key is invalid."). Basic auth is only
honoured over HTTPS (plain HTTP needs OAuth 1.0a signatures), so non-loopback `http://` stores are refused.

Webhooks are POSTed with `X-WC-Webhook-Signature` = base64(HMAC-SHA256(secret, raw body)) and `X-WC-Webhook-Topic`,
`-Resource`, `-Event`, `-ID`, `-Delivery-ID` and `-Source` headers; there is no timestamp in the scheme.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from urllib.parse import urlsplit

from apps.connectors.base import (
    ActionSpec,
    AuthSpec,
    ConnectionContext,
    Field,
    Page,
    Provider,
    Record,
    ResourceSpec,
    WebhookEvent,
    WebhookVerificationError,
    json_object,
    signed_body_id,
)
from apps.connectors.base import is_loopback_host as _is_loopback
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NotFoundError,
)
from apps.connectors.http import parse_json
from apps.connectors.registry import registry
from apps.connectors.signing import has_header, header, hmac_signature, matches
from apps.connectors.unified import normalised
from bizosaas.digits import ascii_digits

API_VERSION = "wc/v3"
MAX_PER_PAGE = 100
# The order statuses the v3 docs list for `status`, less `trash`: trashing is deleting (DELETE /orders/{id}),
# not a step in the order's life.
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"
# saving a webhook in WooCommerce POSTs this, unsigned, and shows an error unless the answer is a 2xx
PING_BODY = re.compile(rb"webhook_id=\d+")


def _blank_to_none(value):
    return None if value in ("", None) else value


@registry.register
class WooCommerce(Provider):
    key = "woocommerce"
    name = "WooCommerce"
    category = "ecommerce"
    description = "Read the orders and products of a WooCommerce store and move orders through their statuses."
    logo = "woocommerce"
    docs_url = "https://woocommerce.github.io/woocommerce-rest-api-docs/"
    auth = AuthSpec(
        "basic",
        description="A REST API consumer key and secret (WooCommerce > Settings > Advanced > REST API), sent over "
        "HTTPS with HTTP Basic. Read/Write access is needed to change order statuses.",
    )
    config_fields = (
        Field(
            "store_url",
            "Store URL",
            type="url",
            help="The WordPress site address over HTTPS, e.g. https://shop.example.com",
        ),
        Field("consumer_key", "Consumer key", type="secret", secret=True, help="Starts with ck_"),
        Field("consumer_secret", "Consumer secret", type="secret", secret=True, help="Starts with cs_"),
        Field(
            "webhook_secret",
            "Webhook secret",
            type="secret",
            secret=True,
            required=False,
            help="The secret set on the store's webhooks (WooCommerce > Settings > Advanced > Webhooks)",
        ),
    )
    resources = (
        ResourceSpec(
            "orders", "ecommerce.order", "Orders of every status but trash, oldest id first", window="created_at"
        ),
        ResourceSpec(
            "products", "ecommerce.product", "Products of every status but trash, priced in the store currency"
        ),
    )
    actions = (
        ActionSpec(
            "update_order_status",
            "Change an order's status (WooCommerce runs its usual side effects, such as customer e-mails)",
            (
                Field("id", "Order id", type="integer"),
                Field("status", "New status", type="choice", choices=ORDER_STATUSES),
            ),
        ),
    )
    webhook_verification = (
        f"{SIGNATURE_HEADER}: base64 HMAC-SHA256 of the raw body with the webhook secret; event type from "
        f"{TOPIC_HEADER}; event id from the topic and body (the {DELIVERY_HEADER} header is not signed)"
    )
    webhook_secret_fields = ("webhook_secret",)

    def base_url(self, config: dict) -> str:
        store_url = config["store_url"]
        parts = urlsplit(store_url)
        if parts.scheme != "https" and not _is_loopback((parts.hostname or "").lower()):
            raise ConfigurationError(
                "WooCommerce accepts consumer keys over HTTP Basic only on HTTPS; use the store's https:// address."
            )
        return f"{store_url}/wp-json/{API_VERSION}/"

    def basic_auth(self, config: dict, credentials: dict) -> tuple[str, str] | None:
        return credentials.get("consumer_key", ""), credentials.get("consumer_secret", "")

    def check(self, ctx: ConnectionContext) -> None:
        self._store_currency(ctx, tolerate_denied=False)

    # --- resources --------------------------------------------------------------------------------------------

    def read(
        self,
        ctx: ConnectionContext,
        resource: str,
        *,
        cursor: str | None,
        limit: int,
        since: date | None = None,
        until: date | None = None,
    ) -> Page:
        """A window on orders filters their creation time with `after` / `before` read as UTC (`dates_are_gmt`),
        from the start of `since` to the end of `until`."""
        spec = self.resource(resource)
        if spec is None:
            raise ConfigurationError(f"WooCommerce has no resource {resource!r}.")
        page, currency = self._parse_cursor(cursor)
        if resource == "products" and cursor is None:
            # product prices are in the store currency, which products do not carry; looked up once per sync
            currency = self._store_currency(ctx, tolerate_denied=True)
        per_page = max(1, min(limit, MAX_PER_PAGE))
        params = {"page": page, "per_page": per_page, "orderby": "id", "order": "asc"}
        if since is not None or until is not None:
            params["dates_are_gmt"] = "true"
        if since is not None:
            params["after"] = f"{since.isoformat()}T00:00:00"
        if until is not None:
            params["before"] = f"{(until + timedelta(days=1)).isoformat()}T00:00:00"
        response = ctx.http.request("GET", resource, params=params)
        items = parse_json(response, provider=self.key)
        if not isinstance(items, list) or not all(isinstance(item, dict) and "id" in item for item in items):
            raise BadResponseError(f"WooCommerce returned an unexpected body for the {resource} list.")
        if resource == "orders":
            records = [Record(id=str(item["id"]), data=self.normalise_order(item), raw=item) for item in items]
        else:
            records = [
                Record(id=str(item["id"]), data=self.normalise_product(item, currency), raw=item) for item in items
            ]
        total_pages = response.headers.get("X-WP-TotalPages", "")
        has_more = page < int(total_pages) if ascii_digits(total_pages) else len(items) == per_page
        next_cursor = None
        if has_more and items:
            next_cursor = f"{page + 1}:{currency}" if resource == "products" and currency else str(page + 1)
        return Page(records=records, next_cursor=next_cursor)

    @staticmethod
    def _parse_cursor(cursor: str | None) -> tuple[int, str | None]:
        """Cursors are `"<page>"`, or `"<page>:<store currency>"` while reading products."""
        if not cursor:
            return 1, None
        page, _, currency = cursor.partition(":")
        if not ascii_digits(page) or int(page) < 1:
            raise ConfigurationError(f"Not a WooCommerce cursor: {cursor!r}")
        return int(page), currency or None

    def _store_currency(self, ctx: ConnectionContext, *, tolerate_denied: bool) -> str | None:
        try:
            body = ctx.http.json("GET", "data/currencies/current")
        except (AuthenticationError, NotFoundError):
            # the key's user may read products without the manage_woocommerce capability this endpoint needs
            if tolerate_denied:
                return None
            raise
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            raise BadResponseError("WooCommerce returned an unexpected body for the store currency.")
        return body["code"]

    @staticmethod
    def normalise_order(item: dict) -> dict:
        billing = json_object(item.get("billing"))
        return normalised(
            "ecommerce.order",
            id=str(item.get("id")),
            number=_blank_to_none(item.get("number")),
            status=item.get("status"),
            currency=_blank_to_none(item.get("currency")),
            total=_blank_to_none(item.get("total")),
            customer_email=_blank_to_none(billing.get("email")),
            created_at=item.get("date_created_gmt") or item.get("date_created"),
            updated_at=item.get("date_modified_gmt") or item.get("date_modified"),
        )

    @staticmethod
    def normalise_product(item: dict, currency: str | None) -> dict:
        return normalised(
            "ecommerce.product",
            id=str(item.get("id")),
            name=item.get("name"),
            sku=_blank_to_none(item.get("sku")),
            price=_blank_to_none(item.get("price")),
            currency=currency,
            stock=item.get("stock_quantity"),
            status=item.get("status"),
            updated_at=item.get("date_modified_gmt") or item.get("date_modified"),
        )

    # --- actions ----------------------------------------------------------------------------------------------

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        if action != "update_order_status":
            raise ConfigurationError(f"WooCommerce has no action {action!r}.")
        order = ctx.http.json("PUT", f"orders/{payload['id']}", json_body={"status": payload["status"]})
        if not isinstance(order, dict) or "id" not in order:
            raise BadResponseError("WooCommerce returned an unexpected body for the updated order.")
        return {
            "id": str(order["id"]),
            "number": order.get("number"),
            "status": order.get("status"),
            "record": self.normalise_order(order),
        }

    # --- webhooks ---------------------------------------------------------------------------------------------

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        signature = header(headers, SIGNATURE_HEADER)
        if not secret:
            raise WebhookVerificationError("no webhook secret is configured for this connection")
        if not signature:
            # includes the unsigned `webhook_id=<id>` ping WooCommerce sends when a webhook is first saved
            raise WebhookVerificationError(f"missing {SIGNATURE_HEADER} header")
        if not matches(signature, hmac_signature(secret, body)):
            raise WebhookVerificationError("wrong signature")
        event_type = header(headers, TOPIC_HEADER)
        if not event_type:
            raise WebhookVerificationError(f"missing {TOPIC_HEADER} header")
        # the delivery id is not signed, and WooCommerce gives each redelivery a new one: the id comes from what is
        event_id = signed_body_id(event_type, body)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        return WebhookEvent(event_id=event_id, event_type=event_type, payload=payload)

    def webhook_ping(self, *, headers: dict[str, str], body: bytes) -> bool:
        """The unsigned `webhook_id=<id>` form body WooCommerce sends when a webhook is saved: answered 200 (else
        WooCommerce shows the webhook as failing and pings again on every save), never an event."""
        return not has_header(headers, SIGNATURE_HEADER) and bool(PING_BODY.fullmatch((body or b"").strip()))
