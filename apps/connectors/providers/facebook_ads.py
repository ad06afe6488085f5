"""Meta (Facebook) Marketing API, Graph API v26.0, with a system-user or long-lived access token.

Contract (developers.facebook.com): the Ads Insights API
(https://developers.facebook.com/docs/marketing-api/insights) — `GET /v26.0/act_{ad_account_id}/insights` with
`level=campaign`, `fields=campaign_id,campaign_name,impressions,clicks,spend,actions`, `time_increment=1` (one row
per campaign per day) and `date_preset` or `time_range={"since","until"}`; metrics come back as strings
(`"impressions": "361324"`, `"spend": "5339.5"`), `actions` is a list of `{"action_type", "value"}` and is omitted
when there are none. Lists are cursor-paginated: `limit`, `after`, and a body `{"data": [...], "paging":
{"cursors": {"before", "after"}, "next"}}` with no `next` on the last page. Errors are
`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}` (code 190 / OAuthException: the token is
invalid or expired) — https://developers.facebook.com/docs/graph-api/guides/error-handling. When the app secret is
known every call carries `appsecret_proof` = hex HMAC-SHA256(app secret, access token)
(https://developers.facebook.com/docs/graph-api/securing-requests).

Rate limits (https://developers.facebook.com/docs/marketing-api/overview/rate-limiting and
https://developers.facebook.com/docs/graph-api/overview/rate-limiting): responses carry JSON usage headers
`X-Business-Use-Case-Usage` (`{business_id: [{"type", "call_count", "total_cputime", "total_time",
"estimated_time_to_regain_access" (minutes)}]}`), `X-Ad-Account-Usage` (`{"acc_id_util_pct",
"reset_time_duration" (seconds)}`) and `X-App-Usage` (`{"call_count", "total_cputime", "total_time"}` percentages).
Throttles mostly arrive as HTTP 400 with error code 4, 17, 32, 613 or 80000-80014, not 429; they are waited out
like a 429 when those headers give a wait short enough.

Webhooks (https://developers.facebook.com/docs/graph-api/webhooks/getting-started): a GET verification request with
`hub.mode=subscribe`, `hub.challenge` and `hub.verify_token` (answered with the challenge when the token matches);
event notifications are POSTed JSON `{"object", "entry": [{"id", "time", "changes": [{"field", "value"}]}]}` signed
in `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.

There is no unified campaign model without metrics, so only `insights` is exposed (as ads.campaign_metrics); the
`/campaigns` edge (names, status, objective) carries no metrics and is not offered as a resource.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from contextvars import ContextVar
from datetime import date, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.connectors.base import (
    AuthSpec,
    ConnectionContext,
    Field,
    Page,
    Provider,
    Record,
    ResourceSpec,
    WebhookEvent,
    WebhookVerificationError,
    json_object,
)
from apps.connectors.base import is_loopback_host as _is_loopback
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NeedsReauthError,
    ProviderRequestError,
    RateLimitedError,
)
from apps.connectors.http import time_left
from apps.connectors.registry import registry
from apps.connectors.signing import header, hmac_signature, matches
from apps.connectors.unified import normalised
from bizosaas.digits import ascii_digits

API_VERSION = "v26.0"
DEFAULT_API_BASE = "https://graph.facebook.com"
MAX_PER_PAGE = 500
INSIGHT_FIELDS = "campaign_id,campaign_name,impressions,clicks,spend,actions"
DATE_PRESETS = (
    "today",
    "yesterday",
    "this_month",
    "last_month",
    "this_quarter",
    "maximum",
    "data_maximum",
    "last_3d",
    "last_7d",
    "last_14d",
    "last_28d",
    "last_30d",
    "last_90d",
    "last_week_mon_sun",
    "last_week_sun_sat",
    "last_quarter",
    "last_year",
    "this_week_mon_today",
    "this_week_sun_today",
    "this_year",
)
DEFAULT_CONVERSION_TYPES = "purchase,lead,complete_registration"
SIGNATURE_HEADER = "X-Hub-Signature-256"
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Ad-Account-Usage", "X-App-Usage")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
# Graph API answers some token and throttling errors with HTTP 400; the framework only hands the provider the
# error message, so these documented messages are recognised to raise the right typed error.
_TOKEN_ERRORS = ("error validating access token", "invalid oauth access token", "malformed access token")
_THROTTLE_ERRORS = ("request limit reached", "too many calls", "rate limit")
# Graph API throttles arrive as HTTP 400 with these error codes (API too many calls, app / user / page request
# limits, custom rate limit, business use case limits): waited out with the usage headers' wait, like a 429
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
MAX_THROTTLE_RETRIES = 2
# the wait noted by error_message for the call in progress in this thread (an exception carries no headers)
_throttle_wait: ContextVar[tuple[float | None] | None] = ContextVar("facebook_throttle_wait", default=None)


def _api_base_problem(url: str) -> str | None:
    """The access token goes only to Meta's Graph API host over HTTPS (or to a loopback fake in tests)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if _is_loopback(host):
        return None
    if parts.scheme != "https" or host != "graph.facebook.com" or parts.path not in ("", "/"):
        return "Must be https://graph.facebook.com."
    return None


def _int(value):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _conversions(actions, types: frozenset[str]) -> float | int:
    """Sum of the `actions` entries whose action_type is a configured conversion type; 0 when there are none."""
    total = 0.0
    for action in actions if isinstance(actions, list) else ():
        if isinstance(action, dict) and action.get("action_type") in types:
            try:
                total += float(action.get("value") or 0)
            except (TypeError, ValueError):
                continue
    return int(total) if total.is_integer() else total


def _usage(value: str):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


@registry.register
class FacebookAds(Provider):
    key = "facebook_ads"
    name = "Facebook Ads"
    category = "ads"
    description = "Read daily campaign metrics (impressions, clicks, spend, conversions) of a Meta ad account."
    logo = "facebook"
    docs_url = "https://developers.facebook.com/docs/marketing-api/insights"
    auth = AuthSpec(
        "token",
        description="A system user access token (Business Settings > System users) or a long-lived user token "
        "with the ads_read permission; optionally the app secret to send appsecret_proof.",
    )
    config_fields = (
        Field("access_token", "Access token", type="secret", secret=True, help="System user or long-lived token"),
        Field("ad_account_id", "Ad account ID", max_length=40, help="Digits, with or without the act_ prefix"),
        Field(
            "app_secret",
            "App secret",
            type="secret",
            secret=True,
            required=False,
            help="When set, every call carries appsecret_proof (required if the app enforces it)",
        ),
        Field(
            "date_preset", "Reporting period", type="choice", required=False, default="last_30d", choices=DATE_PRESETS
        ),
        Field("since", "From (YYYY-MM-DD)", required=False, max_length=10, help="With 'until', overrides the period"),
        Field("until", "To (YYYY-MM-DD)", required=False, max_length=10),
        Field(
            "conversion_action_types",
            "Conversion action types",
            required=False,
            default=DEFAULT_CONVERSION_TYPES,
            help="Comma-separated action_type values counted as conversions",
        ),
        Field(
            "api_base_url",
            "API base URL",
            type="url",
            required=False,
            default=DEFAULT_API_BASE,
            help="Leave as https://graph.facebook.com",
        ),
    )
    resources = (
        ResourceSpec("insights", "ads.campaign_metrics", "Daily metrics per campaign (Ads Insights)", window="date"),
    )
    actions = ()
    webhook_verification = (
        f"{SIGNATURE_HEADER}: sha256= followed by the hex HMAC-SHA256 of the raw body with the app secret; "
        "GET verification requests (hub.mode=subscribe) are answered with hub.challenge when hub.verify_token "
        "equals the configured secret"
    )
    webhook_secret_fields = ("app_secret",)
    webhook_handshake_secret = "endpoint:verify_token"  # ours, per endpoint, typed into the app dashboard
    webhook_setup = (
        "Use this URL as the callback URL and the verify token shown at creation; the app secret must be set on "
        "the connection."
    )

    # --- configuration ----------------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
        errors: dict[str, list[str]] = {}
        if "ad_account_id" in config:
            account = config["ad_account_id"].removeprefix("act_")
            if not ascii_digits(account):
                errors["ad_account_id"] = ["Must be the ad account's digits, e.g. 1234567890 or act_1234567890."]
            config["ad_account_id"] = account
        if "api_base_url" in config and (problem := _api_base_problem(config["api_base_url"])):
            errors["api_base_url"] = [problem]
        dates = {}
        for name in ("since", "until"):
            if name in config:
                try:
                    dates[name] = date.fromisoformat(config[name])
                except ValueError:
                    errors[name] = ["Must be a date as YYYY-MM-DD."]
        if not partial and not errors and len(dates) == 1:
            missing = "until" if "since" in dates else "since"
            errors[missing] = ["Set both dates, or neither."]
        if len(dates) == 2 and dates["since"] > dates["until"]:
            errors["until"] = ["Must not be before the start date."]
        if errors:
            raise ValidationError(errors)
        return config, secrets

    def base_url(self, config: dict) -> str:
        url = (config.get("api_base_url") or DEFAULT_API_BASE).rstrip("/")
        problem = _api_base_problem(url)
        if problem:
            raise ConfigurationError(f"Facebook Ads API base URL {url!r} refused: {problem}")
        return f"{url}/{API_VERSION}/"

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        token = credentials.get("access_token")
        if not token:
            raise NeedsReauthError("Facebook Ads is not connected: set an access token.")
        return {"Authorization": f"Bearer {token}"}

    def error_message(self, response) -> str | None:
        """Notes a throttle answered as HTTP 400 and the wait its usage headers give (the exception carries no
        headers); the text itself is Meta's `error.message`, as the client reads it."""
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            return None
        if isinstance(error, dict) and error.get("code") in THROTTLE_CODES:
            _throttle_wait.set((self.retry_after(response),))
        return None

    def retry_after(self, response) -> float | None:
        """The longest wait Meta's usage headers announce: BUC `estimated_time_to_regain_access` (minutes) or the
        ad account's `reset_time_duration` (seconds); None when they announce none."""
        waits = []
        buc = _usage(response.headers.get("X-Business-Use-Case-Usage", ""))
        if isinstance(buc, dict):
            for entries in buc.values():
                for entry in entries if isinstance(entries, list) else ():
                    minutes = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
                    if isinstance(minutes, int | float) and not isinstance(minutes, bool) and minutes > 0:
                        waits.append(minutes * 60.0)
        account = _usage(response.headers.get("X-Ad-Account-Usage", ""))
        if isinstance(account, dict):
            seconds = account.get("reset_time_duration")
            if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
                waits.append(float(seconds))
        return max(waits) if waits else None

    # --- calls ------------------------------------------------------------------------------------------------

    @staticmethod
    def _account_path(ctx: ConnectionContext, edge: str = "") -> str:
        account = str(ctx.config.get("ad_account_id", "")).removeprefix("act_")
        if not ascii_digits(account):
            raise ConfigurationError("Facebook Ads needs the ad account ID (digits).")
        return f"act_{account}/{edge}" if edge else f"act_{account}"

    def _get(self, ctx: ConnectionContext, path: str, params: dict) -> dict:
        params = dict(params)
        secret, token = ctx.credentials.get("app_secret"), ctx.credentials.get("access_token")
        if secret and token:
            params["appsecret_proof"] = hmac_signature(secret, token.encode(), encoding="hex")
        for attempt in range(MAX_THROTTLE_RETRIES + 1):
            _throttle_wait.set(None)
            try:
                body = ctx.http.json("GET", path, params=params)
                break
            except ProviderRequestError as exc:
                lowered = exc.message.lower()
                if any(text in lowered for text in _TOKEN_ERRORS):
                    raise AuthenticationError(exc.message, provider_status=exc.provider_status) from None
                noted = _throttle_wait.get()
                if noted is None and not any(text in lowered for text in _THROTTLE_ERRORS):
                    raise
                wait = noted[0] if noted else None
                left = time_left()
                if (
                    wait is not None
                    and attempt < MAX_THROTTLE_RETRIES
                    and wait <= settings.CONNECTOR_MAX_RETRY_AFTER
                    and (left is None or wait + 0.5 < left)
                ):
                    time.sleep(wait)
                    continue
                raise RateLimitedError(exc.message, provider_status=exc.provider_status, retry_after=wait) from None
        if not isinstance(body, dict):
            raise BadResponseError(f"Facebook Ads returned an unexpected body for {path}.")
        return body

    def check(self, ctx: ConnectionContext) -> None:
        body = self._get(ctx, self._account_path(ctx), {"fields": "id,name,account_status"})
        if "id" not in body:
            raise BadResponseError("Facebook Ads returned an unexpected body for the ad account.")

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
        """The cursor is Meta's own `paging.cursors.after` token, passed back verbatim as `after`. A window is sent
        as `time_range` (both ends inclusive; Meta wants both, so an open end is today or 37 months back, the
        furthest Insights reaches) and replaces the configured period."""
        if self.resource(resource) is None:
            raise ConfigurationError(f"Facebook Ads has no resource {resource!r}.")
        params = {
            "level": "campaign",
            "fields": INSIGHT_FIELDS,
            "time_increment": "1",
            "limit": max(1, min(limit, MAX_PER_PAGE)),
        }
        if since is not None or until is not None:
            until = until or date.today()
            since = since or until - timedelta(days=37 * 30)
            since, until = since.isoformat(), until.isoformat()  # type: ignore[assignment]
        else:
            since, until = ctx.config.get("since"), ctx.config.get("until")
        if since and until:
            params["time_range"] = json.dumps({"since": since, "until": until}, separators=(",", ":"))
        else:
            params["date_preset"] = ctx.config.get("date_preset") or "last_30d"
        if cursor:
            params["after"] = cursor
        body = self._get(ctx, self._account_path(ctx, "insights"), params)
        rows = body.get("data")
        if not isinstance(rows, list) or not all(isinstance(row, dict) and row.get("campaign_id") for row in rows):
            raise BadResponseError("Facebook Ads returned an unexpected body for the insights list.")
        types = frozenset(
            part.strip()
            for part in str(ctx.config.get("conversion_action_types") or DEFAULT_CONVERSION_TYPES).split(",")
            if part.strip()
        )
        records = [
            Record(id=f"{row['campaign_id']}:{row.get('date_start')}", data=self.normalise(row, types), raw=row)
            for row in rows
        ]
        paging = json_object(body.get("paging"))
        cursors = json_object(paging.get("cursors"))
        after = cursors.get("after")
        next_cursor = str(after) if paging.get("next") and after and records else None
        return Page(records=records, next_cursor=next_cursor)

    @staticmethod
    def normalise(row: dict, conversion_types: frozenset[str]) -> dict:
        return normalised(
            "ads.campaign_metrics",
            campaign_id=str(row["campaign_id"]),
            campaign_name=row.get("campaign_name") or None,
            date=row.get("date_start"),
            impressions=_int(row.get("impressions")),
            clicks=_int(row.get("clicks")),
            cost=row.get("spend") or None,  # a decimal string in the account currency, kept exact
            conversions=_conversions(row.get("actions"), conversion_types),
        )

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        raise ConfigurationError(f"Facebook Ads has no action {action!r}.")

    # --- webhooks ---------------------------------------------------------------------------------------------

    def webhook_handshake(self, *, method: str, query: dict[str, str], secret: str) -> str | None:
        if method.upper() != "GET" or "hub.mode" not in query:
            return None
        if query.get("hub.mode") != "subscribe":
            raise WebhookVerificationError("hub.mode is not subscribe")
        if not secret:
            raise WebhookVerificationError("no verify token is configured for this connection")
        token = query.get("hub.verify_token") or ""
        if not matches(token, secret):
            raise WebhookVerificationError("hub.verify_token does not match")
        challenge = query.get("hub.challenge") or ""
        if not _CHALLENGE.match(challenge):
            raise WebhookVerificationError("missing or malformed hub.challenge")
        return challenge

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        """`secret` is the app secret; the signature covers the raw body exactly as received."""
        if not secret:
            raise WebhookVerificationError("no app secret is configured for this connection")
        sent = header(headers, SIGNATURE_HEADER)
        if not sent.startswith("sha256="):
            raise WebhookVerificationError(f"missing or malformed {SIGNATURE_HEADER} header")
        if not matches(sent, "sha256=" + hmac_signature(secret, body, encoding="hex")):
            raise WebhookVerificationError("wrong signature")
        try:
            payload = json.loads(body or b"")
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        if not isinstance(payload, dict):
            raise WebhookVerificationError("body is not a JSON object")
        # notifications carry no delivery id: the body's digest names it, so a redelivery dedupes
        event_id = hashlib.sha256(body).hexdigest()[:32]
        fields = {
            str(change["field"])
            for entry in payload.get("entry") or ()
            if isinstance(entry, dict)
            for change in entry.get("changes") or ()
            if isinstance(change, dict) and change.get("field")
        }
        kind = str(payload.get("object") or "facebook")
        event_type = f"{kind}.{fields.pop()}" if len(fields) == 1 else kind
        return WebhookEvent(event_id=event_id, event_type=event_type, payload=payload)
