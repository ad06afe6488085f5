"""Intercom REST API, version 2.14, with an access token or an OAuth token (both Bearer) on a regional host.

Contract: https://developers.intercom.com/docs/references/2.14/rest-api/api.intercom.io — every call sends
`Authorization: Bearer <token>` and `Intercom-Version: 2.14` to the workspace's region: https://api.intercom.io (US),
https://api.eu.intercom.io (EU) or https://api.au.intercom.io (Australia). `GET /me` identifies the admin behind the
token. `GET /contacts` (`{"type": "list", "data": [...], "total_count", "pages"}`) and `GET /conversations`
(`{"type": "conversation.list", "conversations": [...], "total_count", "pages"}`) page with `per_page` (max 150) and
`starting_after`, the cursor Intercom returns in `pages.next.starting_after` (no `next` on the last page; see
https://developers.intercom.com/docs/build-an-integration/learn-more/rest-apis/pagination). `POST /contacts` creates
a user or lead (`role`, `email` or `external_id` for a user, `name`, `phone`); `PUT /contacts/{id}` updates one;
both answer the contact object (timestamps are UNIX seconds). Errors are `{"type": "error.list", "request_id",
"errors": [{"code", "message"}]}`, e.g. 401 `unauthorized` / "Access Token Invalid", 409 `conflict`.

Rate limits (https://developers.intercom.com/docs/references/rest-api/errors/rate-limiting): responses carry
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (a UNIX timestamp); past the limit Intercom
answers 429 `rate_limit_exceeded`. The shared HTTP client already waits until `X-RateLimit-Reset`.

OAuth (https://developers.intercom.com/docs/build-an-integration/learn-more/authentication/setting-up-oauth): the
user is sent to https://app.intercom.com/oauth, the code is exchanged at https://api.intercom.io/auth/eagle/token
with the client id and secret; permissions are chosen in the Developer Hub, not as request scopes; tokens do not
expire.

Webhooks (https://developers.intercom.com/docs/references/webhooks/webhook-models, "Signed notifications"):
`X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body keyed with the app's client secret>`. The body is a
`notification_event` with `id` (e.g. `notif_...`), `topic` (e.g. `contact.user.created`, `ping`), `app_id`,
`created_at` and `data.item`. The scheme has no signed timestamp header, so there is no staleness check.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlsplit

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
)
from apps.connectors.exceptions import BadResponseError, ConfigurationError, NeedsReauthError
from apps.connectors.registry import registry
from apps.connectors.signing import header, hmac_signature, matches
from apps.connectors.unified import normalised

API_VERSION = "2.14"
REGIONS = {"us": "https://api.intercom.io", "eu": "https://api.eu.intercom.io", "au": "https://api.au.intercom.io"}
MAX_PER_PAGE = 150
# resource -> (path, key of the list in the body)
LISTS = {"contacts": ("contacts", "data"), "conversations": ("conversations", "conversations")}
CONTACT_FIELDS = ("role", "email", "name", "phone", "external_id")
SIGNATURE_HEADER = "X-Hub-Signature"


def _blank_to_none(value):
    return None if value in ("", None) else value


def _timestamp(value) -> str | None:
    """Intercom timestamps are UNIX seconds; the unified models carry ISO 8601 in UTC."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")


def _api_base_problem(url: str) -> str | None:
    """The token goes only to Intercom's API hosts over HTTPS (or to a loopback fake in tests/development)."""
    return credential_host_problem(url, domain="intercom.io", example="https://api.eu.intercom.io")


def _next_cursor(pages) -> str | None:
    """`pages.next` is `{"page", "starting_after"}`; older bodies gave a URL whose query holds `starting_after`."""
    following = pages.get("next") if isinstance(pages, dict) else None
    if isinstance(following, dict):
        return _blank_to_none(following.get("starting_after"))
    if isinstance(following, str) and following:
        values = parse_qs(urlsplit(following).query).get("starting_after")
        return values[0] if values else None
    return None


class ContactAction(ActionSpec):
    """Field checks plus Intercom's cross-field rules, reported against the field to fix."""

    def clean(self, payload: dict) -> dict:
        cleaned = super().clean(payload)
        if self.name == "create_contact":
            if cleaned.get("role") == "user" and not ({"email", "external_id"} & set(cleaned)):
                raise ValidationError({"email": ["A user needs an e-mail address or an external id."]})
        elif not set(cleaned) & set(CONTACT_FIELDS):
            raise ValidationError({"id": ["Give at least one field to change."]})
        return cleaned


CONTACT_INPUT = (
    Field("email", "E-mail", type="email", required=False, max_length=254),
    Field("name", "Name", required=False, max_length=255),
    Field("phone", "Phone", required=False, max_length=100),
    Field("external_id", "External id", required=False, max_length=255, help="Your own id for this person"),
)


@registry.register
class Intercom(Provider):
    key = "intercom"
    name = "Intercom"
    category = "support"
    description = "Read Intercom contacts and conversations and create or update contacts (users and leads)."
    logo = "intercom"
    docs_url = "https://developers.intercom.com/docs/references/2.14/rest-api/api.intercom.io"
    auth = AuthSpec(
        "oauth2",
        oauth2=OAuth2Spec(
            authorize_url="https://app.intercom.com/oauth",
            token_url="https://api.intercom.io/auth/eagle/token",
            scopes=(),  # Intercom permissions are set on the app in the Developer Hub, not requested per grant
            pkce=False,
            token_auth_method="client_secret_post",
        ),
        description="Connect an Intercom app with OAuth, or paste the access token of a private app (Developer Hub > "
        "your app > Authentication) with read/write access to users and read access to conversations.",
    )
    config_fields = (
        Field("region", "Data region", type="choice", choices=tuple(REGIONS), default="us", required=False),
        Field(
            "api_token",
            "Access token",
            type="secret",
            secret=True,
            required=False,
            help="A private app's access token; when set it is used instead of OAuth",
        ),
        Field("client_id", "OAuth client ID", required=False, help="From the app's Basic information (OAuth only)"),
        Field(
            "client_secret",
            "Client secret",
            type="secret",
            secret=True,
            required=False,
            help="The app's client secret: used for OAuth and to verify Intercom's webhook signatures",
        ),
        Field(
            "api_base_url",
            "API base URL",
            type="url",
            required=False,
            help="Leave empty to use the region's host",
        ),
    )
    resources = (
        ResourceSpec("contacts", "crm.contact", "Contacts (users and leads)"),
        ResourceSpec("conversations", "support.ticket", "Conversations"),
    )
    actions = (
        ContactAction(
            "create_contact",
            "Create a user or lead",
            (Field("role", "Role", type="choice", choices=("user", "lead")), *CONTACT_INPUT),
        ),
        ContactAction(
            "update_contact",
            "Update a contact's role, e-mail, name, phone or external id",
            (
                Field("id", "Contact id", max_length=64),
                Field("role", "Role", type="choice", choices=("user", "lead"), required=False),
                *CONTACT_INPUT,
            ),
        ),
    )
    webhook_verification = (
        f"{SIGNATURE_HEADER}: sha1= followed by the hex HMAC-SHA1 of the raw body keyed with the app's client secret"
    )
    webhook_secret_fields = ("client_secret",)

    # --- configuration ----------------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
        errors: dict[str, list[str]] = {}
        if "api_base_url" in config and (problem := _api_base_problem(config["api_base_url"])):
            errors["api_base_url"] = [problem]
        if not partial:
            has = set(config) | set(secrets) | set(existing_secrets)
            if "api_token" not in has and not {"client_id", "client_secret"} <= has:
                errors["api_token"] = ["Set an access token, or a client ID and client secret to connect with OAuth."]
        if errors:
            raise ValidationError(errors)
        return config, secrets

    def base_url(self, config: dict) -> str:
        url = (config.get("api_base_url") or REGIONS.get(config.get("region") or "us", "")).rstrip("/")
        if not url:
            raise ConfigurationError(f"Unknown Intercom region {config.get('region')!r}.")
        problem = _api_base_problem(url)
        if problem:
            raise ConfigurationError(f"Intercom API base URL {url!r} refused: {problem}")
        return f"{url}/"

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        token = credentials.get("api_token") or credentials.get("access_token")
        if not token:
            raise NeedsReauthError("Intercom is not connected: authorise with OAuth or set an access token.")
        return {"Authorization": f"Bearer {token}", "Intercom-Version": API_VERSION}

    def check(self, ctx: ConnectionContext) -> None:
        body = ctx.http.json("GET", "me")
        if not isinstance(body, dict) or "id" not in body:
            raise BadResponseError("Intercom returned an unexpected body for /me.")

    # --- resources --------------------------------------------------------------------------------------------

    def read(self, ctx: ConnectionContext, resource: str, *, cursor: str | None, limit: int) -> Page:  # type: ignore[override]
        """The cursor is Intercom's own `pages.next.starting_after`, passed back verbatim."""
        if resource not in LISTS:
            raise ConfigurationError(f"Intercom has no resource {resource!r}.")
        path, key = LISTS[resource]
        params: dict = {"per_page": max(1, min(limit, MAX_PER_PAGE))}
        if cursor:
            params["starting_after"] = cursor
        body = ctx.http.json("GET", path, params=params)
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) and "id" in item for item in items):
            raise BadResponseError(f"Intercom returned an unexpected body for the {resource} list.")
        normalise = self.normalise_contact if resource == "contacts" else self.normalise_conversation
        records = [Record(id=str(item["id"]), data=normalise(item), raw=item) for item in items]
        next_cursor = _next_cursor(body.get("pages")) if records else None
        return Page(records=records, next_cursor=next_cursor)

    @staticmethod
    def normalise_contact(item: dict) -> dict:
        name = _blank_to_none(item.get("name"))
        first, _, last = name.strip().partition(" ") if isinstance(name, str) else ("", "", "")
        tags = item.get("tags")
        tag_list = tags.get("data") if isinstance(tags, dict) else tags
        return normalised(
            "crm.contact",
            id=str(item.get("id")),
            email=_blank_to_none(item.get("email")),
            first_name=_blank_to_none(first),
            last_name=_blank_to_none(last.strip()),
            phone=_blank_to_none(item.get("phone")),
            company=None,  # contacts reference companies by id only
            tags=[
                str(tag.get("name") or tag.get("id"))
                for tag in (tag_list if isinstance(tag_list, list) else [])
                if isinstance(tag, dict) and (tag.get("name") or tag.get("id"))
            ],
            lead_score=None,  # Intercom has no lead score
            created_at=_timestamp(item.get("created_at")),
            updated_at=_timestamp(item.get("updated_at")),
        )

    @staticmethod
    def normalise_conversation(item: dict) -> dict:
        source = json_object(item.get("source"))
        author = json_object(source.get("author"))
        requester = author.get("email") if author.get("type") in ("user", "lead", "contact") else None
        return normalised(
            "support.ticket",
            id=str(item.get("id")),
            subject=_blank_to_none(item.get("title")) or _blank_to_none(source.get("subject")),
            status=_blank_to_none(item.get("state")),
            priority=_blank_to_none(item.get("priority")),
            requester_email=_blank_to_none(requester),
            created_at=_timestamp(item.get("created_at")),
            updated_at=_timestamp(item.get("updated_at")),
        )

    # --- actions ----------------------------------------------------------------------------------------------

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        body = {key: payload[key] for key in CONTACT_FIELDS if key in payload}
        if action == "create_contact":
            contact = ctx.http.json("POST", "contacts", json_body=body)
        elif action == "update_contact":
            contact = ctx.http.json("PUT", f"contacts/{quote(str(payload['id']), safe='')}", json_body=body)
        else:
            raise ConfigurationError(f"Intercom has no action {action!r}.")
        if not isinstance(contact, dict) or "id" not in contact:
            raise BadResponseError("Intercom returned an unexpected body for the contact.")
        return {"id": str(contact["id"]), "role": contact.get("role"), "record": self.normalise_contact(contact)}

    # --- webhooks ---------------------------------------------------------------------------------------------

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        """`secret` is the app's client secret."""
        if not secret:
            raise WebhookVerificationError("no client secret is configured for this connection")
        sent = header(headers, SIGNATURE_HEADER)
        if not sent.startswith("sha1="):
            raise WebhookVerificationError(f"missing or malformed {SIGNATURE_HEADER} header")
        if not matches(sent.lower(), "sha1=" + hmac_signature(secret, body, digest=hashlib.sha1, encoding="hex")):
            raise WebhookVerificationError("wrong signature")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        if not isinstance(payload, dict) or not payload.get("id") or not payload.get("topic"):
            raise WebhookVerificationError("not an Intercom notification (no id or topic)")
        return WebhookEvent(event_id=str(payload["id"]), event_type=str(payload["topic"]), payload=payload)
