"""WordPress core REST API (wp/v2), authenticated with an application password over HTTP Basic.

Contract: https://developer.wordpress.org/rest-api/ — `GET /wp-json/wp/v2/posts|pages` paginated with `page` and
`per_page` (max 100), totals in `X-WP-Total` / `X-WP-TotalPages`; `POST /posts` creates, `POST /posts/{id}`
updates; errors are `{"code", "message", "data": {"status"}}`. Core does not sign webhooks: sites that send them
(e.g. through a webhook plugin) are configured with a shared secret sent in a header.
"""

from __future__ import annotations

import hmac
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
from apps.connectors.exceptions import BadResponseError
from apps.connectors.http import parse_json
from apps.connectors.registry import registry
from apps.connectors.unified import normalised

MAX_PER_PAGE = 100
SECRET_HEADER = "X-BizOSaaS-Webhook-Secret"


def _rendered(value) -> str | None:
    return value.get("rendered") if isinstance(value, dict) else value


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
        """A window filters on the last modification (`modified_after` / `modified_before`, WordPress 5.7+, in the
        site's time zone): from the start of `since` to the end of `until`."""
        page = int(cursor or 1)
        params = {"page": page, "per_page": min(limit, MAX_PER_PAGE), "context": "view"}
        if since is not None:
            params["modified_after"] = f"{since.isoformat()}T00:00:00"
        if until is not None:
            params["modified_before"] = f"{(until + timedelta(days=1)).isoformat()}T00:00:00"
        response = ctx.http.request("GET", resource, params=params)
        items = parse_json(response, provider=self.key)
        if not isinstance(items, list):
            raise BadResponseError("WordPress returned an unexpected body for a list.")
        total_pages = int(response.headers.get("X-WP-TotalPages", page))
        model = self.resource(resource).model
        records = [Record(id=str(item["id"]), data=self.normalise(model, item), raw=item) for item in items]
        return Page(records=records, next_cursor=str(page + 1) if page < total_pages else None)

    @staticmethod
    def normalise(model: str, item: dict) -> dict:
        return normalised(
            model,
            id=str(item.get("id")),
            title=_rendered(item.get("title")),
            status=item.get("status"),
            url=item.get("link"),
            excerpt=_rendered(item.get("excerpt")),
            updated_at=item.get("modified_gmt") or item.get("modified"),
        )

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        body = {key: payload[key] for key in ("title", "content", "excerpt") if key in payload}
        if action == "create_draft_post":
            post = ctx.http.json("POST", "posts", json_body={**body, "status": "draft"})
        else:
            post = ctx.http.json("POST", f"posts/{payload['id']}", json_body={**body, "status": "draft"})
        return {
            "id": str(post["id"]),
            "status": post.get("status"),
            "url": post.get("link"),
            "record": self.normalise("cms.post", post),
        }

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        sent = {k.lower(): v for k, v in headers.items()}.get(SECRET_HEADER.lower(), "")
        if not secret or not hmac.compare_digest(sent.encode(), secret.encode()):
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
