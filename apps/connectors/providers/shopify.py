"""Shopify Admin REST API, version 2026-10, with a custom app's Admin API access token or OAuth (both sent as
`X-Shopify-Access-Token`).

Contract: https://shopify.dev/docs/api/admin-rest (versioning: https://shopify.dev/docs/api/usage/versioning;
pagination: https://shopify.dev/docs/api/admin-rest/usage/pagination; rate limits:
https://shopify.dev/docs/api/admin-rest/usage/rate-limits; webhooks:
https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook).

Every call goes to `https://{shop}.myshopify.com/admin/api/2026-10/...`. `GET /orders.json|products.json|
customers.json` take `limit` (max 250) and answer `{"orders": [...]}` etc.; the next page is announced in the `Link`
header (`<...?limit=50&page_info=TOKEN>; rel="next"`), and a page_info request may carry only `limit` and `fields`
(any other filter is refused). Orders default to `status=open`, so the first request asks for `status=any`.
Errors are `{"errors": "..."}` (401: "[API] Invalid API key or access token (unrecognized login or wrong password)")
or `{"errors": {"field": ["message"]}}` (422). Every response carries `X-Shopify-Shop-Api-Call-Limit: used/size`
(leaky bucket, at least 2 requests a second); over the limit it is 429 with `Retry-After` (seconds).
`PUT /orders/{id}.json` with `{"order": {"id", "tags"}}` updates an order's tags.

Why REST and not GraphQL: Shopify marks REST "legacy" (October 2024) and requires GraphQL for new *public* apps,
but REST stays versioned and supported for custom apps and this connector's reads; its throttling is plain HTTP
(429 + Retry-After) that the shared client waits out, whereas GraphQL throttles with HTTP 200 and a `THROTTLED`
error in the body. Moving to GraphQL (`/graphql.json`, cursor `pageInfo.endCursor`) is the follow-up.

Webhooks: `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(app client secret, raw body)); `X-Shopify-Topic` names the
event (e.g. `orders/create`), `X-Shopify-Webhook-Id` identifies the delivery (kept across retries),
`X-Shopify-Event-Id` the event, `X-Shopify-Shop-Domain` the shop. No timestamp is signed, and neither are those
headers: our event id is derived from the topic and the signed body, so a body re-posted with a new webhook id is a
duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urljoin, urlsplit

from django.core.exceptions import ValidationError

from apps.connectors.base import (
    ActionSpec,
    AuthSpec,
    ConnectionContext,
    Field,
    OAuth2Spec,
    Page,
    Provider,
    Record,
    ResourceSpec,
    WebhookEvent,
    WebhookVerificationError,
    credential_host_problem,
    signed_body_id,
)
from apps.connectors.exceptions import BadResponseError, ConfigurationError, NeedsReauthError
from apps.connectors.http import parse_json
from apps.connectors.registry import registry
from apps.connectors.unified import normalised

ORDERS_WITHOUT_READ_ALL_DAYS = 60  # https://shopify.dev/docs/api/usage/access-scopes#orders-permissions

API_VERSION = "2026-10"
MAX_PER_PAGE = 250
TOKEN_HEADER = "X-Shopify-Access-Token"
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
SHOP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# resource -> (path, key of the list in the body, extra params for the first page only)
RESOURCES = {
    "orders": ("orders.json", "orders", {"status": "any"}),
    "products": ("products.json", "products", {}),
    "customers": ("customers.json", "customers", {}),
}
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _blank_to_none(value):
    return None if value in ("", None) else value


def _tags(value) -> list[str]:
    """Shopify keeps tags as one comma-separated string."""
    if not isinstance(value, str):
        return []
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def _api_base_problem(url: str) -> str | None:
    """Access tokens go only to a myshopify.com host over HTTPS (or to a loopback fake in tests/development)."""
    return credential_host_problem(url, domain="myshopify.com", example="https://example.myshopify.com")


def shop_name(value: str) -> str:
    """`example`, `example.myshopify.com` or `https://example.myshopify.com/` -> `example`; ValueError otherwise."""
    name = value.strip().lower()
    name = re.sub(r"^https?://", "", name).rstrip("/")
    name = name.removesuffix(".myshopify.com")
    if not SHOP_NAME.match(name) or name.endswith("-"):
        raise ValueError(name)
    return name


def next_page_info(link_header: str) -> str | None:
    """The `page_info` of the `rel="next"` URL in a Link header, if any."""
    for url in _NEXT_LINK.findall(link_header or ""):
        values = parse_qs(urlsplit(url).query).get("page_info")
        if values and values[0]:
            return values[0]
    return None


def shopify_error(response) -> str | None:
    """Shopify's own error text: `{"errors": "..."}` or `{"errors": {"field": ["..."]}}`."""
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, str) and errors:
        return errors[:300]
    if isinstance(errors, dict) and errors:
        parts = []
        for field, messages in errors.items():
            messages = messages if isinstance(messages, list) else [messages]
            parts.append(f"{field} {', '.join(str(m) for m in messages)}")
        return "; ".join(parts)[:300]
    if isinstance(errors, list) and errors:
        return ", ".join(str(e) for e in errors)[:300]
    return None


@registry.register
class Shopify(Provider):
    key = "shopify"
    name = "Shopify"
    category = "ecommerce"
    description = "Read a Shopify store's orders, products and customers, and set an order's tags."
    logo = "shopify"
    docs_url = "https://shopify.dev/docs/api/admin-rest"
    auth = AuthSpec(
        "oauth2",
        oauth2=OAuth2Spec(
            authorize_url="https://{shop}.myshopify.com/admin/oauth/authorize",
            token_url="https://{shop}.myshopify.com/admin/oauth/access_token",
            scopes=("read_orders", "read_products", "read_customers"),
            pkce=False,  # Shopify's authorisation-code grant uses the client secret, without PKCE
            scope_separator=",",
            token_auth_method="client_secret_post",
        ),
        description="Install the app with OAuth, or paste a custom app's Admin API access token (shpat_...) with "
        "the read_orders, read_products and read_customers scopes (write_orders to set order tags).",
    )
    config_fields = (
        Field("shop", "Shop", help="The myshopify.com subdomain, e.g. example for example.myshopify.com"),
        Field(
            "admin_api_access_token",
            "Admin API access token",
            type="secret",
            secret=True,
            required=False,
            help="A custom app's token (shpat_...); when set it is used instead of OAuth",
        ),
        Field("client_id", "Client ID", required=False, help="The app's client ID (OAuth only)"),
        Field(
            "client_secret",
            "Client secret",
            type="secret",
            secret=True,
            required=False,
            help="The app's client secret: used for OAuth and to verify webhook signatures",
        ),
        Field(
            "webhook_secret",
            "Webhook signing secret",
            type="secret",
            secret=True,
            required=False,
            help="Only when webhooks are signed with another key than the client secret",
        ),
        Field(
            "api_base_url",
            "API base URL",
            type="url",
            required=False,
            help="Leave empty: https://{shop}.myshopify.com is used",
        ),
    )
    resources = (
        ResourceSpec("orders", "ecommerce.order", "Orders of any status", window="created_at"),
        ResourceSpec(
            "products",
            "ecommerce.product",
            "Products (the first variant gives SKU, price and stock)",
            window="created_at",
        ),
        ResourceSpec("customers", "crm.contact", "Customers", window="created_at"),
    )
    actions = (
        ActionSpec(
            "update_order_tags",
            "Replace an order's tags",
            (
                Field("order_id", "Order id", type="integer"),
                Field("tags", "Tags", help="Comma-separated; replaces the current tags", max_length=5000),
            ),
        ),
    )
    webhook_verification = (
        f"{HMAC_HEADER}: base64 HMAC-SHA256 of the raw body with the app's client secret; X-Shopify-Topic is the "
        "event type; the event id is derived from the topic and body (X-Shopify-Webhook-Id is not signed)"
    )

    # --- configuration ----------------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
        errors: dict[str, list[str]] = {}
        if "shop" in config:
            try:
                config["shop"] = shop_name(config["shop"])
            except ValueError:
                errors["shop"] = ["Enter the shop's myshopify.com subdomain, e.g. example (letters, digits, -)."]
        if "api_base_url" in config and (problem := _api_base_problem(config["api_base_url"])):
            errors["api_base_url"] = [problem]
        if not partial:
            has = set(config) | set(secrets) | set(existing_secrets)
            if "admin_api_access_token" not in has and not {"client_id", "client_secret"} <= has:
                message = "Set an Admin API access token, or a client ID and client secret to connect with OAuth."
                errors["admin_api_access_token"] = [message]
        if errors:
            raise ValidationError(errors)
        return config, secrets

    def base_url(self, config: dict) -> str:
        url = config.get("api_base_url")
        if url:
            url = url.rstrip("/")
            if problem := _api_base_problem(url):
                raise ConfigurationError(f"Shopify API base URL {url!r} refused: {problem}")
        else:
            try:
                url = f"https://{shop_name(config.get('shop') or '')}.myshopify.com"
            except ValueError:
                raise ConfigurationError("Shopify shop name is missing or invalid.") from None
        return f"{url}/admin/api/{API_VERSION}/"

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        token = credentials.get("admin_api_access_token") or credentials.get("access_token")
        if not token:
            raise NeedsReauthError("Shopify is not connected: install the app with OAuth or set an access token.")
        return {TOKEN_HEADER: token}

    def retry_after(self, response) -> float | None:
        """A 429 without Retry-After: the bucket leaks at least 2 requests a second, so a slot frees within 1 s."""
        if response.status_code == 429 and response.headers.get(CALL_LIMIT_HEADER):
            return 1.0
        return None

    # --- calls ------------------------------------------------------------------------------------------------

    def error_message(self, response) -> str | None:
        return shopify_error(response)

    @staticmethod
    def _request(ctx: ConnectionContext, method: str, path: str, **kwargs):
        return ctx.http.request(method, path, **kwargs)

    def _check_order_window(self, ctx: ConnectionContext, since: date | None) -> None:
        """Without the read_all_orders scope Shopify answers only the last 60 days of orders, and an older window
        silently comes back empty: such a window is refused, saying so, rather than read as "no orders"."""
        if since is None:
            return
        oldest = datetime.now(UTC) - timedelta(days=ORDERS_WITHOUT_READ_ALL_DAYS)
        if datetime(since.year, since.month, since.day, tzinfo=UTC) >= oldest:
            return
        granted = str(ctx.credentials.get("scope") or "")
        if not granted:  # a custom app's token: ask Shopify which scopes it has
            url = urljoin(self.base_url(ctx.config), "/admin/oauth/access_scopes.json")
            body = parse_json(self._request(ctx, "GET", url), provider=self.key)
            scopes = body.get("access_scopes") if isinstance(body, dict) else None
            granted = ",".join(str(s.get("handle")) for s in scopes or [] if isinstance(s, dict))
        if "read_all_orders" not in {scope.strip() for scope in granted.split(",")}:
            raise ConfigurationError(
                f"Shopify shows this app only the last {ORDERS_WITHOUT_READ_ALL_DAYS} days of orders (since "
                f"{oldest.date().isoformat()}); orders from {since.isoformat()} need the read_all_orders scope."
            )

    def check(self, ctx: ConnectionContext) -> None:
        body = parse_json(self._request(ctx, "GET", "shop.json"), provider=self.key)
        if not isinstance(body, dict) or not isinstance(body.get("shop"), dict):
            raise BadResponseError("Shopify returned an unexpected body for the shop.")

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
        """The cursor is Shopify's `page_info` token from the `rel="next"` Link, passed back verbatim. A window is
        sent on the first page as `created_at_min` / `created_at_max` (UTC, both inclusive); the page_info token
        carries it to the following pages."""
        if resource not in RESOURCES:
            raise ConfigurationError(f"Shopify has no resource {resource!r}.")
        path, list_key, first_page_params = RESOURCES[resource]
        if resource == "orders" and cursor is None:
            self._check_order_window(ctx, since)
        params: dict = {"limit": max(1, min(limit, MAX_PER_PAGE))}
        if cursor:
            params["page_info"] = cursor  # a page_info request accepts no other filter
        else:
            params.update(first_page_params)
            if since is not None:
                params["created_at_min"] = f"{since.isoformat()}T00:00:00+00:00"
            if until is not None:
                params["created_at_max"] = f"{until.isoformat()}T23:59:59+00:00"
        response = self._request(ctx, "GET", path, params=params)
        body = parse_json(response, provider=self.key)
        items = body.get(list_key) if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) and "id" in item for item in items):
            raise BadResponseError(f"Shopify returned an unexpected body for the {resource} list.")
        normalise = {
            "orders": self.normalise_order,
            "products": self.normalise_product,
            "customers": self.normalise_customer,
        }[resource]
        records = [Record(id=str(item["id"]), data=normalise(item), raw=item) for item in items]
        following = next_page_info(response.headers.get("Link", ""))
        return Page(records=records, next_cursor=following if records else None)

    @staticmethod
    def normalise_order(item: dict) -> dict:
        customer = item.get("customer") if isinstance(item.get("customer"), dict) else {}
        status = "cancelled" if item.get("cancelled_at") else _blank_to_none(item.get("financial_status"))
        return normalised(
            "ecommerce.order",
            id=str(item.get("id")),
            number=_blank_to_none(item.get("name")) or _blank_to_none(str(item.get("order_number") or "")),
            status=status,
            currency=_blank_to_none(item.get("currency")),
            total=_blank_to_none(item.get("total_price")),
            customer_email=_blank_to_none(item.get("email"))
            or _blank_to_none(item.get("contact_email"))
            or _blank_to_none(customer.get("email")),
            created_at=item.get("created_at"),
            updated_at=item.get("updated_at"),
        )

    @staticmethod
    def normalise_product(item: dict) -> dict:
        variants = item.get("variants") if isinstance(item.get("variants"), list) else []
        first = variants[0] if variants and isinstance(variants[0], dict) else {}
        stocks = [v.get("inventory_quantity") for v in variants if isinstance(v, dict)]
        stock = sum(stocks) if stocks and all(isinstance(s, int) for s in stocks) else None
        return normalised(
            "ecommerce.product",
            id=str(item.get("id")),
            name=_blank_to_none(item.get("title")),
            sku=_blank_to_none(first.get("sku")),
            price=_blank_to_none(first.get("price")),
            currency=None,  # REST products carry no currency; it is the shop's currency
            stock=stock,
            status=_blank_to_none(item.get("status")),
            updated_at=item.get("updated_at"),
        )

    @staticmethod
    def normalise_customer(item: dict) -> dict:
        address = item.get("default_address") if isinstance(item.get("default_address"), dict) else {}
        return normalised(
            "crm.contact",
            id=str(item.get("id")),
            email=_blank_to_none(item.get("email")),
            first_name=_blank_to_none(item.get("first_name")),
            last_name=_blank_to_none(item.get("last_name")),
            phone=_blank_to_none(item.get("phone")) or _blank_to_none(address.get("phone")),
            company=_blank_to_none(address.get("company")),
            tags=_tags(item.get("tags")),
            lead_score=None,
            created_at=item.get("created_at"),
            updated_at=item.get("updated_at"),
        )

    # --- actions ----------------------------------------------------------------------------------------------

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        if action != "update_order_tags":
            raise ConfigurationError(f"Shopify has no action {action!r}.")
        order_id = payload["order_id"]
        tags = ", ".join(_tags(payload["tags"]))
        response = self._request(
            ctx, "PUT", f"orders/{order_id}.json", json_body={"order": {"id": order_id, "tags": tags}}
        )
        body = parse_json(response, provider=self.key)
        order = body.get("order") if isinstance(body, dict) else None
        if not isinstance(order, dict) or "id" not in order:
            raise BadResponseError("Shopify returned an unexpected body for the order update.")
        return {"id": str(order["id"]), "tags": _tags(order.get("tags")), "record": self.normalise_order(order)}

    # --- webhooks ---------------------------------------------------------------------------------------------

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        """`secret` is the app's client secret (or the connection's webhook_secret)."""
        sent = {k.lower(): v for k, v in headers.items()}
        signature = sent.get(HMAC_HEADER.lower(), "").strip()
        if not secret:
            raise WebhookVerificationError("no webhook secret is configured for this connection")
        if not signature:
            raise WebhookVerificationError(f"missing {HMAC_HEADER} header")
        expected = base64.b64encode(hmac.new(secret.encode(), body or b"", hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise WebhookVerificationError("wrong signature")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        event_type = sent.get("x-shopify-topic", "").strip() or "shopify.event"
        # X-Shopify-Webhook-Id is not signed: the id comes from what is (the webhook id stays in the headers)
        return WebhookEvent(event_id=signed_body_id(event_type, body), event_type=event_type, payload=payload)
