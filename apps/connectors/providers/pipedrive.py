"""Pipedrive API v2 (v1 where v2 has no endpoint), with a personal API token or OAuth2.

Contract: https://developers.pipedrive.com/docs/api/v2 and the core concepts at https://pipedrive.readme.io/docs —
every company has its own host, `https://{company_domain}.pipedrive.com/api/v2`. Authentication is either the
user's personal API token in the `x-api-token` header (the `api_token` query parameter is legacy and leaks into
logs) or an OAuth2 access token as `Authorization: Bearer ...` (https://oauth.pipedrive.com/oauth/authorize and
/oauth/token, client credentials sent with HTTP Basic). `GET /api/v2/persons|deals` paginate with `cursor` and
`limit` (default 100, max 500); the body is `{"success": true, "data": [...], "additional_data": {"next_cursor":
...}}`, `next_cursor` null on the last page. `POST /api/v2/persons` takes `{"name", "emails": [{"value",
"primary", "label"}], "phones": [...], "org_id"}` and answers `{"success": true, "data": {person}}`. v2 has no
"current user" endpoint, so the connection check uses `GET /api/v1/users/me`. Errors are `{"success": false,
"error": "...", "errorCode": N, "error_info": "..."}` (401 "unauthorized access"). Rate limits: a 2-second burst
window (`x-ratelimit-limit`, `-remaining`, `-reset` seconds; 429 with `Retry-After`) and a daily token budget
per company (https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting); `x-daily-requests-left` counts the
POST/PUT allowance left for the day.

Webhooks (https://pipedrive.readme.io/docs/guide-for-webhooks-v2): Pipedrive does not sign them; a webhook is
created with `http_auth_user` / `http_auth_password` and every delivery carries those as HTTP Basic credentials.
v2 bodies are `{"data", "previous", "meta": {"id", "action": create|change|delete, "entity", "entity_id",
"correlation_id", "timestamp", "version": "2.0", ...}}`; v1 bodies are `{"current", "previous", "event":
"updated.person", "meta": {"v": 1, "action": added|updated|merged|deleted, "object", "id", "timestamp",
"timestamp_micro", ...}}`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re

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
from apps.connectors.exceptions import BadResponseError, ConfigurationError, NeedsReauthError
from apps.connectors.registry import registry
from apps.connectors.signing import header, matches
from apps.connectors.unified import normalised

MAX_PER_PAGE = 500
COMPANY_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESOURCE_MODELS = {"persons": "crm.contact", "deals": "crm.deal"}


def _blank_to_none(value):
    return None if value in ("", None) else value


def _api_base_problem(url: str) -> str | None:
    """The API token goes only to a Pipedrive host over HTTPS (or to a loopback fake in tests/development)."""
    return credential_host_problem(url, domain="pipedrive.com", example="https://acme.pipedrive.com")


def _primary(entries) -> str | None:
    """The primary value of a v2 `emails` / `phones` list (the first one when none is marked primary)."""
    if isinstance(entries, str):
        return _blank_to_none(entries)
    if not isinstance(entries, list):
        return None
    values = [entry for entry in entries if isinstance(entry, dict) and _blank_to_none(entry.get("value"))]
    chosen = next((entry for entry in values if entry.get("primary")), values[0] if values else None)
    return chosen["value"] if chosen else None


@registry.register
class Pipedrive(Provider):
    key = "pipedrive"
    name = "Pipedrive"
    category = "crm"
    description = "Read Pipedrive persons and deals and add persons."
    logo = "pipedrive"
    docs_url = "https://developers.pipedrive.com/docs/api/v2"
    auth = AuthSpec(
        "oauth2",
        oauth2=OAuth2Spec(
            authorize_url="https://oauth.pipedrive.com/oauth/authorize",
            token_url="https://oauth.pipedrive.com/oauth/token",
            scopes=(),  # Pipedrive grants the scopes chosen in the app's Marketplace settings, not per request
            pkce=False,
            token_auth_method="client_secret_basic",
        ),
        description="Connect a Pipedrive app with OAuth, or paste a personal API token (Personal preferences > API).",
    )
    config_fields = (
        Field(
            "company_domain",
            "Company domain",
            max_length=63,
            required=False,
            help="The ACME in https://ACME.pipedrive.com; for an API token only (OAuth names it itself)",
        ),
        Field(
            "api_token",
            "Personal API token",
            type="secret",
            secret=True,
            required=False,
            help="When set it is used instead of OAuth",
        ),
        Field("client_id", "OAuth client ID", required=False, help="From the app in Developer Hub (OAuth only)"),
        Field("client_secret", "OAuth client secret", type="secret", secret=True, required=False),
        Field(
            "webhook_user",
            "Webhook HTTP auth user",
            required=False,
            max_length=255,
            help="The http_auth_user set on the Pipedrive webhook",
        ),
        Field(
            "webhook_password",
            "Webhook HTTP auth password",
            type="secret",
            secret=True,
            required=False,
            help="The http_auth_password set on the Pipedrive webhook",
        ),
        Field(
            "api_base_url",
            "API base URL",
            type="url",
            required=False,
            help="Leave empty to use https://{company domain}.pipedrive.com",
        ),
    )
    resources = (
        ResourceSpec("persons", "crm.contact", "Persons (contacts)"),
        ResourceSpec("deals", "crm.deal", "Deals"),
    )
    actions = (
        ActionSpec(
            "create_person",
            "Add a person",
            (
                Field("name", "Name", max_length=255),
                Field("email", "E-mail", type="email", required=False, max_length=254),
                Field("phone", "Phone", required=False, max_length=255),
                Field("org_id", "Organization ID", type="integer", required=False),
            ),
        ),
    )
    webhook_verification = (
        "Pipedrive does not sign webhooks: the webhook's http_auth_user / http_auth_password are sent as HTTP Basic "
        "credentials and compared with the configured webhook password (and user)"
    )
    webhook_secret_fields = ("webhook_password",)
    webhook_setup = "Set the webhook's HTTP auth user and password to the connection's webhook user and password."

    # --- configuration ----------------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        if isinstance(values, dict) and isinstance(values.get("company_domain"), str):
            values = {**values, "company_domain": values["company_domain"].strip().lower()}
        config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
        errors: dict[str, list[str]] = {}
        if "company_domain" in config and not COMPANY_DOMAIN.match(config["company_domain"]):
            errors["company_domain"] = ["Only the sub-domain, e.g. acme for https://acme.pipedrive.com."]
        if "api_base_url" in config and (problem := _api_base_problem(config["api_base_url"])):
            errors["api_base_url"] = [problem]
        if not partial:
            has = set(config) | set(secrets) | set(existing_secrets)
            if "api_token" not in has and not {"client_id", "client_secret"} <= has:
                errors["api_token"] = ["Set an API token, or a client ID and client secret to connect with OAuth."]
            elif "api_token" in has and not config.get("company_domain") and not config.get("api_base_url"):
                errors["company_domain"] = ["Set the company domain to use an API token, e.g. acme."]
        if errors:
            raise ValidationError(errors)
        return config, secrets

    def base_url(self, config: dict) -> str:
        """The `/api/` root: resources live under `v2/`, the few endpoints v2 lacks under `v1/`."""
        url = config.get("api_base_url") or ""
        if not url:
            domain = str(config.get("company_domain") or "")
            if not COMPANY_DOMAIN.match(domain):
                raise ConfigurationError(f"Pipedrive company domain {domain!r} is not a valid sub-domain.")
            url = f"https://{domain}.pipedrive.com"
        url = url.rstrip("/")
        problem = _api_base_problem(url)
        if problem:
            raise ConfigurationError(f"Pipedrive API base URL {url!r} refused: {problem}")
        return f"{url}/api/"

    def connection_base_url(self, config: dict, credentials: dict) -> str:
        """After OAuth, the company's own host is the `api_domain` of Pipedrive's token response (kept with the
        tokens), so nobody has to type it; an API token connection uses the configured company domain."""
        api_domain = str(credentials.get("api_domain") or "").rstrip("/")
        if api_domain and not credentials.get("api_token") and _api_base_problem(api_domain) is None:
            return f"{api_domain}/api/"
        if not config.get("company_domain") and not config.get("api_base_url"):
            raise NeedsReauthError("Pipedrive is not connected: authorise with OAuth or set an API token.")
        return self.base_url(config)

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        if credentials.get("api_token"):
            return {"x-api-token": credentials["api_token"]}
        if credentials.get("access_token"):
            return {"Authorization": f"Bearer {credentials['access_token']}"}
        raise NeedsReauthError("Pipedrive is not connected: authorise with OAuth or set an API token.")

    def retry_after(self, response) -> float | None:
        """Called only when there is no Retry-After / x-ratelimit-reset: a spent daily allowance is not retried."""
        if response.status_code != 429:
            return None
        if response.headers.get("x-daily-requests-left") == "0" or "daily" in response.text.lower():
            return math.inf
        return None

    def check(self, ctx: ConnectionContext) -> None:
        body = ctx.http.json("GET", "v1/users/me")
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise BadResponseError("Pipedrive returned an unexpected body for the current user.")

    # --- resources --------------------------------------------------------------------------------------------

    def read(self, ctx: ConnectionContext, resource: str, *, cursor: str | None, limit: int) -> Page:  # type: ignore[override]
        """The cursor is Pipedrive's own `additional_data.next_cursor`, passed back verbatim as `cursor`."""
        model = RESOURCE_MODELS.get(resource)
        if model is None:
            raise ConfigurationError(f"Pipedrive has no resource {resource!r}.")
        params: dict = {"limit": max(1, min(limit, MAX_PER_PAGE))}
        if cursor:
            params["cursor"] = cursor
        body = ctx.http.json("GET", f"v2/{resource}", params=params)
        items = body.get("data") if isinstance(body, dict) else None
        if items is None and isinstance(body, dict) and body.get("success") is True:
            items = []  # Pipedrive answers `"data": null` when there is nothing to list
        if not isinstance(items, list) or not all(isinstance(item, dict) and "id" in item for item in items):
            raise BadResponseError(f"Pipedrive returned an unexpected body for the {resource} list.")
        normalise = self.normalise_person if resource == "persons" else self.normalise_deal
        records = [Record(id=str(item["id"]), data=normalise(item), raw=item) for item in items]
        extra = body.get("additional_data") if isinstance(body.get("additional_data"), dict) else {}
        following = extra.get("next_cursor")
        next_cursor = str(following) if following not in (None, "") and records else None
        return Page(records=records, next_cursor=next_cursor)

    @staticmethod
    def normalise_person(item: dict) -> dict:
        labels = item.get("label_ids")
        return normalised(
            "crm.contact",
            id=str(item.get("id")),
            email=_primary(item.get("emails")),
            first_name=_blank_to_none(item.get("first_name")),
            last_name=_blank_to_none(item.get("last_name")),
            phone=_primary(item.get("phones")),
            company=None,  # v2 persons carry only org_id (kept in raw); the name needs another call
            tags=[str(label) for label in labels] if isinstance(labels, list) else [],
            lead_score=None,
            created_at=_blank_to_none(item.get("add_time")),
            updated_at=_blank_to_none(item.get("update_time")),
        )

    @staticmethod
    def normalise_deal(item: dict) -> dict:
        stage = item.get("stage_id")
        return normalised(
            "crm.deal",
            id=str(item.get("id")),
            name=_blank_to_none(item.get("title")),
            stage=str(stage) if stage is not None else None,
            amount=item.get("value"),
            currency=_blank_to_none(item.get("currency")),
            close_date=_blank_to_none(item.get("expected_close_date")) or _blank_to_none(item.get("close_time")),
            created_at=_blank_to_none(item.get("add_time")),
            updated_at=_blank_to_none(item.get("update_time")),
        )

    # --- actions ----------------------------------------------------------------------------------------------

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        if action != "create_person":
            raise ConfigurationError(f"Pipedrive has no action {action!r}.")
        request: dict = {"name": payload["name"]}
        if "email" in payload:
            request["emails"] = [{"value": payload["email"], "primary": True, "label": "work"}]
        if "phone" in payload:
            request["phones"] = [{"value": payload["phone"], "primary": True, "label": "work"}]
        if "org_id" in payload:
            request["org_id"] = payload["org_id"]
        body = ctx.http.json("POST", "v2/persons", json_body=request)
        person = body.get("data") if isinstance(body, dict) else None
        if not isinstance(person, dict) or "id" not in person:
            raise BadResponseError("Pipedrive returned an unexpected body for the new person.")
        return {"id": str(person["id"]), "record": self.normalise_person(person)}

    # --- webhooks ---------------------------------------------------------------------------------------------

    def webhook_verify_options(self, config: dict) -> dict:
        return {"user": config["webhook_user"]} if config.get("webhook_user") else {}

    def verify_webhook(
        self,
        *,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        secret: str,
        user: str | None = None,
    ) -> WebhookEvent:
        """`secret` is the webhook's http_auth_password; `user` (the http_auth_user) is checked too when given.
        The framework's call passes no config, so callers that know the configured user pass it explicitly."""
        if not secret:
            raise WebhookVerificationError("no webhook password is configured for this connection")
        sent = header(headers, "Authorization")
        scheme, _, encoded = sent.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise WebhookVerificationError("missing HTTP Basic credentials")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise WebhookVerificationError("malformed HTTP Basic credentials") from None
        sent_user, colon, sent_password = decoded.partition(":")
        password_ok = matches(sent_password, secret)
        user_ok = user is None or matches(sent_user, user)
        if not colon or not (password_ok and user_ok):
            raise WebhookVerificationError("wrong webhook credentials")
        try:
            payload = json.loads(body or b"")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
            raise WebhookVerificationError("body is not a Pipedrive webhook")
        event_id, event_type = self._identify(payload, body)
        return WebhookEvent(event_id=event_id, event_type=event_type, payload=payload)

    @staticmethod
    def _identify(payload: dict, body: bytes) -> tuple[str, str]:
        meta = payload["meta"]
        if str(meta.get("version", "")).startswith("2"):
            # v2: meta.id identifies the delivery's event; retries (meta.attempt) keep it
            event_type = f"{meta.get('entity', 'unknown')}.{meta.get('action', 'unknown')}"
            event_id = meta.get("id") or meta.get("correlation_id")
            if event_id:
                return str(event_id), event_type
            return f"{event_type}:{hashlib.sha256(body).hexdigest()[:32]}", event_type
        # v1: meta.id is the object's id; the event is that object at that moment
        event_type = f"{meta.get('object', 'unknown')}.{meta.get('action', 'unknown')}"
        moment = meta.get("timestamp_micro") or meta.get("timestamp")
        if meta.get("id") is not None and moment is not None:
            return f"{event_type}:{meta['id']}:{moment}", event_type
        return f"{event_type}:{hashlib.sha256(body).hexdigest()[:32]}", event_type
