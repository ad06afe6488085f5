"""Wagtail's read-only content API v2.

Contract (Wagtail docs, "Wagtail API v2 Usage Guide"): `GET /api/v2/pages/` lists live, public pages as
`{"meta": {"total_count"}, "items": [{"id", "meta": {"type", "detail_url", "html_url", "slug",
"first_published_at", ...}, "title", ...}]}`; `?type=app.Model` filters, `?fields=` adds fields, `limit` (default
and maximum `WAGTAILAPI_LIMIT_MAX`, 20 unless the site changed it) and `offset` paginate; errors are
`{"message": ...}` with 400. The API is public by default; sites that protect it usually add Django REST
framework's token authentication (`Authorization: Token <key>`). Wagtail sends no webhooks.

Checked against the real Wagtail 8.0.1 (tests/connectors/providers/test_wagtail_real.py, a site with API v2
public and behind token authentication): only live, public pages are listed (draft-only, unpublished and
password-protected pages are not); a page with unpublished changes shows its live title; `total_count` with
limit/offset paging; `limit` above WAGTAILAPI_LIMIT_MAX is a 400 with Wagtail's message; a missing token is a
401; `meta.first_published_at` is in the site's time zone; there is no `last_published_at` (asking for it in
`fields` is a 400 "unknown fields"), so `updated_at` is left empty rather than the first publication (which
stays in the raw record). Only against the documentation: `?type=` filtering and sites mounting the API
elsewhere.
"""

from __future__ import annotations

from apps.connectors.base import AuthSpec, ConnectionContext, Field, Page, Provider, Record, ResourceSpec
from apps.connectors.exceptions import BadResponseError
from apps.connectors.registry import registry
from apps.connectors.unified import normalised

DEFAULT_LIMIT_MAX = 20


@registry.register
class Wagtail(Provider):
    key = "wagtail"
    name = "Wagtail"
    category = "cms"
    description = "Read the live pages of a Wagtail site through its content API."
    logo = "wagtail"
    docs_url = "https://docs.wagtail.org/en/stable/advanced_topics/api/v2/usage.html"
    auth = AuthSpec("none", description="Public by default; add a token when the site protects its API.")
    config_fields = (
        Field("site_url", "Site URL", type="url", help="e.g. https://www.example.com"),
        Field("api_path", "API path", default="/api/v2", required=False, help="where the site mounts the API"),
        Field("page_type", "Page type", required=False, help="optional, e.g. blog.BlogPage"),
        Field(
            "limit_max",
            "Page size limit",
            type="integer",
            required=False,
            default=DEFAULT_LIMIT_MAX,
            help="the site's WAGTAILAPI_LIMIT_MAX",
        ),
        Field(
            "api_token",
            "API token",
            type="secret",
            secret=True,
            required=False,
            help="sent as `Authorization: Token ...` when set",
        ),
    )
    resources = (ResourceSpec("pages", "cms.page", "Live, public pages"),)
    actions = ()
    webhook_verification = ""  # Wagtail sends no webhooks

    def base_url(self, config: dict) -> str:
        path = "/" + str(config.get("api_path") or "/api/v2").strip("/")
        return f"{config['site_url']}{path}/"

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        token = credentials.get("api_token")
        return {"Authorization": f"Token {token}"} if token else {}

    def check(self, ctx: ConnectionContext) -> None:
        self.read(ctx, "pages", cursor=None, limit=1)

    def read(self, ctx: ConnectionContext, resource: str, *, cursor: str | None, limit: int) -> Page:  # type: ignore[override]
        try:
            offset = int(cursor or 0)
        except ValueError:
            raise BadResponseError(f"Not a Wagtail cursor: {cursor!r}") from None
        limit = min(limit, int(ctx.config.get("limit_max") or DEFAULT_LIMIT_MAX))
        params = {"limit": limit, "offset": offset, "fields": "search_description"}
        if ctx.config.get("page_type"):
            params["type"] = ctx.config["page_type"]
        body = ctx.http.json("GET", "pages/", params=params)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise BadResponseError("Wagtail returned a body without `items`.")
        total = int(body.get("meta", {}).get("total_count", 0))
        records = [Record(id=str(item["id"]), data=self.normalise(item), raw=item) for item in body["items"]]
        following = offset + len(records)
        return Page(records=records, next_cursor=str(following) if records and following < total else None)

    @staticmethod
    def normalise(item: dict) -> dict:
        meta = item.get("meta") or {}
        return normalised(
            "cms.page",
            id=str(item.get("id")),
            title=item.get("title"),
            status="live",  # the API only exposes live pages
            url=meta.get("html_url"),
            excerpt=meta.get("search_description") or None,
            # API v2 has no last publication time: the first one is not when the page last changed
            updated_at=item.get("last_published_at") or meta.get("last_published_at") or None,
        )
