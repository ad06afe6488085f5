"""WordPress core REST API (wp/v2), authenticated with an application password over HTTP Basic.

Contract: https://developer.wordpress.org/rest-api/ — `GET /wp-json/wp/v2/posts|pages` paginated with `page` and
`per_page` (max 100), totals in `X-WP-Total` / `X-WP-TotalPages`; `POST /posts` creates, `POST /posts/{id}`
updates; errors are `{"code", "message", "data": {"status", "params"}}`. Core does not sign webhooks: sites that
send them (e.g. through a webhook plugin) are configured with a shared secret sent in a header.

Checked against the real WordPress 6.1 (Debian's package, tests/connectors/providers/test_wordpress_real.py):
reading posts and pages in every status (publish, draft, pending, private, future) with their raw titles (quotes,
ampersands, `<`), links and UTC modification times; a list without `status` answering published posts only; the
edit context silently leaving out posts the user may not edit (why non-editors read the view context); an author
refused other statuses of pages (rest_invalid_param) and reading the published ones; date windows as UTC days
across a site time zone other than UTC (+9 and others); paging; create_draft_post and update_draft_post (which
refuses a published post); the errors' codes (a wrong application password is `rest_not_logged_in`, a bad page
`rest_invalid_param` with its parameter). Only against the documentation: 429 / Retry-After and 5xx behaviour
(a plain WordPress does not rate-limit) and webhooks (core sends none).
"""

from __future__ import annotations

import html
from datetime import date, timedelta

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
)
from apps.connectors.exceptions import AuthenticationError, BadResponseError, ProviderRequestError
from apps.connectors.http import parse_json
from apps.connectors.registry import registry
from apps.connectors.signing import header, matches
from apps.connectors.unified import normalised

MAX_PER_PAGE = 100
SECRET_HEADER = "X-BizOSaaS-Webhook-Secret"
# what WordPress answers a user who may not ask for every status in the edit context (e.g. an author on pages)
MAY_NOT_EDIT_CODES = ("rest_forbidden_context", "rest_forbidden_status", "rest_invalid_param")


def _rendered(value) -> str | None:
    return value.get("rendered") if isinstance(value, dict) else value


def _title(value) -> str | None:
    """The title as typed: the rendered one carries HTML entities (`&#8217;`) and, for private posts, WordPress's
    "Private: " prefix; it is only what there is for users who may not edit (published posts have no prefix)."""
    if isinstance(value, dict):
        return value["raw"] if isinstance(value.get("raw"), str) else html.unescape(value.get("rendered") or "")
    return value


def _utc(value) -> str | None:
    """`modified_gmt` comes without a zone (`2026-11-02T14:30:00`); it is UTC."""
    return f"{value}Z" if isinstance(value, str) and value and value[-1].isdigit() else value or None


def _may_not_edit(error: Exception) -> bool:
    return isinstance(error, (AuthenticationError, ProviderRequestError)) and any(
        f"({code}" in error.message for code in MAY_NOT_EDIT_CODES
    )


@registry.register
class WordPress(Provider):
    key = "wordpress"
    name = "WordPress"
    category = "cms"
    description = "Read posts and pages of a WordPress site and publish draft posts."
    logo = "wordpress"
    docs_url = "https://developer.wordpress.org/rest-api/reference/"
    auth = AuthSpec("app_password", description="A WordPress user name and an application password (Users > Profile).")
    config_fields = (
        Field("site_url", "Site URL", type="url", help="e.g. https://blog.example.com"),
        Field("username", "User name"),
        Field("application_password", "Application password", type="secret", secret=True),
        Field(
            "webhook_secret",
            "Webhook shared secret",
            type="secret",
            secret=True,
            required=False,
            help=f"Sent by the site in the {SECRET_HEADER} header",
        ),
    )
    resources = (
        ResourceSpec("posts", "cms.post", "Blog posts (any status the user may read)", window="updated_at"),
        ResourceSpec("pages", "cms.page", "Pages", window="updated_at"),
    )
    actions = (
        ActionSpec(
            "create_draft_post",
            "Create a draft post",
            (
                Field("title", "Title"),
                Field("content", "Content", type="text", max_length=200_000),
                Field("excerpt", "Excerpt", type="text", required=False),
            ),
        ),
        ActionSpec(
            "update_draft_post",
            "Update a post's title, content or excerpt (it stays a draft)",
            (
                Field("id", "Post id", type="integer"),
                Field("title", "Title", required=False),
                Field("content", "Content", type="text", required=False, max_length=200_000),
                Field("excerpt", "Excerpt", type="text", required=False),
            ),
        ),
    )
    webhook_verification = f"shared secret compared in the {SECRET_HEADER} header (core WordPress does not sign)"
    webhook_secret_fields = ("webhook_secret",)

    def base_url(self, config: dict) -> str:
        return f"{config['site_url']}/wp-json/wp/v2/"

    def basic_auth(self, config: dict, credentials: dict) -> tuple[str, str] | None:
        # application passwords are shown with spaces; WordPress accepts them with or without
        return config["username"], credentials.get("application_password", "")

    def check(self, ctx: ConnectionContext) -> None:
        ctx.http.json("GET", "users/me", params={"context": "edit"})

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
        """Every status the user may read (`status=any`, trash aside); a list without `status` answers published
        posts only. The edit context (raw titles) silently leaves out every post the user may not edit while
        `X-WP-Total` still counts it, so a page shorter than the total promises is asked again in the view context
        (rendered titles, decoded), as are the pages after it; users who may not ask for other statuses (an author
        on pages: rest_invalid_param / rest_forbidden_context) read the published ones. The cursor (`2`, `2:view`,
        `2:publish`) carries the mode on.

        A window filters on the last modification in UTC days, like `updated_at` (`modified_gmt`): from the start
        of `since` to the end of `until`, sent with `Z` (WordPress 5.7+ converts it to the site's time zone)."""
        page_text, _, mode = (cursor or "1").partition(":")
        page, per_page = int(page_text), min(limit, MAX_PER_PAGE)
        params = {"page": page, "per_page": per_page, "status": "any", "context": "edit"}
        if since is not None:
            params["modified_after"] = f"{since.isoformat()}T00:00:00Z"
        if until is not None:
            params["modified_before"] = f"{(until + timedelta(days=1)).isoformat()}T00:00:00Z"
        views = {"view": {"context": "view"}, "publish": {"status": "publish", "context": "view"}}
        try:
            response = ctx.http.request("GET", resource, params={**params, **views.get(mode, {})})
        except (AuthenticationError, ProviderRequestError) as error:
            if mode == "publish" or not _may_not_edit(error):
                raise
            mode = "publish"
            response = ctx.http.request("GET", resource, params={**params, **views[mode]})
        items = parse_json(response, provider=self.key)
        if not isinstance(items, list):
            raise BadResponseError("WordPress returned an unexpected body for a list.")
        if not mode:
            total = int(response.headers.get("X-WP-Total", len(items)) or 0)
            if len(items) < min(per_page, max(0, total - (page - 1) * per_page)):  # some were left out
                mode = "view"
                response = ctx.http.request("GET", resource, params={**params, **views[mode]})
                items = parse_json(response, provider=self.key)
                if not isinstance(items, list):
                    raise BadResponseError("WordPress returned an unexpected body for a list.")
        total_pages = int(response.headers.get("X-WP-TotalPages", page))
        model = self.resource(resource).model  # type: ignore[union-attr]
        records = [Record(id=str(item["id"]), data=self.normalise(model, item), raw=item) for item in items]
        following = f"{page + 1}:{mode}" if mode else str(page + 1)
        return Page(records=records, next_cursor=following if page < total_pages else None)

    @staticmethod
    def normalise(model: str, item: dict) -> dict:
        return normalised(
            model,
            id=str(item.get("id")),
            title=_title(item.get("title")),
            status=item.get("status"),
            url=item.get("link"),
            excerpt=_rendered(item.get("excerpt")),
            updated_at=_utc(item.get("modified_gmt")),
        )

    def error_message(self, response) -> str | None:
        """WordPress's message with its error `code` and, for a bad parameter, which one and why
        (`{"code": "rest_invalid_param", "data": {"params": {"status": "..."}}}`)."""
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            return None
        message = html.unescape(body["message"])
        params = (body.get("data") or {}).get("params") if isinstance(body.get("data"), dict) else None
        if isinstance(params, dict) and params:
            message += " " + "; ".join(f"{name}: {html.unescape(str(why))}" for name, why in params.items())
        return f"{message} ({body.get('code')})" if body.get("code") else message

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        body = {key: payload[key] for key in ("title", "content", "excerpt") if key in payload}
        if action == "create_draft_post":
            post = ctx.http.json("POST", "posts", json_body={**body, "status": "draft"})
        else:
            # sending status=draft for a published post would unpublish it: only drafts are updated
            current = ctx.http.json("GET", f"posts/{payload['id']}", params={"context": "edit"})
            if current.get("status") != "draft":
                raise ProviderRequestError(
                    f"WordPress post {payload['id']} is {current.get('status')}, not a draft; only drafts are updated."
                )
            post = ctx.http.json("POST", f"posts/{payload['id']}", json_body=body)
        return {
            "id": str(post["id"]),
            "status": post.get("status"),
            "url": post.get("link"),
            "record": self.normalise("cms.post", post),
        }

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        if not matches(header(headers, SECRET_HEADER), secret):
            raise WebhookVerificationError("missing or wrong shared secret")
        import json

        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        event_id = str(payload.get("id") or payload.get("post_id") or "")
        event_type = str(payload.get("event") or payload.get("hook") or "wordpress.event")
        return WebhookEvent(
            event_id=f"{event_type}:{event_id}:{payload.get('modified_gmt', '')}",
            event_type=event_type,
            payload=payload,
        )
