"""Zoho CRM REST API v8, authorised with OAuth 2.0 against the account's data centre.

Contract: https://www.zoho.com/crm/developer/docs/api/v8/ (first-party OpenAPI: github.com/zoho/crm-oas, v8.0).
Every call sends `Authorization: Zoho-oauthtoken <access token>` to `{api-domain}/crm/v8`, where the API domain
and the accounts server (`/oauth/v2/auth`, `/oauth/v2/token`) depend on the data centre the account lives in
(multi-DC: zoho.com, .eu, .in, .com.au, .jp, zohocloud.ca, .sa, .uk; the token response names the `api_domain`,
which every call then uses).

Records: `GET /{module}` needs `fields` (at most 50 API names) and pages with `page` + `per_page` (max 200) for the
first 2,000 records, then with `info.next_page_token` as `page_token` (bound to the other parameters, up to 100,000
records); `info.more_records` says whether there is more; 204 when nothing matches. `POST /{module}/upsert` with
`duplicate_check_fields` inserts or updates; each record's outcome is in `data[]` (`code`, `status`, `action`,
`details.id`). Errors are `{"code", "message", "status": "error", "details"}` (per record inside `data[]` for
writes), e.g. 401 `INVALID_TOKEN` / `OAUTH_SCOPE_MISMATCH`, 429 `TOO_MANY_REQUESTS`.

Webhooks (notification channels) are not signed: Zoho echoes the channel's `token` in the JSON body of every
notification, beside `channel_id`, `module`, `operation`, `ids` and `server_time` (ms).

Notification channels (checked against Zoho's v8 reference pages "Enable Notifications" / "Update Specific
Information of a Notification", the v8 OpenAPI file notifications.yaml and Zoho's notification API FAQ, Kaizen 170):
`POST /actions/watch` with `{"watch": [{"channel_id", "events": ["Leads.all", "Contacts.edit", ...], "channel_expiry",
"token" (at most 50 characters), "notify_url"}]}` enables a channel; each entry of the answer's `watch[]` is
`{"code": "SUCCESS", "details": {"events": [{"channel_expiry", "resource_name", "channel_id", ...}]}, "message",
"status": "success"}` or an error (`code`, `message`, `details.api_name`). `PATCH /actions/watch` with the same body
updates a channel in place, which is how it is renewed. From API v4 a channel lives at most one week (one hour when
no expiry is given); the `watch_notifications` action enables one for a week (the channel in the connection's
config, its notify URL, a capability URL, with the credentials) and the connection health check
(`apps.connectors.channels`) renews it when less than a day is left. The OpenAPI file's examples show the body
without the `watch` wrapper; the reference pages and Zoho's SDKs send it wrapped, as here. Scope:
`ZohoCRM.notifications.ALL`. Only checked against the documentation: no Zoho CRM runs here.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.dateparse import parse_datetime

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
    json_array,
    json_object,
)
from apps.connectors.base import is_loopback_host as _is_loopback
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NeedsReauthError,
    ProviderRequestError,
)
from apps.connectors.http import parse_json
from apps.connectors.registry import registry
from apps.connectors.signing import matches
from apps.connectors.unified import normalised
from bizosaas.digits import ascii_digits

API_VERSION = "v8"
MAX_PER_PAGE = 200
DISCRETE_PAGINATION_LIMIT = 2000  # records reachable with `page`; beyond it only `page_token` works
TOKEN_CURSOR = "token:"

# data centre (the domain suffix users know) -> accounts server domain, API domain
DATA_CENTRES = {
    "com": ("zoho.com", "https://www.zohoapis.com"),
    "eu": ("zoho.eu", "https://www.zohoapis.eu"),
    "in": ("zoho.in", "https://www.zohoapis.in"),
    "com.au": ("zoho.com.au", "https://www.zohoapis.com.au"),
    "jp": ("zoho.jp", "https://www.zohoapis.jp"),
    "ca": ("zohocloud.ca", "https://www.zohoapis.ca"),
    "sa": ("zoho.sa", "https://www.zohoapis.sa"),
    "uk": ("zoho.uk", "https://www.zohoapis.uk"),
}
API_HOST = re.compile(r"^(?:[a-z0-9-]+\.)*zohoapis\.(?:com|eu|in|com\.au|jp|ca|sa|uk|com\.cn)$")

# From API v4 Zoho keeps a notification channel at most one week; asking for a little less leaves room for clock skew
CHANNEL_LIFETIME = timedelta(days=7) - timedelta(minutes=10)
CHANNEL_TOKEN_MAX = 50
# `<module API name>.<create|edit|delete|all>`, e.g. Leads.all, Contacts.edit
CHANNEL_EVENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}\.(?:create|edit|delete|all)$")
CHANNEL_KEY = "notification_channel"  # where a connection's channel is kept in its (non-secret) config
# the notify URL is kept with the credentials instead: an inbound endpoint's URL carries its routing token, which
# lets anyone post into the workspace, and the config is shown to everyone who may read the connection
CHANNEL_URL_KEY = "notification_channel_url"

MODULES = {"contacts": "Contacts", "leads": "Leads"}
# only standard fields every org has: an unknown API name in `fields` fails the whole request with INVALID_DATA
FIELDS = {
    "contacts": "Email,First_Name,Last_Name,Phone,Mobile,Account_Name,Tag,Created_Time,Modified_Time",
    "leads": "Email,First_Name,Last_Name,Phone,Mobile,Company,Tag,Created_Time,Modified_Time",
}


def _blank_to_none(value):
    return None if value in ("", None) else value


def _lookup_name(value):
    """Lookup fields (e.g. a contact's Account_Name) are `{"name", "id"}` objects."""
    return _blank_to_none(value.get("name")) if isinstance(value, dict) else _blank_to_none(value)


def _tags(value) -> list[str]:
    if not isinstance(value, list):
        return []
    return [tag["name"] for tag in value if isinstance(tag, dict) and tag.get("name")]


def _api_domain_error(api_domain: str) -> str | None:
    parts = urlsplit(api_domain)
    host = (parts.hostname or "").lower()
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "Only the scheme and host, e.g. https://www.zohoapis.eu"
    if parts.scheme == "https" and API_HOST.match(host):
        return None
    if settings.CONNECTORS_ALLOW_LOOPBACK and _is_loopback(host):
        return None  # a local fake or development proxy
    return "Must be a Zoho API domain over HTTPS, e.g. https://www.zohoapis.eu"


def channel_expiry(now: datetime | None = None) -> str:
    """A channel_expiry as Zoho writes it: ISO 8601 to the second with an offset."""
    return ((now or datetime.now(UTC)) + CHANNEL_LIFETIME).astimezone(UTC).replace(microsecond=0).isoformat()


def watch_error(response) -> str | None:
    """Zoho's answer to actions/watch: the first failed `watch[]` entry, with its code (and the field it names)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("code") == "OAUTH_SCOPE_MISMATCH":
        return f"OAUTH_SCOPE_MISMATCH: {body.get('message', '')}"  # the code tells a missing scope from a bad token
    entries = body.get("watch") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("code") != "SUCCESS":
            return watch_error_entry(entry)
    return None


def watch_error_entry(entry: dict) -> str:
    details = json_object(entry.get("details"))
    field = details.get("api_name")
    return f"{entry.get('code', 'ERROR')}: {entry.get('message', '')}" + (f" ({field})" if field else "")


class WatchActionSpec(ActionSpec):
    """The events are checked one by one, so a wrong one is named in a 400 before anything reaches Zoho."""

    def clean(self, payload: dict) -> dict:
        cleaned = super().clean(payload)
        try:
            URLValidator(schemes=["https", "http"])(cleaned["notify_url"])
        except ValidationError:
            raise ValidationError({"notify_url": ["Enter a valid http(s) URL."]}) from None
        events = [event.strip() for event in cleaned["events"].split(",") if event.strip()]
        wrong = [event for event in events if not CHANNEL_EVENT.match(event)]
        if wrong or not events or len(events) > 50:
            problem = f"Not a module event: {', '.join(wrong)}." if wrong else "Between 1 and 50 events."
            raise ValidationError({"events": [f"{problem} Use Module.operation, e.g. Leads.all or Contacts.edit."]})
        return {**cleaned, "events": ",".join(dict.fromkeys(events))}


class ZohoOAuth2Spec(OAuth2Spec):
    """`{accounts_domain}` in the URLs is the region's accounts server, which is not always `zoho.{region}`
    (Canada's is accounts.zohocloud.ca), so it is looked up rather than formatted from the config as is."""

    def resolve(self, url: str, config: dict) -> str:
        region = config.get("region") or "com"
        if region not in DATA_CENTRES:
            raise ConfigurationError(f"Unknown Zoho data centre {region!r}.")
        return url.format(accounts_domain=DATA_CENTRES[region][0])


@registry.register
class ZohoCRM(Provider):
    key = "zoho_crm"
    name = "Zoho CRM"
    category = "crm"
    description = "Read the contacts and leads of a Zoho CRM organisation and upsert contacts by e-mail."
    logo = "zoho_crm"
    docs_url = "https://www.zoho.com/crm/developer/docs/api/v8/"
    auth = AuthSpec(
        "oauth2",
        oauth2=ZohoOAuth2Spec(
            authorize_url="https://accounts.{accounts_domain}/oauth/v2/auth",
            token_url="https://accounts.{accounts_domain}/oauth/v2/token",
            scopes=("ZohoCRM.modules.contacts.ALL", "ZohoCRM.modules.leads.ALL", "ZohoCRM.notifications.ALL"),
            pkce=False,  # Zoho documents the plain authorisation-code flow for server-based clients
            scope_separator=",",
            token_auth_method="client_secret_post",
            # offline access yields a refresh token; consent makes Zoho issue a new one on re-authorisation
            extra_authorize_params={"access_type": "offline", "prompt": "consent"},
        ),
        description="A Zoho API console server-based client (client id and secret), authorised by a CRM user "
        "in the account's data centre.",
    )
    config_fields = (
        Field(
            "region",
            "Data centre",
            type="choice",
            choices=tuple(DATA_CENTRES),
            default="com",
            help="The domain of the Zoho account: com (US), eu, in, com.au, jp, ca, sa, uk",
        ),
        Field("client_id", "Client ID", help="From the Zoho API console (server-based application)"),
        Field("client_secret", "Client secret", type="secret", secret=True),
        Field(
            "api_domain",
            "API domain",
            type="url",
            required=False,
            help="Only when Zoho names another API domain for the account (Zoho says so in its token response), "
            "e.g. https://www.zohoapis.eu; by default the data centre's",
        ),
        Field(
            "webhook_secret",
            "Notification channel token",
            type="secret",
            secret=True,
            required=False,
            max_length=50,
            help="The token set on the notification channel (actions/watch); Zoho sends it back in every notification",
        ),
    )
    resources = (
        ResourceSpec("contacts", "crm.contact", "Contacts, oldest id first"),
        ResourceSpec("leads", "crm.contact", "Leads (unconverted), oldest id first"),
    )
    actions = (
        ActionSpec(
            "upsert_contact",
            "Create a contact, or update the one with the same e-mail address",
            (
                Field("email", "E-mail", type="email", max_length=100),
                Field("last_name", "Last name", max_length=80),
                Field("first_name", "First name", required=False, max_length=40),
                Field("phone", "Phone", required=False, max_length=30),
                Field("mobile", "Mobile", required=False, max_length=30),
                Field("title", "Title", required=False, max_length=100),
            ),
        ),
        WatchActionSpec(
            "watch_notifications",
            "Have Zoho CRM notify a URL of record changes (a notification channel, kept renewed before it expires)",
            (
                Field(
                    "notify_url",
                    "Notify URL",
                    max_length=255,  # Zoho's; a string field keeps the trailing slash of /hooks/.../
                    help="Where Zoho POSTs notifications: this connection's inbound endpoint URL (/hooks/...)",
                ),
                Field(
                    "events",
                    "Events",
                    max_length=2000,
                    help="Comma-separated Module.operation, e.g. Leads.all,Contacts.edit (create, edit, delete, all)",
                ),
            ),
        ),
    )
    webhook_verification = (
        "notification channel token: the `token` in the JSON body must equal the configured token (Zoho does "
        "not sign notifications); event id from channel_id, server_time, operation and ids"
    )
    webhook_secret_fields = ("webhook_secret",)

    # --- configuration and authentication ---------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
        api_domain = config.get("api_domain")
        error = _api_domain_error(api_domain) if api_domain else None
        if error:
            raise ValidationError({"api_domain": [error]})
        return config, secrets

    def base_url(self, config: dict) -> str:
        api_domain = config.get("api_domain")
        if api_domain:
            error = _api_domain_error(api_domain)
            if error:
                raise ConfigurationError(f"Zoho CRM API domain {api_domain!r}: {error}")
        else:
            region = config.get("region") or "com"
            if region not in DATA_CENTRES:
                raise ConfigurationError(f"Unknown Zoho data centre {region!r}.")
            api_domain = DATA_CENTRES[region][1]
        return f"{api_domain.rstrip('/')}/crm/{API_VERSION}/"

    def connection_base_url(self, config: dict, credentials: dict) -> str:
        """The API domain Zoho's token response names for the account (kept with the tokens) wins over the data
        centre's default and the typed one: an account can live elsewhere than its accounts server suggests."""
        api_domain = str(credentials.get("api_domain") or "")
        if api_domain and _api_domain_error(api_domain) is None:
            return f"{api_domain.rstrip('/')}/crm/{API_VERSION}/"
        return self.base_url(config)

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        token = credentials.get("access_token")
        if not token:
            raise NeedsReauthError("Zoho CRM is not authorised yet; connect it (OAuth) first.")
        return {"Authorization": f"Zoho-oauthtoken {token}"}

    def check(self, ctx: ConnectionContext) -> None:
        # one contact, one field: the cheapest call that proves the token, its scope and the data centre
        self._get_records(ctx, "contacts", {"fields": "Last_Name", "per_page": 1, "page": 1})

    # --- resources --------------------------------------------------------------------------------------------

    def read(self, ctx: ConnectionContext, resource: str, *, cursor: str | None, limit: int) -> Page:  # type: ignore[override]
        if resource not in MODULES:
            raise ConfigurationError(f"Zoho CRM has no resource {resource!r}.")
        params: dict[str, Any] = {"fields": FIELDS[resource], "sort_by": "id", "sort_order": "asc"}
        page, per_page, token = self._parse_cursor(cursor, limit)
        params["per_page"] = per_page
        if token:
            params["page_token"] = token  # `page` and `page_token` are mutually exclusive
        else:
            params["page"] = page
        body = self._get_records(ctx, resource, params)
        if body is None:  # 204: nothing (more) matches
            return Page(records=[])
        items, info = body["data"], body["info"]
        records = [Record(id=str(item["id"]), data=self.normalise(resource, item), raw=item) for item in items]
        if not info.get("more_records") or not items:
            return Page(records=records)
        next_token = info.get("next_page_token")
        if token or (page * per_page + per_page > DISCRETE_PAGINATION_LIMIT and next_token):
            if not next_token:
                raise BadResponseError("Zoho CRM reported more records but no next_page_token.")
            return Page(records=records, next_cursor=f"{TOKEN_CURSOR}{per_page}:{next_token}")
        return Page(records=records, next_cursor=str(page + 1))

    @staticmethod
    def _parse_cursor(cursor: str | None, limit: int) -> tuple[int, int, str | None]:
        """Cursors are `"<page>"` within the first 2,000 records, then `"token:<per_page>:<page_token>"` (the
        token is bound to the page size it was issued for, so the size travels with it)."""
        per_page = max(1, min(limit, MAX_PER_PAGE))
        if not cursor:
            return 1, per_page, None
        if cursor.startswith(TOKEN_CURSOR):
            size, _, token = cursor[len(TOKEN_CURSOR) :].partition(":")
            if ascii_digits(size) and 1 <= int(size) <= MAX_PER_PAGE and token:
                return 0, int(size), token
        elif ascii_digits(cursor) and int(cursor) >= 1:
            return int(cursor), per_page, None
        raise ConfigurationError(f"Not a Zoho CRM cursor: {cursor!r}")

    def _get_records(self, ctx: ConnectionContext, resource: str, params: dict) -> dict | None:
        response = ctx.http.request("GET", MODULES[resource], params=params)
        body = parse_json(response, provider=self.key)
        if body is None:
            return None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("data"), list)
            or not isinstance(body.get("info"), dict)
            or not all(isinstance(item, dict) and item.get("id") for item in body["data"])
        ):
            raise BadResponseError(f"Zoho CRM returned an unexpected body for the {MODULES[resource]} list.")
        return body

    @staticmethod
    def normalise(resource: str, item: dict) -> dict:
        company = item.get("Company") if resource == "leads" else _lookup_name(item.get("Account_Name"))
        score = item.get("Score")  # present only where scoring rules are set up
        return normalised(
            "crm.contact",
            id=str(item["id"]),
            email=_blank_to_none(item.get("Email")),
            first_name=_blank_to_none(item.get("First_Name")),
            last_name=_blank_to_none(item.get("Last_Name")),
            phone=_blank_to_none(item.get("Phone")) or _blank_to_none(item.get("Mobile")),
            company=_blank_to_none(company),
            tags=_tags(item.get("Tag")),
            lead_score=score if isinstance(score, int | float) and not isinstance(score, bool) else None,
            created_at=item.get("Created_Time"),
            updated_at=item.get("Modified_Time"),
        )

    # --- actions ----------------------------------------------------------------------------------------------

    def error_message(self, response) -> str | None:
        return watch_error(response)

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        if action == "watch_notifications":
            return self._watch(ctx, notify_url=payload["notify_url"], events=payload["events"].split(","))
        if action != "upsert_contact":
            raise ConfigurationError(f"Zoho CRM has no action {action!r}.")
        names = {
            "email": "Email",
            "last_name": "Last_Name",
            "first_name": "First_Name",
            "phone": "Phone",
            "mobile": "Mobile",
            "title": "Title",
        }
        contact = {api_name: payload[key] for key, api_name in names.items() if key in payload}
        body = ctx.http.json(
            "POST", "Contacts/upsert", json_body={"data": [contact], "duplicate_check_fields": ["Email"]}
        )
        outcome = body.get("data") if isinstance(body, dict) else None
        if not isinstance(outcome, list) or len(outcome) != 1 or not isinstance(outcome[0], dict):
            raise BadResponseError("Zoho CRM returned an unexpected body for the contact upsert.")
        result = outcome[0]
        details = json_object(result.get("details"))
        if result.get("status") != "success":
            field = details.get("api_name")
            raise ProviderRequestError(
                f"Zoho CRM refused the contact: {result.get('code', 'ERROR')}: {result.get('message', '')}"
                + (f" ({field})" if field else "")
            )
        if not details.get("id"):
            raise BadResponseError("Zoho CRM did not return the upserted contact's id.")
        record = {**contact, "id": details["id"], **{k: details.get(k) for k in ("Created_Time", "Modified_Time")}}
        return {
            "id": str(details["id"]),
            "action": result.get("action"),  # insert or update
            "duplicate_field": result.get("duplicate_field"),
            "record": self.normalise("contacts", record),
        }

    # --- notification channels --------------------------------------------------------------------------------

    def _watch(self, ctx: ConnectionContext, *, notify_url: str, events: list[str]) -> dict:
        """Enables the connection's channel (its stored channel id again, so enabling twice re-subscribes the same
        channel instead of adding a second one). The token is the connection's webhook_secret, made up here when
        none is set; the channel and a new token land in ctx.config / ctx.credentials, which the caller keeps."""
        existing = json_object(ctx.config.get(CHANNEL_KEY))
        channel_id = str(existing.get("channel_id") or secrets.randbelow(9 * 10**15) + 10**15)
        token = ctx.credentials.get("webhook_secret") or secrets.token_urlsafe(32)[:CHANNEL_TOKEN_MAX]
        channel = {"channel_id": channel_id, "events": events, "notify_url": notify_url}
        expires_at = self._send_watch(ctx, "POST", channel, token=token)
        ctx.credentials["webhook_secret"] = token
        ctx.credentials[CHANNEL_URL_KEY] = notify_url
        ctx.config[CHANNEL_KEY] = {"channel_id": channel_id, "events": events, "expires_at": expires_at, "error": ""}
        return {"id": channel_id, "events": events, "notify_url": notify_url, "expires_at": expires_at}

    def renew_notification_channel(self, ctx: ConnectionContext, channel: dict) -> dict:
        """Zoho's documented renewal: PATCH actions/watch of the same channel with a new channel_expiry; a channel
        that has already lapsed (the renewals could not run in time) is enabled again with POST, as Zoho's FAQ
        says to resubscribe. Returns the channel with its new expiry; raises a ConnectorError naming Zoho's code
        when Zoho refuses."""
        token, notify_url = ctx.credentials.get("webhook_secret"), ctx.credentials.get(CHANNEL_URL_KEY)
        if not token or not notify_url:
            raise ConfigurationError(
                "The connection has no notification channel token or notify URL; enable the channel again."
            )
        kept = {"channel_id": channel["channel_id"], "events": channel["events"], "notify_url": notify_url}
        expires = parse_datetime(str(channel.get("expires_at") or ""))
        method = "POST" if expires is None or expires <= datetime.now(UTC) else "PATCH"
        return {**channel, "expires_at": self._send_watch(ctx, method, kept, token=token), "error": ""}

    def _send_watch(self, ctx: ConnectionContext, method: str, channel: dict, *, token: str) -> str:
        expiry = channel_expiry()
        try:
            body = ctx.http.json(
                method,
                "actions/watch",
                json_body={"watch": [{**channel, "channel_expiry": expiry, "token": token}]},
                idempotent=True,  # the same channel id and expiry: sending it twice leaves one channel
            )
        except AuthenticationError as exc:
            if "OAUTH_SCOPE_MISMATCH" not in exc.message:
                raise
            # a connection authorised before channels were offered lacks the notifications scope
            raise NeedsReauthError(
                f"{exc.message}. Notification channels need the ZohoCRM.notifications.ALL scope: connect Zoho CRM "
                "again (OAuth) to grant it.",
                provider_status=exc.provider_status,
            ) from None
        entries = body.get("watch") if isinstance(body, dict) else None
        if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
            raise BadResponseError("Zoho CRM returned an unexpected body for the notification channel.")
        entry = entries[0]
        if entry.get("code") != "SUCCESS":
            raise ProviderRequestError(f"Zoho CRM refused the notification channel: {watch_error_entry(entry)}")
        details = json_object(entry.get("details"))
        subscribed = json_array(details.get("events"))
        parsed = [
            parse_datetime(str(item.get("channel_expiry") or "")) for item in subscribed if isinstance(item, dict)
        ]
        expiries = [moment for moment in parsed if moment is not None]
        # the earliest expiry Zoho confirms is the channel's; ours when it confirms none
        return min(expiries).astimezone(UTC).isoformat() if expiries else expiry

    # --- webhooks ---------------------------------------------------------------------------------------------

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        if not secret:
            raise WebhookVerificationError("no notification channel token is configured")
        try:
            payload = json.loads(body or b"")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        if not isinstance(payload, dict):
            raise WebhookVerificationError("body is not a Zoho CRM notification")
        sent = payload.get("token")
        if not matches(sent, secret):
            raise WebhookVerificationError("missing or wrong notification channel token")
        ids = json_array(payload.get("ids"))
        channel, operation, module = (str(payload.get(key) or "") for key in ("channel_id", "operation", "module"))
        if not channel or not operation:
            raise WebhookVerificationError("notification without channel_id or operation")
        joined = ",".join(str(record_id) for record_id in ids)
        if len(joined) > 200:  # bulk operations notify up to 100 ids at once
            joined = hashlib.sha256(joined.encode()).hexdigest()
        return WebhookEvent(
            event_id=f"{channel}:{payload.get('server_time', '')}:{operation}:{joined}",
            event_type=f"{module}.{operation}" if module else operation,
            payload=payload,
        )
