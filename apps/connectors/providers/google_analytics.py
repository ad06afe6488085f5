"""Google Analytics 4 Data API v1beta, authorised with OAuth 2.0 or a service account key.

Contract: https://developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/properties/runReport —
`POST https://analyticsdata.googleapis.com/v1beta/properties/{propertyId}:runReport` with a JSON body of
`dimensions` / `metrics` (`[{"name": ...}]`), `dateRanges` (`[{"startDate", "endDate"}]`, dates as `YYYY-MM-DD`,
`today`, `yesterday` or `NdaysAgo`), `limit` (at most 250,000 rows, default 10,000), `offset` (the row count of the
start row) and `returnPropertyQuota`. The RunReportResponse carries `dimensionHeaders`, `metricHeaders` (`name`,
`type` such as `TYPE_INTEGER`, `TYPE_FLOAT`, `TYPE_SECONDS`, `TYPE_CURRENCY`), `rows` (`dimensionValues[].value`,
`metricValues[].value`, all strings, in header order), `rowCount` (the total rows of the query, for paging with
`offset`) and, when asked, `propertyQuota` (`tokensPerDay`, `tokensPerHour`, `concurrentRequests`, ... each
`{"consumed", "remaining"}`; see .../data/v1/quotas). runReport only reads, so repeating it is safe.
`GET /v1beta/properties/{propertyId}/metadata` (getMetadata) is the cheap authenticated check.

Errors are Google's `{"error": {"code", "message", "status"}}`: 401 `UNAUTHENTICATED`, 403 `PERMISSION_DENIED`
(no access to the property), 400 `INVALID_ARGUMENT` (an unknown dimension or metric), 429 `RESOURCE_EXHAUSTED`
(a quota is spent; the message names it, e.g. "Exhausted property tokens per hour ...").

Auth: OAuth 2.0 web-server flow (https://developers.google.com/identity/protocols/oauth2/web-server) with
`access_type=offline` for a refresh token, scope `analytics.readonly`; or a service account
(https://developers.google.com/identity/protocols/oauth2/service-account): an RS256 JWT signed with the key file's
`private_key` (`iss` = `client_email`, `scope`, `aud` = `token_uri`, `iat`, `exp` at most an hour later) is
exchanged at `token_uri` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523) for
`{"access_token", "expires_in", "token_type": "Bearer"}`; failures are `{"error", "error_description"}`.
The Data API has no webhooks.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import date
from urllib.parse import urlsplit

from authlib.oauth2.rfc7523 import JWTBearerGrant
from django.conf import settings
from django.core.exceptions import ValidationError
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from apps.connectors.base import (
    AuthSpec,
    ConnectionContext,
    Field,
    OAuth2Spec,
    Page,
    Provider,
    Record,
    ResourceSpec,
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
from apps.connectors.http import parse_json
from apps.connectors.registry import registry
from apps.connectors.unified import normalised
from bizosaas.digits import ascii_digits

API_VERSION = "v1beta"
DEFAULT_API_BASE = "https://analyticsdata.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # Google accepts at most one hour between iat and exp
TOKEN_REFRESH_MARGIN = 60  # seconds before expiry at which a cached service-account token is replaced

MAX_ROWS_PER_REQUEST = 250_000
MAX_DIMENSIONS = 9
MAX_METRICS = 10
DEFAULT_DIMENSIONS = "date,sessionDefaultChannelGroup"
DEFAULT_METRICS = "sessions,activeUsers,keyEvents"
# Google renamed metrics (`conversions` became `keyEvents` in 2024); connections saved with an old name keep working
RENAMED_METRICS = {"conversions": "keyEvents", "sessionConversionRate": "sessionKeyEventRate"}
DEFAULT_START_DATE = "28daysAgo"  # with `yesterday`: the last 28 complete days
DEFAULT_END_DATE = "yesterday"
INTEGER_METRIC_TYPES = frozenset({"TYPE_INTEGER"})

# service-account token cached in ctx.credentials (not the OAuth keys, which the framework persists and refreshes)
SA_TOKEN = "service_account_access_token"
SA_TOKEN_EXPIRES_AT = "service_account_token_expires_at"

API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?::[A-Za-z0-9_]+)?$")  # e.g. sessions, customEvent:plan_name
DATE = re.compile(r"^(?:\d{4}-\d{2}-\d{2}|today|yesterday|\d{1,4}daysAgo)$")
PROPERTY_ID = re.compile(r"^\d{1,20}$")
GOOGLE_API_HOST = re.compile(r"^(?:[a-z0-9-]+\.)*googleapis\.com$")
GOOGLE_TOKEN_HOSTS = frozenset({"oauth2.googleapis.com", "accounts.google.com", "www.googleapis.com"})


def _api_base_problem(url: str) -> str | None:
    """Access tokens go only to Google's API hosts over HTTPS (or to a loopback fake in tests/development)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if _is_loopback(host) and settings.CONNECTORS_ALLOW_LOOPBACK:
        return None
    if parts.scheme != "https" or not GOOGLE_API_HOST.match(host):
        return "Must be an https:// address on googleapis.com, e.g. https://analyticsdata.googleapis.com."
    return None


def _token_uri_problem(url: str) -> str | None:
    """The signed assertion goes only to Google's token endpoint over HTTPS (or to a loopback fake)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if _is_loopback(host) and settings.CONNECTORS_ALLOW_LOOPBACK:
        return None
    if parts.scheme != "https" or host not in GOOGLE_TOKEN_HOSTS:
        return f"token_uri must be Google's token endpoint ({GOOGLE_TOKEN_URI})."
    return None


def _names(value: str, *, maximum: int, what: str) -> list[str]:
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    if not names:
        raise ValidationError(f"Name at least one {what}.")
    if len(names) > maximum:
        raise ValidationError(f"At most {maximum} {what}s per report.")
    bad = [name for name in names if not API_NAME.match(name)]
    if bad:
        raise ValidationError(f"Not a Google Analytics API name: {', '.join(bad)}.")
    if len(set(names)) != len(names):
        raise ValidationError(f"A {what} is named twice.")
    return names


def parse_service_account(raw: str) -> dict:
    """The fields of a service account JSON key file this connector uses; ValidationError when it is not one."""
    try:
        key = json.loads(raw)
    except (TypeError, ValueError):
        raise ValidationError("Not valid JSON: paste the whole key file downloaded from the Cloud console.") from None
    if not isinstance(key, dict) or key.get("type") != "service_account":
        raise ValidationError('Not a service account key file (its "type" must be "service_account").')
    missing = [name for name in ("client_email", "private_key") if not isinstance(key.get(name), str) or not key[name]]
    if missing:
        raise ValidationError(f"The key file lacks {', '.join(missing)}.")
    token_uri = key.get("token_uri") or GOOGLE_TOKEN_URI
    if not isinstance(token_uri, str) or (problem := _token_uri_problem(token_uri)):
        raise ValidationError(problem or "token_uri must be a URL.")
    return {
        "client_email": key["client_email"],
        "private_key": key["private_key"],
        "private_key_id": key.get("private_key_id") if isinstance(key.get("private_key_id"), str) else None,
        "token_uri": token_uri,
    }


def _metric_value(value, metric_type: str | None):
    """Metric values are decimal strings; integers stay integers, everything else becomes a float."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if metric_type in INTEGER_METRIC_TYPES or (metric_type is None and number.is_integer() and "." not in str(value)):
        return int(number)
    return number


def _remaining(quota: dict, name: str) -> int | None:
    status = quota.get(name)
    if isinstance(status, dict) and isinstance(status.get("remaining"), int | float):
        return int(status["remaining"])
    if isinstance(status, dict) and "consumed" in status and "remaining" not in status:
        return 0  # proto3 JSON omits zero values: a status with only `consumed` has nothing left
    return None


def _seconds_to_next_hour() -> float:
    return 3600 - time.time() % 3600


@registry.register
class GoogleAnalytics(Provider):
    key = "google_analytics"
    name = "Google Analytics 4"
    category = "analytics"
    description = "Read report rows (dimensions and metrics) of a Google Analytics 4 property."
    logo = "google_analytics"
    docs_url = "https://developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/properties/runReport"
    auth = AuthSpec(
        "oauth2",
        oauth2=OAuth2Spec(
            authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
            token_url="https://oauth2.googleapis.com/token",
            scopes=(SCOPE,),
            pkce=True,  # Google supports S256 PKCE for web-server clients
            token_auth_method="client_secret_post",
            # offline: a refresh token; consent: Google returns the refresh token again on reconnection
            extra_authorize_params={"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
        ),
        description="Connect a Google account with read access to the property (OAuth), or paste the JSON key of a "
        "service account that was added as a Viewer of the property (Admin > Property access management).",
    )
    config_fields = (
        Field(
            "property_id", "Property ID", help="The numeric GA4 property ID (Admin > Property details)", max_length=20
        ),
        Field(
            "service_account_json",
            "Service account key (JSON)",
            type="secret",
            secret=True,
            required=False,
            max_length=20_000,
            help="The whole JSON key file; when set it is used instead of OAuth",
        ),
        Field("client_id", "OAuth client ID", required=False, help="From Google Cloud console > Credentials"),
        Field("client_secret", "OAuth client secret", type="secret", secret=True, required=False),
        Field(
            "dimensions",
            "Dimensions",
            required=False,
            default=DEFAULT_DIMENSIONS,
            help=f"Comma-separated API names, at most {MAX_DIMENSIONS}",
        ),
        Field(
            "metrics",
            "Metrics",
            required=False,
            default=DEFAULT_METRICS,
            help=f"Comma-separated API names, at most {MAX_METRICS}",
        ),
        Field(
            "start_date",
            "Start date",
            required=False,
            default=DEFAULT_START_DATE,
            help="YYYY-MM-DD, today, yesterday or NdaysAgo",
        ),
        Field(
            "end_date",
            "End date",
            required=False,
            default=DEFAULT_END_DATE,
            help="YYYY-MM-DD, today, yesterday or NdaysAgo",
        ),
        Field(
            "api_base_url",
            "API base URL",
            type="url",
            required=False,
            default=DEFAULT_API_BASE,
            help="Leave as https://analyticsdata.googleapis.com",
        ),
    )
    resources = (
        ResourceSpec(
            "report", "analytics.report_row", "Report rows for the configured dimensions and metrics", window="date"
        ),
    )
    actions = ()
    webhook_verification = ""  # the Data API sends no webhooks

    # --- configuration ----------------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
        errors: dict[str, list[str]] = {}
        if "property_id" in config:
            config["property_id"] = config["property_id"].removeprefix("properties/")
            if not PROPERTY_ID.match(config["property_id"]):
                errors["property_id"] = ["Digits only, e.g. 123456789."]
        for name, maximum, what in (("dimensions", MAX_DIMENSIONS, "dimension"), ("metrics", MAX_METRICS, "metric")):
            if name in config:
                try:
                    config[name] = ",".join(_names(config[name], maximum=maximum, what=what))
                except ValidationError as exc:
                    errors[name] = exc.messages
        for name in ("start_date", "end_date"):
            if name in config and not DATE.match(config[name]):
                errors[name] = ["YYYY-MM-DD, today, yesterday or NdaysAgo."]
        if "api_base_url" in config and (problem := _api_base_problem(config["api_base_url"])):
            errors["api_base_url"] = [problem]
        if "service_account_json" in secrets:
            try:
                parse_service_account(secrets["service_account_json"])
            except ValidationError as exc:
                errors["service_account_json"] = exc.messages
        if not partial:
            has = set(config) | set(secrets) | set(existing_secrets)
            if "service_account_json" not in has and not {"client_id", "client_secret"} <= has:
                message = "Paste a service account key, or set a client ID and client secret to connect with OAuth."
                errors.setdefault("service_account_json", []).append(message)
        if errors:
            raise ValidationError(errors)
        return config, secrets

    def base_url(self, config: dict) -> str:
        url = (config.get("api_base_url") or DEFAULT_API_BASE).rstrip("/")
        problem = _api_base_problem(url)
        if problem:
            raise ConfigurationError(f"Google Analytics API base URL {url!r} refused: {problem}")
        return f"{url}/{API_VERSION}/"

    # --- authentication ---------------------------------------------------------------------------------------

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        if credentials.get("service_account_json"):
            # no header while the service-account token itself is being fetched (see _ensure_token)
            token = credentials.get(SA_TOKEN)
            return {"Authorization": f"Bearer {token}"} if token else {}
        token = credentials.get("access_token")
        if not token:
            raise NeedsReauthError("Google Analytics is not connected: authorise with Google or add a service account.")
        return {"Authorization": f"Bearer {token}"}

    def _ensure_token(self, ctx: ConnectionContext) -> None:
        """With a service account, obtains an access token by the JWT bearer grant and caches it in
        ctx.credentials for the life of the context (replaced a minute before it expires)."""
        raw = ctx.credentials.get("service_account_json")
        if not raw:
            return
        expires_at = ctx.credentials.get(SA_TOKEN_EXPIRES_AT) or 0
        if ctx.credentials.get(SA_TOKEN) and float(expires_at) - time.time() > TOKEN_REFRESH_MARGIN:
            return
        ctx.credentials.pop(SA_TOKEN, None)
        ctx.credentials.pop(SA_TOKEN_EXPIRES_AT, None)
        try:
            key = parse_service_account(raw)
        except ValidationError as exc:
            raise ConfigurationError(f"Service account key refused: {' '.join(exc.messages)}") from None
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT"}
        if key["private_key_id"]:
            header["kid"] = key["private_key_id"]
        try:
            assertion = JWTBearerGrant.sign(
                RSAKey.import_key(key["private_key"]),
                issuer=key["client_email"],
                audience=key["token_uri"],
                issued_at=now,
                expires_at=now + ASSERTION_LIFETIME,
                claims={"scope": SCOPE},
                header=header,
            )
        except (JoseError, ValueError, TypeError):
            raise ConfigurationError("The service account private key cannot be read.") from None
        try:
            response = ctx.http.request(
                "POST",
                key["token_uri"],
                data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
                headers={"Accept": "application/json"},
                idempotent=True,  # a fresh token each time; nothing changes on Google's side
            )
        except ProviderRequestError as exc:  # 400 invalid_grant: bad signature, unknown or disabled account
            raise AuthenticationError(
                exc.message.replace("refused the request", "refused the service account"),
                provider_status=exc.provider_status,
            ) from None
        body = parse_json(response, provider=self.key)
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
            raise BadResponseError("Google's token endpoint returned no access token.")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else float(ASSERTION_LIFETIME)
        ctx.credentials[SA_TOKEN] = body["access_token"]
        ctx.credentials[SA_TOKEN_EXPIRES_AT] = time.time() + lifetime

    def retry_after(self, response) -> float | None:
        """A 429 RESOURCE_EXHAUSTED names the spent quota: token budgets (per hour, per day, per project per hour)
        do not come back within a retry (do not retry); concurrent-request limits clear quickly (back off)."""
        if response.status_code != 429:
            return None
        text = response.text.lower()
        if "per day" in text or "tokens per" in text or "per hour" in text:
            return math.inf
        return None

    def check(self, ctx: ConnectionContext) -> None:
        self._ensure_token(ctx)
        body = ctx.http.json("GET", f"properties/{self._property(ctx)}/metadata")
        if not isinstance(body, dict) or "name" not in body:
            raise BadResponseError("Google Analytics returned an unexpected body for the property metadata.")

    # --- resources --------------------------------------------------------------------------------------------

    @staticmethod
    def _property(ctx: ConnectionContext) -> str:
        property_id = str(ctx.config.get("property_id", "")).removeprefix("properties/")
        if not PROPERTY_ID.match(property_id):
            raise ConfigurationError("The Google Analytics property ID must be digits.")
        return property_id

    def report_request(
        self, config: dict, *, offset: int, limit: int, since: date | None = None, until: date | None = None
    ) -> dict:
        dimensions = _names(config.get("dimensions") or DEFAULT_DIMENSIONS, maximum=MAX_DIMENSIONS, what="dimension")
        metrics = _names(config.get("metrics") or DEFAULT_METRICS, maximum=MAX_METRICS, what="metric")
        metrics = [RENAMED_METRICS.get(name, name) for name in metrics]
        return {
            "dimensions": [{"name": name} for name in dimensions],
            "metrics": [{"name": name} for name in metrics],
            "dateRanges": [
                {
                    "startDate": since.isoformat() if since else config.get("start_date") or DEFAULT_START_DATE,
                    "endDate": until.isoformat() if until else config.get("end_date") or DEFAULT_END_DATE,
                }
            ],
            "limit": str(max(1, min(limit, MAX_ROWS_PER_REQUEST))),  # int64 fields are strings in Google's JSON
            "offset": str(offset),
            "returnPropertyQuota": True,
        }

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
        """The cursor is the row offset of the next page (a decimal string). A window's ends replace the configured
        `dateRanges` start and end dates (inclusive, in the property's time zone)."""
        if self.resource(resource) is None:
            raise ConfigurationError(f"Google Analytics has no resource {resource!r}.")
        if cursor is not None and not ascii_digits(str(cursor)):
            raise ConfigurationError(f"Not a Google Analytics report cursor: {cursor!r}.")
        offset = int(cursor or 0)
        try:
            request_body = self.report_request(ctx.config, offset=offset, limit=limit, since=since, until=until)
        except ValidationError as exc:
            raise ConfigurationError(f"Google Analytics report refused: {' '.join(exc.messages)}") from None
        self._ensure_token(ctx)
        body = ctx.http.json(
            "POST",
            f"properties/{self._property(ctx)}:runReport",
            json_body=request_body,
            idempotent=True,  # runReport only reads
        )
        if not isinstance(body, dict):
            raise BadResponseError("Google Analytics returned an unexpected body for runReport.")
        rows = body.get("rows") or []  # proto3 JSON omits an empty `rows`
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise BadResponseError("Google Analytics returned an unexpected body for runReport.")
        dimension_names = [h.get("name") for h in body.get("dimensionHeaders") or [] if isinstance(h, dict)]
        metric_headers = [h for h in body.get("metricHeaders") or [] if isinstance(h, dict)]
        records = [
            self._record(row, dimension_names, metric_headers, position=offset + index)
            for index, row in enumerate(rows)
        ]
        row_count = body.get("rowCount") or 0
        following = offset + len(records)
        next_cursor = str(following) if records and isinstance(row_count, int) and following < row_count else None
        self._check_quota(body, more=next_cursor is not None)
        return Page(records=records, next_cursor=next_cursor)

    @staticmethod
    def _check_quota(body: dict, *, more: bool) -> None:
        """The quota returned with the report: once the hourly (or daily) token budget is spent, the next request
        would fail with RESOURCE_EXHAUSTED, so a read with pages left stops here as rate limited (it resumes from
        the same cursor later)."""
        quota = body.get("propertyQuota")
        if not more or not isinstance(quota, dict):
            return
        if _remaining(quota, "tokensPerDay") == 0:
            raise RateLimitedError(
                "Google Analytics property tokens per day are spent; reading resumes tomorrow.", retry_after=math.inf
            )
        if _remaining(quota, "tokensPerHour") == 0:
            raise RateLimitedError(
                "Google Analytics property tokens per hour are spent; reading resumes next hour.",
                retry_after=_seconds_to_next_hour(),
            )

    @staticmethod
    def _record(row: dict, dimension_names: list, metric_headers: list[dict], *, position: int) -> Record:
        dimension_values = [v.get("value") if isinstance(v, dict) else None for v in row.get("dimensionValues") or []]
        metric_values = [v.get("value") if isinstance(v, dict) else None for v in row.get("metricValues") or []]
        if len(dimension_values) != len(dimension_names) or len(metric_values) != len(metric_headers):
            raise BadResponseError("Google Analytics returned a row that does not match its headers.")
        dimensions = dict(zip(dimension_names, dimension_values, strict=True))
        metrics = {
            header.get("name"): _metric_value(value, header.get("type"))
            for header, value in zip(metric_headers, metric_values, strict=True)
        }
        # a row is one combination of dimension values; without dimensions the (single) row is named by position
        record_id = "|".join(str(value) for value in dimension_values) if dimension_values else f"row-{position}"
        return Record(
            id=record_id, data=normalised("analytics.report_row", dimensions=dimensions, metrics=metrics), raw=row
        )
