"""HubSpot CRM objects API, date-based version 2026-03, with a private-app access token or OAuth2 (both Bearer).

Contract: https://developers.hubspot.com/docs/api-reference/2026-03/overview — the CRM objects endpoints live at
`/crm/objects/2026-03/{objectType}` (successor of the legacy `/crm/v3/objects/...` paths, which HubSpot stops
supporting in September 2027). `GET /crm/objects/2026-03/contacts|deals` takes `limit` (max 100), `after` (the
cursor from `paging.next.after`), `properties` (comma-separated; only a few defaults come back without it) and
`archived`; the body is `{"results": [{"id", "properties", "createdAt", "updatedAt", "archived"}], "paging": {"next":
{"after", "link"}}}` with no `paging` on the last page. `POST /crm/objects/2026-03/contacts/batch/upsert` with
`{"inputs": [{"idProperty": "email", "id": <email>, "properties": {...}}]}` creates or updates by e-mail and
answers `{"status": "COMPLETE", "results": [{..., "new": bool}]}` (207 with `errors` / `numErrors` when some input
failed). Errors are `{"status": "error", "message", "correlationId", "category"}` (401 `INVALID_AUTHENTICATION`);
a 429 body adds `"errorType": "RATE_LIMIT"` and `policyName` (`TEN_SECONDLY_ROLLING`, `DAILY`). Responses carry
`X-HubSpot-RateLimit-Max`, `-Remaining`, `-Interval-Milliseconds` and `-Daily`, `-Daily-Remaining`.

Webhooks (https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation):
`X-HubSpot-Signature-v3` = base64(HMAC-SHA256(app client secret, method + URI + raw body + timestamp)), where the
timestamp is `X-HubSpot-Request-Timestamp` (epoch milliseconds; requests older than 5 minutes are rejected) and the
URI is the full URL HubSpot called, with the documented set of percent-escapes (%3A, %2F, %3F, %40, %21, %24, %27,
%28, %29, %2A, %2C, %3B) decoded. The body is a JSON array of up to 100 events (`eventId`, `subscriptionType`,
`objectId`, `occurredAt`, ...).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from urllib.parse import urlsplit, urlunsplit

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
)
from apps.connectors.exceptions import BadResponseError, ConfigurationError, NeedsReauthError, ProviderRequestError
from apps.connectors.registry import registry
from apps.connectors.signing import header, hmac_signature, matches
from apps.connectors.unified import normalised
from bizosaas.digits import ascii_digits

API_VERSION = "2026-03"
OBJECTS_PATH = f"crm/objects/{API_VERSION}"
DEFAULT_API_BASE = "https://api.hubapi.com"
MAX_PER_PAGE = 100

# the properties each resource normalises; HubSpot returns only a handful of defaults unless they are asked for
CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "hubspotscore",
    "createdate",
    "lastmodifieddate",
)
DEAL_PROPERTIES = (
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "deal_currency_code",
    "closedate",
    "createdate",
    "hs_lastmodifieddate",
)
RESOURCE_PROPERTIES = {"contacts": CONTACT_PROPERTIES, "deals": DEAL_PROPERTIES}

# upsert_contact input field -> HubSpot contact property
UPSERT_PROPERTIES = (("first_name", "firstname"), ("last_name", "lastname"), ("phone", "phone"), ("company", "company"))

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_SIGNATURE_AGE_MS = 5 * 60 * 1000
# the only escapes HubSpot's v3 instructions decode in the request URI before signing
_SIGNED_URI_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_SIGNED_URI_ESCAPE = re.compile("|".join(_SIGNED_URI_ESCAPES), re.IGNORECASE)


def _blank_to_none(value):
    return None if value in ("", None) else value


def _number(value):
    """HubSpot property values are strings; a score like "12" or "12.5" becomes a number, anything else None."""
    value = _blank_to_none(value)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def _api_base_problem(url: str) -> str | None:
    """Bearer tokens go only to HubSpot's own API hosts over HTTPS (or to a loopback fake in tests/development)."""
    return credential_host_problem(url, domain="hubapi.com", example="https://api.hubapi.com")


def signed_uri(url: str) -> str:
    """The request URI as HubSpot signs it: the listed percent-escapes decoded, everything else as received."""
    return _SIGNED_URI_ESCAPE.sub(lambda match: _SIGNED_URI_ESCAPES[match.group(0).upper()], url)


@registry.register
class HubSpot(Provider):
    key = "hubspot"
    name = "HubSpot"
    category = "crm"
    description = "Read HubSpot contacts and deals and create or update contacts by e-mail address."
    logo = "hubspot"
    docs_url = "https://developers.hubspot.com/docs/api-reference/2026-03/overview"
    auth = AuthSpec(
        "oauth2",
        oauth2=OAuth2Spec(
            authorize_url="https://app.hubspot.com/oauth/authorize",
            # the dated successor of /oauth/v1/token (sunset on 16 February 2027); parameters in the form body
            token_url="https://api.hubapi.com/oauth/2026-03/token",
            scopes=("crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.deals.read"),
            pkce=False,  # HubSpot documents the plain authorisation-code grant with the client secret
            token_auth_method="client_secret_post",
        ),
        description="Connect a HubSpot app with OAuth, or paste a private app's access token (Settings > "
        "Integrations > Private apps) with the crm.objects.contacts.read/write and crm.objects.deals.read scopes.",
    )
    config_fields = (
        Field(
            "private_app_token",
            "Private app access token",
            type="secret",
            secret=True,
            required=False,
            help="Starts with pat-; when set it is used instead of OAuth",
        ),
        Field("client_id", "OAuth client ID", required=False, help="From the app's Auth settings (OAuth only)"),
        Field(
            "client_secret",
            "Client secret",
            type="secret",
            secret=True,
            required=False,
            help="The app's client secret: used for OAuth and to verify HubSpot's webhook signatures",
        ),
        Field(
            "api_base_url",
            "API base URL",
            type="url",
            required=False,
            default=DEFAULT_API_BASE,
            help="Leave as https://api.hubapi.com",
        ),
    )
    resources = (
        ResourceSpec("contacts", "crm.contact", "Contacts (not archived)"),
        ResourceSpec("deals", "crm.deal", "Deals (not archived)"),
    )
    actions = (
        ActionSpec(
            "upsert_contact",
            "Create a contact, or update the one with this e-mail address",
            (
                Field("email", "E-mail", type="email", max_length=254),
                Field("first_name", "First name", required=False, max_length=255),
                Field("last_name", "Last name", required=False, max_length=255),
                Field("phone", "Phone", required=False, max_length=100),
                Field("company", "Company name", required=False, max_length=255),
            ),
        ),
    )
    webhook_verification = (
        f"{SIGNATURE_HEADER}: base64 HMAC-SHA256 with the app's client secret of method + full request URI + raw "
        f"body + {TIMESTAMP_HEADER}; requests whose timestamp is more than 5 minutes old are rejected"
    )
    webhook_secret_fields = ("client_secret",)
    webhook_setup = "Set this URL as the app's target URL; signatures use the app's client secret."

    # --- configuration ----------------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
        errors: dict[str, list[str]] = {}
        if "api_base_url" in config and (problem := _api_base_problem(config["api_base_url"])):
            errors["api_base_url"] = [problem]
        if not partial:
            has = set(config) | set(secrets) | set(existing_secrets)
            if "private_app_token" not in has and not {"client_id", "client_secret"} <= has:
                message = "Set a private app access token, or a client ID and client secret to connect with OAuth."
                errors["private_app_token"] = [message]
        if errors:
            raise ValidationError(errors)
        return config, secrets

    def base_url(self, config: dict) -> str:
        url = (config.get("api_base_url") or DEFAULT_API_BASE).rstrip("/")
        problem = _api_base_problem(url)
        if problem:
            raise ConfigurationError(f"HubSpot API base URL {url!r} refused: {problem}")
        return f"{url}/"

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        token = credentials.get("private_app_token") or credentials.get("access_token")
        if not token:
            raise NeedsReauthError("HubSpot is not connected: authorise with OAuth or set a private app access token.")
        return {"Authorization": f"Bearer {token}"}

    def retry_after(self, response) -> float | None:
        """HubSpot's 429s name their policy rather than sending Retry-After: the daily budget is spent until
        midnight (do not retry); the rolling window resets within X-HubSpot-RateLimit-Interval-Milliseconds."""
        if response.status_code != 429:
            return None
        if response.headers.get("X-HubSpot-RateLimit-Daily-Remaining") == "0" or "DAILY" in response.text:
            return math.inf
        interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "")
        return int(interval) / 1000 if ascii_digits(interval) else None

    def check(self, ctx: ConnectionContext) -> None:
        self._list(ctx, "contacts", params={"limit": 1, "archived": "false"})

    # --- resources --------------------------------------------------------------------------------------------

    def read(self, ctx: ConnectionContext, resource: str, *, cursor: str | None, limit: int) -> Page:  # type: ignore[override]
        """The cursor is HubSpot's own `paging.next.after` token, passed back verbatim as `after`."""
        spec = self.resource(resource)
        if spec is None:
            raise ConfigurationError(f"HubSpot has no resource {resource!r}.")
        params = {
            "limit": max(1, min(limit, MAX_PER_PAGE)),
            "properties": ",".join(RESOURCE_PROPERTIES[resource]),
            "archived": "false",
        }
        if cursor:
            params["after"] = cursor
        body = self._list(ctx, resource, params=params)
        normalise = self.normalise_contact if resource == "contacts" else self.normalise_deal
        records = [Record(id=str(item["id"]), data=normalise(item), raw=item) for item in body["results"]]
        paging = json_object(body.get("paging"))
        following = json_object(paging.get("next"))
        after = following.get("after")
        next_cursor = str(after) if after not in (None, "") and records else None
        return Page(records=records, next_cursor=next_cursor)

    def _list(self, ctx: ConnectionContext, resource: str, *, params: dict) -> dict:
        body = ctx.http.json("GET", f"{OBJECTS_PATH}/{resource}", params=params)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or not all(isinstance(item, dict) and "id" in item for item in results):
            raise BadResponseError(f"HubSpot returned an unexpected body for the {resource} list.")
        return body

    @staticmethod
    def _properties(item: dict) -> dict:
        properties = item.get("properties")
        return properties if isinstance(properties, dict) else {}

    @classmethod
    def normalise_contact(cls, item: dict) -> dict:
        props = cls._properties(item)
        return normalised(
            "crm.contact",
            id=str(item.get("id")),
            email=_blank_to_none(props.get("email")),
            first_name=_blank_to_none(props.get("firstname")),
            last_name=_blank_to_none(props.get("lastname")),
            phone=_blank_to_none(props.get("phone")),
            company=_blank_to_none(props.get("company")),
            tags=None,  # HubSpot contacts have no tags
            lead_score=_number(props.get("hubspotscore")),
            created_at=item.get("createdAt") or _blank_to_none(props.get("createdate")),
            updated_at=item.get("updatedAt") or _blank_to_none(props.get("lastmodifieddate")),
        )

    @classmethod
    def normalise_deal(cls, item: dict) -> dict:
        props = cls._properties(item)
        return normalised(
            "crm.deal",
            id=str(item.get("id")),
            name=_blank_to_none(props.get("dealname")),
            stage=_blank_to_none(props.get("dealstage")),
            amount=_blank_to_none(props.get("amount")),
            currency=_blank_to_none(props.get("deal_currency_code")),
            close_date=_blank_to_none(props.get("closedate")),
            created_at=item.get("createdAt") or _blank_to_none(props.get("createdate")),
            updated_at=item.get("updatedAt") or _blank_to_none(props.get("hs_lastmodifieddate")),
        )

    # --- actions ----------------------------------------------------------------------------------------------

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        if action != "upsert_contact":
            raise ConfigurationError(f"HubSpot has no action {action!r}.")
        email = payload["email"]
        properties = {"email": email}
        properties.update({prop: payload[field] for field, prop in UPSERT_PROPERTIES if field in payload})
        body = ctx.http.json(
            "POST",
            f"{OBJECTS_PATH}/contacts/batch/upsert",
            json_body={"inputs": [{"idProperty": "email", "id": email, "properties": properties}]},
            idempotent=True,  # keyed by e-mail with the same values: sending it twice leaves the same contact
        )
        if not isinstance(body, dict):
            raise BadResponseError("HubSpot returned an unexpected body for the contact upsert.")
        results = body.get("results")
        if not results:
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
                raise ProviderRequestError(f"HubSpot refused the contact: {str(errors[0]['message'])[:300]}")
            raise BadResponseError("HubSpot returned no contact for the upsert.")
        contact = results[0]
        if not isinstance(contact, dict) or "id" not in contact:
            raise BadResponseError("HubSpot returned an unexpected body for the contact upsert.")
        return {
            "id": str(contact["id"]),
            "created": bool(contact.get("new")),
            "record": self.normalise_contact(contact),
        }

    # --- webhooks ---------------------------------------------------------------------------------------------

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        """`url` is the absolute URL as received; `secret` is the app's client secret. HubSpot signs the URL it
        called, which behind a proxy that rewrites Host (or terminates TLS) is the public one: the gateway's
        public address (GATEWAY_URL, the one the endpoint URL shows) with the received path and query is tried
        too, so the signature still binds the path, query, body and time."""
        signature = header(headers, SIGNATURE_HEADER)
        timestamp = header(headers, TIMESTAMP_HEADER)
        if not secret:
            raise WebhookVerificationError("no client secret is configured for this connection")
        if not signature or not timestamp:
            raise WebhookVerificationError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
        if not ascii_digits(timestamp):
            raise WebhookVerificationError(f"{TIMESTAMP_HEADER} is not a timestamp in milliseconds")
        if abs(time.time() * 1000 - int(timestamp)) > MAX_SIGNATURE_AGE_MS:
            raise WebhookVerificationError("timestamp is more than 5 minutes away; replayed or delayed request")
        received = urlsplit(url)
        public = urlsplit(settings.GATEWAY_URL)
        candidates = [url, urlunsplit((public.scheme, public.netloc, received.path, received.query, ""))]
        matched = False
        for candidate in dict.fromkeys(candidates):
            source = method.upper().encode() + signed_uri(candidate).encode() + (body or b"") + timestamp.encode()
            matched = matches(signature, hmac_signature(secret, source)) or matched
        if not matched:
            raise WebhookVerificationError("wrong signature")
        try:
            payload = json.loads(body or b"[]")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        event_id, event_type = self._identify(payload, body or b"")
        return WebhookEvent(event_id=event_id, event_type=event_type, payload=payload)

    @staticmethod
    def _identify(payload, body: bytes) -> tuple[str, str]:
        """One delivery carries up to 100 events. A single event keeps its `eventId`; a batch is named by its
        sorted event ids, so HubSpot's retries of the same batch (with a new attemptNumber) share one id."""
        events = payload if isinstance(payload, list) else [payload]
        events = [event for event in events if isinstance(event, dict)]
        ids = sorted(str(event["eventId"]) for event in events if event.get("eventId") is not None)
        types = {str(event["subscriptionType"]) for event in events if event.get("subscriptionType")}
        event_type = types.pop() if len(types) == 1 else ("hubspot.batch" if types else "hubspot.request")
        if len(ids) == 1 and len(events) == 1:
            return ids[0], event_type
        digest_source = ",".join(ids).encode() if ids and len(ids) == len(events) else body
        return f"batch-{hashlib.sha256(digest_source).hexdigest()[:32]}", event_type
