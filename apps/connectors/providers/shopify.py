"""Shopify Admin API, version 2026-10: products over GraphQL, orders and customers over REST, with a custom app's
Admin API access token or OAuth (both sent as `X-Shopify-Access-Token`).

Contract: https://shopify.dev/docs/api/admin-graphql (products query:
https://shopify.dev/docs/api/admin-graphql/latest/queries/products; rate limits:
https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits), https://shopify.dev/docs/api/admin-rest
(versioning: https://shopify.dev/docs/api/usage/versioning; pagination:
https://shopify.dev/docs/api/admin-rest/usage/pagination; webhooks:
https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook).

Products (GraphQL; REST products are deprecated for public apps): `POST /admin/api/2026-10/graphql.json` with
`{"query", "variables"}`; `products(first: N (max 250), after: $cursor, query: "created_at:>='...'", sortKey: ID)`
answers `data.products.nodes` and `pageInfo { hasNextPage endCursor }`; the cursor is `endCursor`, and the search
query goes with every page (a GraphQL cursor does not carry the filters). A product's `legacyResourceId` is the REST
id the unified record keeps; `status` is ACTIVE / DRAFT / ARCHIVED (lower-cased, as REST wrote it); stock is
`totalInventory`, SKU and price the first variant's. GraphQL answers HTTP 200 even when it fails: `errors[]` with
`extensions.code` (ACCESS_DENIED for a missing scope, THROTTLED when the bucket lacks the query's cost) and, on
mutations, `userErrors[]`. Every answer carries `extensions.cost` (`requestedQueryCost`, `actualQueryCost`,
`throttleStatus { maximumAvailable, currentlyAvailable, restoreRate }`): a throttled query is sent again after the
time the bucket takes to restore the missing points ((requested - available) / restoreRate seconds), within the
call's deadline, else it is a rate-limit error saying when to retry.

Orders and customers (REST, still versioned and supported for custom apps and private reads, which is why they stay):
`GET /orders.json|customers.json` take `limit` (max 250) and answer `{"orders": [...]}` etc.; the next page is
announced in the `Link` header (`<...?limit=50&page_info=TOKEN>; rel="next"`), and a page_info request may carry only
`limit` and `fields` (any other filter is refused). Orders default to `status=open`, so the first request asks for
`status=any`. Errors are `{"errors": "..."}` (401: "[API] Invalid API key or access token (unrecognized login or
wrong password)") or `{"errors": {"field": ["message"]}}` (422). Every response carries
`X-Shopify-Shop-Api-Call-Limit: used/size` (leaky bucket, at least 2 requests a second); over the limit it is 429
with `Retry-After` (seconds). `PUT /orders/{id}.json` with `{"order": {"id", "tags"}}` updates an order's tags.

Webhooks: `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(app client secret, raw body)); `X-Shopify-Topic` names the
event (e.g. `orders/create`), `X-Shopify-Webhook-Id` identifies the delivery (kept across retries),
`X-Shopify-Event-Id` the event, `X-Shopify-Shop-Domain` the shop. No timestamp is signed, and neither are those
headers: our event id is derived from the topic and the signed body, so a body re-posted with a new webhook id is a
duplicate.

All of it is checked against Shopify's documentation only (and the signature against Shopify's published examples):
no Shopify store runs here.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urljoin, urlsplit

from django.conf import settings
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
    json_object,
    signed_body_id,
)
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NeedsReauthError,
    ProviderRequestError,
    RateLimitedError,
)
from apps.connectors.http import deadline, parse_json, time_left
from apps.connectors.registry import registry
from apps.connectors.signing import header, hmac_signature, matches
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
    "customers": ("customers.json", "customers", {}),
}
PRODUCTS_QUERY = """
query Products($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      legacyResourceId
      title
      status
      createdAt
      updatedAt
      totalInventory
      variants(first: 1) { nodes { sku price } }
    }
  }
}
""".strip()
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


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value] if value else []


def graphql_throttle_wait(body: dict) -> float:
    """Seconds until the bucket holds the throttled query's requested cost: (requested - available) / restoreRate,
    from `extensions.cost`; one second when Shopify does not say."""
    cost = (body.get("extensions") or {}).get("cost") if isinstance(body.get("extensions"), dict) else None
    cost = cost if isinstance(cost, dict) else {}
    status = json_object(cost.get("throttleStatus"))
    requested, available, rate = (
        cost.get("requestedQueryCost"),
        status.get("currentlyAvailable"),
        status.get("restoreRate"),
    )
    numbers = (requested, available, rate)
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers) or rate <= 0:  # type: ignore[operator]
        return 1.0
    return max(0.0, (requested - available) / rate)  # type: ignore[operator]


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
            "Products, over GraphQL (SKU and price from the first variant, stock is the total inventory)",
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
    webhook_secret_fields = ("webhook_secret", "client_secret")

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
        """Orders and customers: the cursor is Shopify's `page_info` token from the `rel="next"` Link, passed back
        verbatim. A window is sent on the first page as `created_at_min` / `created_at_max` (UTC, both inclusive);
        the page_info token carries it to the following pages. Products: GraphQL (`_read_products`)."""
        if resource == "products":
            return self._read_products(ctx, cursor=cursor, limit=limit, since=since, until=until)
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
        normalise = {"orders": self.normalise_order, "customers": self.normalise_customer}[resource]
        records = [Record(id=str(item["id"]), data=normalise(item), raw=item) for item in items]
        following = next_page_info(response.headers.get("Link", ""))
        return Page(records=records, next_cursor=following if records else None)

    def _read_products(
        self, ctx: ConnectionContext, *, cursor: str | None, limit: int, since: date | None, until: date | None
    ) -> Page:
        """A page of the GraphQL `products` connection; the cursor is its `endCursor`, and the window (created_at,
        UTC days, both inclusive) is a search query sent with every page."""
        terms = []
        if since is not None:
            terms.append(f"created_at:>='{since.isoformat()}T00:00:00Z'")
        if until is not None:
            terms.append(f"created_at:<='{until.isoformat()}T23:59:59Z'")
        variables = {"first": max(1, min(limit, MAX_PER_PAGE)), "after": cursor, "query": " AND ".join(terms) or None}
        data = self.graphql(ctx, PRODUCTS_QUERY, variables)
        connection = data.get("products") if isinstance(data, dict) else None
        nodes = connection.get("nodes") if isinstance(connection, dict) else None
        info = connection.get("pageInfo") if isinstance(connection, dict) else None
        if (
            not isinstance(nodes, list)
            or not isinstance(info, dict)
            or not all(isinstance(node, dict) and node.get("legacyResourceId") for node in nodes)
        ):
            raise BadResponseError("Shopify returned an unexpected body for the products list.")
        records = [
            Record(id=str(node["legacyResourceId"]), data=self.normalise_product(node), raw=node) for node in nodes
        ]
        following = info.get("endCursor") if info.get("hasNextPage") and records else None
        return Page(records=records, next_cursor=following or None)

    def graphql(self, ctx: ConnectionContext, query: str, variables: dict) -> dict:
        """`data` of one GraphQL Admin API call. A THROTTLED answer is sent again once the bucket has restored the
        query's cost, as long as that wait fits in the call's deadline (the whole exchange, waits included, is
        bounded by it); other `errors` and `userErrors` become errors that quote Shopify's messages."""
        with deadline(ctx.http.deadline):
            for attempt in range(settings.CONNECTOR_MAX_RETRIES + 1):
                response = self._request(
                    ctx, "POST", "graphql.json", json_body={"query": query, "variables": variables}, idempotent=True
                )
                body = parse_json(response, provider=self.key)
                if not isinstance(body, dict):
                    raise BadResponseError("Shopify returned an unexpected GraphQL body.")
                errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
                if not errors and isinstance(body.get("errors"), list | str) and body.get("errors"):
                    raise ProviderRequestError(f"Shopify refused the query: {body['errors']}"[:300])
                codes = {str(e["extensions"].get("code")) for e in errors if isinstance(e.get("extensions"), dict)}
                if "THROTTLED" in codes:
                    wait = graphql_throttle_wait(body)
                    left = time_left()
                    if (
                        attempt < settings.CONNECTOR_MAX_RETRIES
                        and wait <= settings.CONNECTOR_MAX_RETRY_AFTER
                        and (left is None or wait + 0.5 < left)
                    ):
                        time.sleep(wait)
                        continue
                    raise RateLimitedError(
                        f"Shopify rate limit reached: the query needs more of the store's GraphQL budget than is "
                        f"left; try again in {wait:.0f} s.",
                        retry_after=wait,
                    )
                if errors:
                    message = "; ".join(str(e.get("message") or "") for e in errors)[:300]
                    if "ACCESS_DENIED" in codes:
                        raise AuthenticationError(f"Shopify denied access: {message}", provider_status=403)
                    raise ProviderRequestError(f"Shopify refused the query: {message}")
                data = body.get("data")
                if not isinstance(data, dict):
                    raise BadResponseError("Shopify returned a GraphQL answer without data.")
                problems = [
                    item
                    for value in data.values()
                    if isinstance(value, dict)
                    for item in value.get("userErrors") or []
                    if isinstance(item, dict)
                ]
                if problems:
                    raise ProviderRequestError(
                        "Shopify refused the request: "
                        + "; ".join(
                            f"{'.'.join(str(p) for p in _as_list(item.get('field')))} {item.get('message', '')}".strip()
                            for item in problems
                        )[:300]
                    )
                return data
        raise AssertionError("unreachable")  # the loop returns or raises

    @staticmethod
    def normalise_order(item: dict) -> dict:
        customer = json_object(item.get("customer"))
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
    def normalise_product(node: dict) -> dict:
        """A GraphQL Product node in the unified shape REST products had (the REST id, lower-case status)."""
        variants = json_object(node.get("variants"))
        first = (variants.get("nodes") or [{}])[0] if isinstance(variants.get("nodes"), list) else {}
        first = first if isinstance(first, dict) else {}
        stock = node.get("totalInventory")
        status = node.get("status")
        return normalised(
            "ecommerce.product",
            id=str(node.get("legacyResourceId")),
            name=_blank_to_none(node.get("title")),
            sku=_blank_to_none(first.get("sku")),
            price=_blank_to_none(first.get("price")),
            currency=None,  # a variant's price is in the shop's currency, which the product does not name
            stock=stock if isinstance(stock, int) and not isinstance(stock, bool) else None,
            status=status.lower() if isinstance(status, str) and status else None,
            updated_at=node.get("updatedAt"),
        )

    @staticmethod
    def normalise_customer(item: dict) -> dict:
        address = json_object(item.get("default_address"))
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
        signature = header(headers, HMAC_HEADER)
        if not secret:
            raise WebhookVerificationError("no webhook secret is configured for this connection")
        if not signature:
            raise WebhookVerificationError(f"missing {HMAC_HEADER} header")
        if not matches(signature, hmac_signature(secret, body)):
            raise WebhookVerificationError("wrong signature")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        event_type = header(headers, "X-Shopify-Topic") or "shopify.event"
        # X-Shopify-Webhook-Id is not signed: the id comes from what is (the webhook id stays in the headers)
        return WebhookEvent(event_id=signed_body_id(event_type, body), event_type=event_type, payload=payload)
