"""Zendesk Support (Ticketing) API v2, with an API token over HTTP Basic or an OAuth 2.0 Bearer token.

Contract: https://developer.zendesk.com/api-reference/ticketing/introduction/ — every call goes to
`https://{subdomain}.zendesk.com/api/v2` (Zendesk versions only by the path: v2 is current). API tokens authenticate
as Basic `{email}/token:{api_token}`; OAuth access tokens (authorisation at `/oauth/authorizations/new`, token at
`/oauth/tokens`, scopes `read write`) as `Authorization: Bearer`.

Tickets (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/): `GET /tickets.json` with cursor
pagination (https://developer.zendesk.com/api-reference/introduction/pagination/): `page[size]` (max 100) and
`page[after]`; the body is `{"tickets": [...], "meta": {"has_more", "after_cursor", "before_cursor"}, "links":
{"next", "prev"}}`. `include=users` sideloads the requesters as `users` (ticket rows carry only `requester_id`).
`POST /tickets.json` `{"ticket": {"subject", "comment": {"body"}, "requester": {"email"}, "priority"}}` answers 201
`{"ticket"}`; `PUT /tickets/{id}.json` `{"ticket": {"status", "priority", "comment": {"body", "public"}}}` answers
`{"ticket", "audit"}`. Errors are `{"error": "Couldn't authenticate you"}` (401) or `{"error": "RecordInvalid",
"description", "details"}` (422). Rate limits (https://developer.zendesk.com/api-reference/introduction/rate-limits/):
`X-Rate-Limit`, `X-Rate-Limit-Remaining`, `ratelimit-remaining`, `ratelimit-reset` (seconds), endpoint headers such
as `zendesk-ratelimit-tickets-index: total=100; remaining=99; resets=41`; a 429 carries `Retry-After` (seconds).

Webhooks (https://developer.zendesk.com/documentation/webhooks/verifying/): `X-Zendesk-Webhook-Signature` =
base64(HMAC-SHA256(signing secret, `X-Zendesk-Webhook-Signature-Timestamp` + raw body)); GET/DELETE requests may
have no body. Event-subscription payloads carry `id`, `type` (e.g. `zen:event-type:ticket.created`), `detail`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from datetime import datetime

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
)
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NeedsReauthError,
)
from apps.connectors.registry import registry
from apps.connectors.signing import header, hmac_signature, matches
from apps.connectors.unified import normalised
from bizosaas.digits import ascii_digits

API_VERSION = "v2"
MAX_PER_PAGE = 100
SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
PRIORITIES = ("urgent", "high", "normal", "low")
UPDATE_STATUSES = ("open", "pending", "hold", "solved")  # "new" cannot be set back; "closed" only by automation

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
MAX_SIGNATURE_AGE_SECONDS = 5 * 60
_ENDPOINT_RESETS = re.compile(r"resets=(\d+)")


def _api_base_problem(url: str) -> str | None:
    """Credentials go only to a zendesk.com host over HTTPS (or to a loopback fake in tests/development)."""
    return credential_host_problem(url, domain="zendesk.com", example="https://acme.zendesk.com/api/v2")


def _timestamp_seconds(value: str) -> float:
    """Zendesk sends an ISO 8601 UTC time (e.g. 2026-03-01T10:00:00Z); epoch seconds are accepted too."""
    if ascii_digits(value):
        return float(value)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    return parsed.timestamp()


class _UpdateTicketAction(ActionSpec):
    """update_ticket needs a positive id and at least one change."""

    def clean(self, payload: dict) -> dict:
        cleaned = super().clean(payload)
        errors: dict[str, list[str]] = {}
        if cleaned["id"] < 1:
            errors["id"] = ["Must be a positive ticket id."]
        if not {"status", "priority", "comment"} & set(cleaned):
            errors["status"] = ["Set a status, a priority or a comment."]
        if "public" in cleaned and "comment" not in cleaned:
            errors["public"] = ["Only applies with a comment."]
        if errors:
            raise ValidationError(errors)
        return cleaned


@registry.register
class Zendesk(Provider):
    key = "zendesk"
    name = "Zendesk Support"
    category = "support"
    description = "Read Zendesk Support tickets, create tickets and update their status, priority or comments."
    logo = "zendesk"
    docs_url = "https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/"
    auth = AuthSpec(
        "oauth2",
        oauth2=OAuth2Spec(
            authorize_url="https://{subdomain}.zendesk.com/oauth/authorizations/new",
            token_url="https://{subdomain}.zendesk.com/oauth/tokens",
            scopes=("read", "write"),
            pkce=True,
            token_auth_method="client_secret_post",
        ),
        description="Paste an API token (Admin Center > Apps and integrations > Zendesk API) with the agent's "
        "e-mail address, or connect an OAuth client registered in your Zendesk account.",
    )
    config_fields = (
        Field("subdomain", "Subdomain", max_length=63, help="acme for https://acme.zendesk.com"),
        Field("email", "Agent e-mail", type="email", required=False, max_length=254, help="Needed with an API token"),
        Field(
            "api_token",
            "API token",
            type="secret",
            secret=True,
            required=False,
            help="When set it is used (with the e-mail) instead of OAuth",
        ),
        Field("client_id", "OAuth client unique identifier", required=False, help="OAuth only"),
        Field("client_secret", "OAuth client secret", type="secret", secret=True, required=False),
        Field(
            "webhook_secret",
            "Webhook signing secret",
            type="secret",
            secret=True,
            required=False,
            help="Shown on the webhook's page in Admin Center; verifies X-Zendesk-Webhook-Signature",
        ),
        Field(
            "api_base_url",
            "API base URL",
            type="url",
            required=False,
            help="Leave empty to use https://{subdomain}.zendesk.com/api/v2",
        ),
    )
    resources = (ResourceSpec("tickets", "support.ticket", "Tickets (not archived or deleted)"),)
    actions = (
        ActionSpec(
            "create_ticket",
            "Create a ticket with a first comment",
            (
                Field("subject", "Subject", max_length=255),
                Field("comment", "Comment", type="text", max_length=65_000),
                Field("requester_email", "Requester e-mail", type="email", required=False, max_length=254),
                Field("priority", "Priority", type="choice", choices=PRIORITIES, required=False),
            ),
        ),
        _UpdateTicketAction(
            "update_ticket",
            "Change a ticket's status or priority, or add a comment",
            (
                Field("id", "Ticket id", type="integer"),
                Field("status", "Status", type="choice", choices=UPDATE_STATUSES, required=False),
                Field("priority", "Priority", type="choice", choices=PRIORITIES, required=False),
                Field("comment", "Comment", type="text", required=False, max_length=65_000),
                Field("public", "Public comment", type="boolean", required=False),
            ),
        ),
    )
    webhook_verification = (
        f"{SIGNATURE_HEADER}: base64 HMAC-SHA256 with the webhook's signing secret of {TIMESTAMP_HEADER} + raw body; "
        "requests whose timestamp is more than 5 minutes away are rejected"
    )
    webhook_secret_fields = ("webhook_secret",)

    # --- configuration ----------------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
        errors: dict[str, list[str]] = {}
        if "subdomain" in config:
            subdomain = config["subdomain"].lower()
            if subdomain.endswith(".zendesk.com"):
                subdomain = subdomain.removesuffix(".zendesk.com")
            if not SUBDOMAIN.match(subdomain):
                errors["subdomain"] = ["Only the subdomain: letters, digits and hyphens, e.g. acme."]
            config["subdomain"] = subdomain
        if config.get("api_base_url") and (problem := _api_base_problem(config["api_base_url"])):
            errors["api_base_url"] = [problem]
        if not partial:
            has = set(config) | set(secrets) | set(existing_secrets)
            if "api_token" in has and "email" not in has:
                errors["email"] = ["The agent's e-mail address is needed with an API token."]
            elif "api_token" not in has and not {"client_id", "client_secret"} <= has:
                errors["api_token"] = ["Set an API token and e-mail, or a client id and secret to connect with OAuth."]
        if errors:
            raise ValidationError(errors)
        return config, secrets

    def base_url(self, config: dict) -> str:
        url = (config.get("api_base_url") or f"https://{config['subdomain']}.zendesk.com/api/{API_VERSION}").rstrip("/")
        problem = _api_base_problem(url)
        if problem:
            raise ConfigurationError(f"Zendesk API base URL {url!r} refused: {problem}")
        return f"{url}/"

    def basic_auth(self, config: dict, credentials: dict) -> tuple[str, str] | None:
        if credentials.get("api_token"):
            return f"{config.get('email', '')}/token", credentials["api_token"]
        return None

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        if credentials.get("api_token"):
            return {}  # Basic, set once by basic_auth()
        token = credentials.get("access_token")
        if not token:
            raise NeedsReauthError("Zendesk is not connected: set an API token or authorise with OAuth.")
        return {"Authorization": f"Bearer {token}"}

    def error_message(self, response) -> str | None:
        """Zendesk puts the useful text of a 422 in `description` / `details`, not in `error`."""
        body = response.json()
        if not isinstance(body, dict) or not body.get("description"):
            return None
        details = body.get("details") or {}
        first = next(iter(details.values()), None) if isinstance(details, dict) else None
        extra = first[0].get("description") if isinstance(first, list) and first and isinstance(first[0], dict) else ""
        return f"{body['description']} {extra}".strip()[:300]

    def retry_after(self, response) -> float | None:
        """Retry-After and ratelimit-reset are read by the client; an endpoint limit such as
        `zendesk-ratelimit-tickets-index: total=100; remaining=0; resets=41` says when it resets."""
        if response.status_code != 429:
            return None
        for name, value in response.headers.items():
            if name.lower().startswith("zendesk-ratelimit-") and (match := _ENDPOINT_RESETS.search(value)):
                return float(match.group(1))
        return None

    def check(self, ctx: ConnectionContext) -> None:
        body = ctx.http.json("GET", "users/me.json")
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            raise BadResponseError("Zendesk returned an unexpected body for the current user.")
        if user.get("id") is None:  # Zendesk answers unauthenticated requests with the anonymous user
            raise AuthenticationError("zendesk rejected the credentials: Couldn't authenticate you")

    # --- resources --------------------------------------------------------------------------------------------

    def read(self, ctx: ConnectionContext, resource: str, *, cursor: str | None, limit: int) -> Page:  # type: ignore[override]
        """The cursor is Zendesk's own `meta.after_cursor`, passed back verbatim as `page[after]`."""
        if self.resource(resource) is None:
            raise ConfigurationError(f"Zendesk has no resource {resource!r}.")
        params = {"page[size]": max(1, min(limit, MAX_PER_PAGE)), "include": "users"}
        if cursor:
            params["page[after]"] = cursor
        body = ctx.http.json("GET", "tickets.json", params=params)
        tickets = body.get("tickets") if isinstance(body, dict) else None
        if not isinstance(tickets, list) or not all(isinstance(t, dict) and "id" in t for t in tickets):
            raise BadResponseError("Zendesk returned an unexpected body for the tickets list.")
        users = body.get("users") if isinstance(body.get("users"), list) else []
        emails = {user.get("id"): user.get("email") for user in users if isinstance(user, dict)}
        records = [
            Record(
                id=str(ticket["id"]), data=self.normalise(ticket, emails.get(ticket.get("requester_id"))), raw=ticket
            )
            for ticket in tickets
        ]
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        after = meta.get("after_cursor")
        next_cursor = str(after) if meta.get("has_more") and after and records else None
        return Page(records=records, next_cursor=next_cursor)

    @staticmethod
    def normalise(ticket: dict, requester_email: str | None = None) -> dict:
        if not requester_email:  # e-mail tickets name the sender in via.source.from
            source = (ticket.get("via") or {}).get("source") or {}
            requester_email = (source.get("from") or {}).get("address") if isinstance(source, dict) else None
        return normalised(
            "support.ticket",
            id=str(ticket.get("id")),
            subject=ticket.get("subject") or ticket.get("raw_subject"),
            status=ticket.get("status"),
            priority=ticket.get("priority"),
            requester_email=requester_email or None,
            created_at=ticket.get("created_at"),
            updated_at=ticket.get("updated_at"),
        )

    # --- actions ----------------------------------------------------------------------------------------------

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        if action == "create_ticket":
            ticket = {"subject": payload["subject"], "comment": {"body": payload["comment"]}}
            if "requester_email" in payload:
                ticket["requester"] = {"email": payload["requester_email"]}
            if "priority" in payload:
                ticket["priority"] = payload["priority"]
            body = ctx.http.json("POST", "tickets.json", json_body={"ticket": ticket})
        elif action == "update_ticket":
            ticket = {key: payload[key] for key in ("status", "priority") if key in payload}
            if "comment" in payload:
                ticket["comment"] = {"body": payload["comment"], "public": payload.get("public", True)}
            body = ctx.http.json(
                "PUT",
                f"tickets/{payload['id']}.json",
                json_body={"ticket": ticket},
                idempotent="comment" not in ticket,  # a repeated PUT with a comment would add it twice
            )
        else:
            raise ConfigurationError(f"Zendesk has no action {action!r}.")
        result = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(result, dict) or "id" not in result:
            raise BadResponseError(f"Zendesk returned an unexpected body for {action}.")
        return {
            "id": str(result["id"]),
            "status": result.get("status"),
            "url": result.get("url"),
            "record": self.normalise(result, payload.get("requester_email")),
        }

    # --- webhooks ---------------------------------------------------------------------------------------------

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        """`secret` is the webhook's signing secret."""
        signature = header(headers, SIGNATURE_HEADER)
        timestamp = header(headers, TIMESTAMP_HEADER)
        if not secret:
            raise WebhookVerificationError("no webhook signing secret is configured for this connection")
        if not signature or not timestamp:
            raise WebhookVerificationError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
        try:
            sent_at = _timestamp_seconds(timestamp)
        except ValueError:
            raise WebhookVerificationError(f"{TIMESTAMP_HEADER} is not a timestamp") from None
        if not math.isfinite(sent_at) or abs(time.time() - sent_at) > MAX_SIGNATURE_AGE_SECONDS:
            raise WebhookVerificationError("timestamp is more than 5 minutes away; replayed or delayed request")
        body = body or b""
        if not matches(signature, hmac_signature(secret, timestamp.encode() + body)):
            raise WebhookVerificationError("wrong signature")
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        event = payload if isinstance(payload, dict) else {}
        event_type = str(event.get("type") or event.get("event") or "zendesk.webhook")
        # event-subscription webhooks carry an event id; trigger webhooks have a free-form body
        event_id = str(event.get("id") or "") or f"body-{hashlib.sha256(body).hexdigest()[:32]}"
        return WebhookEvent(event_id=event_id, event_type=event_type, payload=payload)
