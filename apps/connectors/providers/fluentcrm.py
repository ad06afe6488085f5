"""FluentCRM (a WordPress plugin) REST API, namespace `fluent-crm/v2`, authenticated with a WordPress application
password over HTTP Basic.

Contract: https://developers.fluentcrm.com/rest-api/ (OpenAPI operations `listContacts`, `createContact`,
`syncContactSegments`) —
- `GET /wp-json/fluent-crm/v2/subscribers?page=&per_page=&sort_by=&sort_type=` answers
  `{"subscribers": {"total", "per_page", "current_page", "last_page", "next_page_url", "data": [contact, ...]}}`;
- `POST /subscribers` with `email`, `status` (required) and `"__force_update": "yes"` creates the contact or
  updates the one with that email, answering `{"message", "contact", "action_type": "created"|"updated"}`;
  validation failures are 422 `{"message", "errors": {field: [...]}}`;
- `POST /subscribers/sync-segments` with `{"subscribers": [ids], "type": "tags", "attach": [...], "find_by":
  "slug"|"id"}` attaches tags, answering `{"message", "subscribers": [contact, ...]}`; unknown tags are skipped.
Authentication errors come from WordPress core: `{"code", "message", "data": {"status": 401}}`. FluentCRM sends
no rate-limit headers. Its outgoing webhooks (the automation "Outgoing Webhook" action) are unsigned; the site adds
a shared secret as a custom request header, which is what `verify_webhook` checks.
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import ValidationError

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
from apps.connectors.base import is_loopback_host as _is_loopback
from apps.connectors.exceptions import BadResponseError, ConfigurationError, NotFoundError
from apps.connectors.registry import registry
from apps.connectors.signing import header, matches
from apps.connectors.unified import normalised
from bizosaas.digits import ascii_digits

API_NAMESPACE = "fluent-crm/v2"
MAX_PER_PAGE = 100
MAX_TAGS = 50
CONTACT_STATUSES = ("subscribed", "pending", "unsubscribed", "bounced", "complained")
SECRET_HEADER = "X-BizOSaaS-Webhook-Secret"
TAG_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,191}$")


class TagListField(Field):
    """Comma-separated tag ids (all numbers) or tag slugs (none numbers), cleaned to a list of strings."""

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return None
        items = list(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
        if not items:
            raise ValidationError("Give at least one tag id or slug.")
        if len(items) > MAX_TAGS:
            raise ValidationError(f"At most {MAX_TAGS} tags at a time.")
        numeric = [ascii_digits(item) for item in items]
        if any(numeric) and not all(numeric):
            raise ValidationError("Give either tag ids or tag slugs, not both.")
        if not all(numeric):
            bad = [item for item in items if not TAG_SLUG.match(item)]
            if bad:
                raise ValidationError(f"Not a tag slug: {', '.join(bad[:5])}.")
        return items


def _page_number(cursor: str | None) -> int:
    if cursor is None:
        return 1
    if not ascii_digits(str(cursor)) or int(cursor) < 1:
        raise ValueError(f"not a FluentCRM page cursor: {cursor!r}")
    return int(cursor)


def _tag_names(tags) -> list[str]:
    if not isinstance(tags, list):
        return []
    return [str(tag.get("title") or tag.get("slug")) for tag in tags if isinstance(tag, dict)]


def _blank_to_none(value):
    return None if value in ("", None) else value


@registry.register
class FluentCRM(Provider):
    key = "fluentcrm"
    name = "FluentCRM"
    category = "crm"
    description = "Read the contacts of a FluentCRM (WordPress) site, create or update contacts and tag them."
    logo = "fluentcrm"
    docs_url = "https://developers.fluentcrm.com/rest-api/"
    auth = AuthSpec(
        "app_password",
        description="A WordPress user with FluentCRM permissions and its application password "
        "(FluentCRM > Settings > REST API).",
    )
    config_fields = (
        Field("site_url", "Site URL", type="url", help="The WordPress site, e.g. https://example.com (HTTPS)"),
        Field("username", "API user name"),
        Field("application_password", "Application password", type="secret", secret=True),
        Field(
            "webhook_secret",
            "Webhook shared secret",
            type="secret",
            secret=True,
            required=False,
            help=f"Add it to FluentCRM's Outgoing Webhook action as the {SECRET_HEADER} request header",
        ),
    )
    resources = (ResourceSpec("subscribers", "crm.contact", "Contacts (FluentCRM subscribers), oldest first"),)
    actions = (
        ActionSpec(
            "upsert_contact",
            "Create a contact, or update the contact with that email",
            (
                Field("email", "Email", type="email", max_length=190),
                Field(
                    "status",
                    "Status",
                    type="choice",
                    choices=CONTACT_STATUSES,
                    required=False,
                    default="subscribed",
                    help="FluentCRM requires a status; it is applied to an existing contact too",
                ),
                Field("first_name", "First name", required=False, max_length=192),
                Field("last_name", "Last name", required=False, max_length=192),
                Field("phone", "Phone", required=False, max_length=50),
            ),
        ),
        ActionSpec(
            "add_tag",
            "Attach tags to a contact",
            (
                Field("subscriber_id", "Contact id", type="integer"),
                TagListField(
                    "tags",
                    "Tags",
                    help="Comma-separated tag ids (e.g. 3,7) or tag slugs (e.g. vip,newsletter); "
                    "tags that do not exist are skipped",
                ),
            ),
        ),
    )
    webhook_verification = (
        f"shared secret compared in the {SECRET_HEADER} header (FluentCRM outgoing webhooks are unsigned; "
        "no timestamp, so no replay protection)"
    )
    webhook_secret_fields = ("webhook_secret",)

    def base_url(self, config: dict) -> str:
        site_url = config["site_url"].rstrip("/")
        parts = urlsplit(site_url)
        if parts.scheme != "https" and not _is_loopback((parts.hostname or "").lower()):
            raise ConfigurationError("FluentCRM credentials are only sent over HTTPS; use an https:// site URL.")
        return f"{site_url}/wp-json/{API_NAMESPACE}/"

    def basic_auth(self, config: dict, credentials: dict) -> tuple[str, str] | None:
        return config["username"], credentials.get("application_password", "")

    def check(self, ctx: ConnectionContext) -> None:
        self._subscribers_page(ctx, page=1, per_page=1)

    def read(self, ctx: ConnectionContext, resource: str, *, cursor: str | None, limit: int) -> Page:  # type: ignore[override]
        spec = self.resource(resource)
        if spec is None:
            raise NotFoundError(f"FluentCRM has no resource {resource!r}.")
        page = _page_number(cursor)
        listing = self._subscribers_page(ctx, page=page, per_page=max(1, min(limit, MAX_PER_PAGE)))
        records = []
        for item in listing["data"]:
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                raise BadResponseError("FluentCRM returned a contact without an id.")
            records.append(Record(id=str(item["id"]), data=self.normalise(item), raw=item))
        try:
            last_page = int(listing.get("last_page") or page)
        except (TypeError, ValueError):
            raise BadResponseError("FluentCRM returned a page without a valid last_page.") from None
        has_more = bool(records) and page < last_page
        return Page(records=records, next_cursor=str(page + 1) if has_more else None)

    def _subscribers_page(self, ctx: ConnectionContext, *, page: int, per_page: int) -> dict:
        body = ctx.http.json(
            "GET",
            "subscribers",
            params={"page": page, "per_page": per_page, "sort_by": "id", "sort_type": "ASC"},
        )
        listing = body.get("subscribers") if isinstance(body, dict) else None
        if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
            raise BadResponseError("FluentCRM returned an unexpected body for the contact list.")
        return listing

    @staticmethod
    def normalise(item: dict) -> dict:
        company = item.get("company")
        return normalised(
            "crm.contact",
            id=str(item.get("id")),
            email=_blank_to_none(item.get("email")),
            first_name=_blank_to_none(item.get("first_name")),
            last_name=_blank_to_none(item.get("last_name")),
            phone=_blank_to_none(item.get("phone")),
            company=_blank_to_none(company.get("name")) if isinstance(company, dict) else None,
            tags=_tag_names(item.get("tags")),
            lead_score=item.get("total_points"),
            created_at=_blank_to_none(item.get("created_at")),
            updated_at=_blank_to_none(item.get("updated_at")),
        )

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        if action == "upsert_contact":
            return self._upsert_contact(ctx, payload)
        if action == "add_tag":
            return self._add_tag(ctx, payload)
        raise NotFoundError(f"FluentCRM has no action {action!r}.")

    def _upsert_contact(self, ctx: ConnectionContext, payload: dict) -> dict:
        body = {"email": payload["email"], "status": payload.get("status") or "subscribed"}
        body.update({key: payload[key] for key in ("first_name", "last_name", "phone") if key in payload})
        body["__force_update"] = "yes"
        # a repeated create-or-update is harmless, but automations fire on it: never re-sent after a 5xx
        answer = ctx.http.json("POST", "subscribers", json_body=body)
        contact = answer.get("contact") if isinstance(answer, dict) else None
        if not isinstance(contact, dict) or contact.get("id") in (None, ""):
            raise BadResponseError("FluentCRM did not return the saved contact.")
        return {
            "id": str(contact["id"]),
            "action": answer.get("action_type"),
            "record": self.normalise(contact),
        }

    def _add_tag(self, ctx: ConnectionContext, payload: dict) -> dict:
        subscriber_id, tags = payload["subscriber_id"], payload["tags"]
        find_by = "id" if all(ascii_digits(tag) for tag in tags) else "slug"
        body = {"subscribers": [subscriber_id], "type": "tags", "attach": tags, "find_by": find_by}
        # attaching is a set operation, so it is safe to repeat after a 5xx
        answer = ctx.http.json("POST", "subscribers/sync-segments", json_body=body, idempotent=True)
        contacts = answer.get("subscribers") if isinstance(answer, dict) else None
        if not isinstance(contacts, list):
            raise BadResponseError("FluentCRM returned an unexpected body for sync-segments.")
        contact = next((c for c in contacts if isinstance(c, dict) and str(c.get("id")) == str(subscriber_id)), None)
        if contact is None:
            raise NotFoundError(f"FluentCRM: no contact with id {subscriber_id}.")
        attached = {
            str(tag.get(find_by)) for tag in contact.get("tags") or [] if isinstance(tag, dict) and tag.get(find_by)
        }
        return {
            "id": str(contact["id"]),
            "tags": _tag_names(contact.get("tags")),
            "missing": [tag for tag in tags if tag not in attached],
            "record": self.normalise(contact),
        }

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        if not matches(header(headers, SECRET_HEADER), secret):
            raise WebhookVerificationError("missing or wrong shared secret")
        content_type = header(headers, "Content-Type").lower()
        payload = self._webhook_payload(body, form="application/x-www-form-urlencoded" in content_type)
        event_type = str(payload.get("event") or payload.get("trigger") or "fluentcrm.webhook")
        # No delivery id in FluentCRM's webhooks: the same body twice is the same delivery resent.
        event_id = f"{event_type}:{payload.get('id', '')}:{hashlib.sha256(body or b'').hexdigest()[:32]}"
        return WebhookEvent(event_id=event_id, event_type=event_type, payload=payload)

    @staticmethod
    def _webhook_payload(body: bytes, *, form: bool) -> dict:
        if form:
            try:
                return dict(parse_qsl((body or b"").decode(), keep_blank_values=True, strict_parsing=bool(body)))
            except (UnicodeDecodeError, ValueError):
                raise WebhookVerificationError("body is not form data") from None
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        if not isinstance(payload, dict):
            raise WebhookVerificationError("body is not a JSON object")
        return payload
