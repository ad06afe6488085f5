"""Google Ads API v26 (REST), authorised with OAuth 2.0 plus the developer token.

Contract: https://developers.google.com/google-ads/api/rest/common/search (REST search),
https://developers.google.com/google-ads/api/docs/concepts/call-structure (headers),
https://developers.google.com/google-ads/api/docs/best-practices/understand-api-errors (error model) and
https://developers.google.com/ads/blog/posts/2026/10/announcing-v26-of-google-ads-api (v26, released 2026-10-14;
v26.1 is a minor release on the same endpoint).

Every call sends `Authorization: Bearer <access token>` (scope `https://www.googleapis.com/auth/adwords`),
`developer-token: <token>` and, when the user reaches the account through a manager account, `login-customer-id:
<manager id, digits only>`. `POST /v26/customers/{customer_id}/googleAds:search` with `{"query": "<GAQL>"}` answers
`{"results": [{"campaign": {"resourceName", "id", "name"}, "segments": {"date"}, "metrics": {"impressions",
"clicks", "costMicros", "conversions"}}], "nextPageToken", "fieldMask", "queryResourceConsumption"}`; int64 values
are JSON strings, doubles are numbers. Pages are a fixed 10,000 rows (setting `pageSize` is refused with
PAGE_SIZE_NOT_SUPPORTED since v17); the next page is the same query with `pageToken` = `nextPageToken`, which is
absent on the last page.

Errors are the Google API error model: `{"error": {"code", "message", "status", "details": [{"@type":
"type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure", "errors": [{"errorCode": {...}, "message",
"details": {"quotaErrorDetails": {"rateScope", "rateName", "retryDelay": "30s"}}}], "requestId"}]}}`; 401
UNAUTHENTICATED (bad token or developer token), 403 PERMISSION_DENIED, 429 RESOURCE_EXHAUSTED (quotaError
RESOURCE_EXHAUSTED / RESOURCE_TEMPORARILY_EXHAUSTED, with the wait in `retryDelay`). Google Ads sends no webhooks.
"""

from __future__ import annotations

import math
import re
from datetime import date

from django.core.exceptions import ValidationError

from apps.connectors.base import (
    AuthSpec,
    ConnectionContext,
    Field,
    OAuth2Spec,
    Page,
    Provider,
    Record,
    ResourceSpec,
    credential_host_problem,
    json_object,
)
from apps.connectors.exceptions import BadResponseError, ConfigurationError, NeedsReauthError
from apps.connectors.registry import registry
from apps.connectors.unified import normalised
from bizosaas.digits import ascii_digits

API_VERSION = "v26"
DEFAULT_API_BASE = "https://googleads.googleapis.com"
# GAQL predefined date ranges usable with `segments.date DURING ...`
DATE_RANGES = (
    "TODAY",
    "YESTERDAY",
    "LAST_7_DAYS",
    "LAST_14_DAYS",
    "LAST_30_DAYS",
    "LAST_BUSINESS_WEEK",
    "THIS_MONTH",
    "LAST_MONTH",
    "THIS_WEEK_SUN_TODAY",
    "THIS_WEEK_MON_TODAY",
    "LAST_WEEK_SUN_SAT",
    "LAST_WEEK_MON_SUN",
)
DEFAULT_DATE_RANGE = "LAST_30_DAYS"
CAMPAIGN_METRICS_FIELDS = (
    "campaign.id",
    "campaign.name",
    "segments.date",
    "metrics.impressions",
    "metrics.clicks",
    "metrics.cost_micros",
    "metrics.conversions",
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")  # protobuf Duration in JSON: "30s", "1.5s"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CHECKED_FIELDS = ("customer_id", "login_customer_id", "date_from", "date_to", "api_base_url")


def customer_digits(value) -> str:
    """Google shows customer IDs as 123-456-7890; the API wants the ten digits."""
    return str(value or "").replace("-", "").strip()


def _api_base_problem(url: str) -> str | None:
    """OAuth and developer tokens go only to Google's API host over HTTPS (or a loopback fake in tests)."""
    return credential_host_problem(url, domain="googleapis.com", example="https://googleads.googleapis.com")


def _integer(value) -> int:
    """int64 metrics arrive as strings ("1234"); a missing metric on a returned row is zero."""
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadResponseError(f"Google Ads returned a non-integer metric {value!r}.") from None


def _float(value) -> float:
    if value in (None, ""):
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadResponseError(f"Google Ads returned a non-numeric metric {value!r}.") from None


def _duration_seconds(value) -> float | None:
    match = _DURATION.match(value) if isinstance(value, str) else None
    return float(match.group(1)) if match else None


@registry.register
class GoogleAds(Provider):
    key = "google_ads"
    name = "Google Ads"
    category = "ads"
    description = "Read daily Google Ads campaign metrics: impressions, clicks, cost and conversions."
    logo = "google-ads"
    docs_url = "https://developers.google.com/google-ads/api/rest/common/search"
    auth = AuthSpec(
        "oauth2",
        oauth2=OAuth2Spec(
            authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
            token_url="https://oauth2.googleapis.com/token",
            scopes=("https://www.googleapis.com/auth/adwords",),
            pkce=True,
            token_auth_method="client_secret_post",
            # offline access returns a refresh token; consent makes Google issue one again on re-authorisation
            extra_authorize_params={"access_type": "offline", "prompt": "consent"},
        ),
        description="Connect a Google account with access to the Ads account through a Google Cloud OAuth client, "
        "and paste the developer token from the manager account's API Center.",
    )
    config_fields = (
        Field("customer_id", "Customer ID", max_length=20, help="The Ads account to read, e.g. 123-456-7890"),
        Field(
            "developer_token",
            "Developer token",
            type="secret",
            secret=True,
            max_length=100,
            help="From Tools > API Center in a Google Ads manager account",
        ),
        Field(
            "login_customer_id",
            "Login customer ID",
            required=False,
            max_length=20,
            help="The manager account's ID when access to the customer is through a manager account",
        ),
        Field("client_id", "OAuth client ID", help="A Google Cloud OAuth client (web application)"),
        Field("client_secret", "OAuth client secret", type="secret", secret=True),
        Field(
            "date_range",
            "Date range",
            type="choice",
            required=False,
            default=DEFAULT_DATE_RANGE,
            choices=DATE_RANGES,
            help="Used when no start and end dates are set; relative to the account's time zone",
        ),
        Field("date_from", "Start date", required=False, max_length=10, help="YYYY-MM-DD; set with an end date"),
        Field("date_to", "End date", required=False, max_length=10, help="YYYY-MM-DD, inclusive"),
        Field(
            "api_base_url",
            "API base URL",
            type="url",
            required=False,
            default=DEFAULT_API_BASE,
            help="Leave as https://googleads.googleapis.com",
        ),
    )
    resources = (
        ResourceSpec(
            "campaign_metrics", "ads.campaign_metrics", "Campaign metrics per campaign and day", window="date"
        ),
    )
    actions = ()
    webhook_verification = ""  # Google Ads does not send webhooks

    # --- configuration ----------------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        try:
            config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
            errors: dict[str, list[str]] = {}
        except ValidationError as exc:
            # report the Google-specific problems beside the generic ones, all in one answer
            errors = dict(exc.message_dict)
            secrets = {}
            config = {
                name: value.strip()
                for name, value in (values or {}).items()
                if name in _CHECKED_FIELDS and name not in errors and isinstance(value, str) and value.strip()
            }
        for name in ("customer_id", "login_customer_id"):
            if name in config:
                digits = customer_digits(config[name])
                if not (ascii_digits(digits) and len(digits) == 10):
                    errors[name] = ["Must be a 10-digit Google Ads customer ID, e.g. 123-456-7890."]
                else:
                    config[name] = digits
        parsed = {}
        for name in ("date_from", "date_to"):
            if name in config:
                try:
                    if not _ISO_DATE.match(config[name]):
                        raise ValueError
                    parsed[name] = date.fromisoformat(config[name])
                except ValueError:
                    errors[name] = ["Must be a date as YYYY-MM-DD."]
        if not partial and ("date_from" in config) != ("date_to" in config):
            missing = "date_to" if "date_from" in config else "date_from"
            errors.setdefault(missing, ["Set both a start and an end date, or neither."])
        if len(parsed) == 2 and parsed["date_from"] > parsed["date_to"]:
            errors["date_to"] = ["Must not be before the start date."]
        if "api_base_url" in config and (problem := _api_base_problem(config["api_base_url"].rstrip("/"))):
            errors["api_base_url"] = [problem]
        if errors:
            raise ValidationError(errors)
        return config, secrets

    def base_url(self, config: dict) -> str:
        url = (config.get("api_base_url") or DEFAULT_API_BASE).rstrip("/")
        problem = _api_base_problem(url)
        if problem:
            raise ConfigurationError(f"Google Ads API base URL {url!r} refused: {problem}")
        return f"{url}/{API_VERSION}/"

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        token = credentials.get("access_token")
        if not token:
            raise NeedsReauthError("Google Ads is not connected: authorise the Google account with OAuth.")
        developer_token = credentials.get("developer_token")
        if not developer_token:
            raise ConfigurationError("Google Ads needs the developer token from the manager account's API Center.")
        headers = {"Authorization": f"Bearer {token}", "developer-token": developer_token}
        login = customer_digits(config.get("login_customer_id"))
        if login:
            headers["login-customer-id"] = login
        return headers

    def error_message(self, response) -> str | None:
        """Google's top-level message ("Request contains an invalid argument.") names no reason: the
        GoogleAdsFailure detail does, per error, with its code and the field it is about."""
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        reasons = []
        for detail in error.get("details") or []:
            if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith("errors.GoogleAdsFailure"):
                continue
            for failure in detail.get("errors") or []:
                if not isinstance(failure, dict):
                    continue
                codes = ", ".join(f"{kind}: {value}" for kind, value in (failure.get("errorCode") or {}).items())
                fields = ".".join(
                    str(step.get("fieldName"))
                    for step in ((failure.get("location") or {}).get("fieldPathElements") or [])
                    if isinstance(step, dict) and step.get("fieldName")
                )
                reason = str(failure.get("message") or "").strip()
                reason += f" ({codes})" if codes else ""
                reason += f" at {fields}" if fields else ""
                if reason:
                    reasons.append(reason)
        if not reasons:
            return None
        top = str(error.get("message") or "").strip()
        return "; ".join(reasons)[:600] if not top else f"{top} {'; '.join(reasons)}"[:600]

    def retry_after(self, response) -> float | None:
        """A RESOURCE_EXHAUSTED failure names its wait in `quotaErrorDetails.retryDelay` (or a google.rpc.RetryInfo
        detail); a spent daily operations quota says so with a delay of hours, which the client will not wait."""
        if response.status_code != 429:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        candidates: list[float | None] = []
        for detail in details if isinstance(details, list) else []:
            if not isinstance(detail, dict):
                continue
            candidates.append(_duration_seconds(detail.get("retryDelay")))  # google.rpc.RetryInfo
            for failure in detail.get("errors") or []:
                quota = ((failure or {}).get("details") or {}).get("quotaErrorDetails") or {}
                candidates.append(_duration_seconds(quota.get("retryDelay")))
        delays = [delay for delay in candidates if delay is not None and math.isfinite(delay)]
        return max(delays) if delays else None

    def check(self, ctx: ConnectionContext) -> None:
        """The cheapest authenticated call that proves both the tokens and access to this customer."""
        self._search(ctx, "SELECT customer.id FROM customer LIMIT 1", page_token=None)

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
        """The cursor is Google's `nextPageToken`, sent back verbatim as `pageToken` with the same query. Google
        fixes the page at 10,000 rows and refuses `pageSize`, so `limit` cannot shrink a page. A window replaces
        the configured date range with `segments.date BETWEEN since AND until` (GAQL wants a finite range)."""
        if self.resource(resource) is None:
            raise ConfigurationError(f"Google Ads has no resource {resource!r}.")
        query = self.campaign_metrics_query(ctx.config, since=since, until=until)
        body = self._search(ctx, query, page_token=cursor or None)
        records = []
        for row in body.get("results") or []:
            data = self.normalise_campaign_metrics(row)
            records.append(Record(id=f"{data['campaign_id']}:{data['date']}", data=data, raw=row))
        token = body.get("nextPageToken")
        return Page(records=records, next_cursor=str(token) if token else None)

    @staticmethod
    def date_condition(config: dict, *, since: date | None = None, until: date | None = None) -> str:
        # window bounds are date objects, so their ISO form is safe to put in the query
        if since is not None:
            return f"segments.date BETWEEN '{since.isoformat()}' AND '{(until or date.today()).isoformat()}'"
        if until is not None:
            return f"{GoogleAds.date_condition(config)} AND segments.date <= '{until.isoformat()}'"
        start, end = config.get("date_from"), config.get("date_to")
        if start and end:
            if not (_ISO_DATE.match(str(start)) and _ISO_DATE.match(str(end))):
                raise ConfigurationError("Google Ads start and end dates must be YYYY-MM-DD.")
            return f"segments.date BETWEEN '{start}' AND '{end}'"
        date_range = config.get("date_range") or DEFAULT_DATE_RANGE
        if date_range not in DATE_RANGES:
            raise ConfigurationError(f"Google Ads date range {date_range!r} is not one GAQL knows.")
        return f"segments.date DURING {date_range}"

    @classmethod
    def campaign_metrics_query(cls, config: dict, *, since: date | None = None, until: date | None = None) -> str:
        # GAQL, not SQL: built only from fixed field names, validated ISO dates and a fixed choice of date ranges
        fields = ", ".join(CAMPAIGN_METRICS_FIELDS)
        condition = cls.date_condition(config, since=since, until=until)
        return f"SELECT {fields} FROM campaign WHERE {condition} ORDER BY segments.date, campaign.id"  # noqa: S608

    def _search(self, ctx: ConnectionContext, query: str, *, page_token: str | None) -> dict:
        customer = customer_digits(ctx.config.get("customer_id"))
        if not ascii_digits(customer):
            raise ConfigurationError("Google Ads needs the customer ID of the account to read.")
        payload = {"query": query}
        if page_token:
            payload["pageToken"] = page_token
        body = ctx.http.json(
            "POST",
            f"customers/{customer}/googleAds:search",
            json_body=payload,
            idempotent=True,  # a search only reads: repeating it after a 5xx is safe
        )
        results = body.get("results", []) if isinstance(body, dict) else None
        if not isinstance(results, list) or not all(isinstance(row, dict) for row in results):
            raise BadResponseError("Google Ads returned an unexpected body for the search.")
        return body

    @staticmethod
    def normalise_campaign_metrics(row: dict) -> dict:
        campaign = json_object(row.get("campaign"))
        segments = json_object(row.get("segments"))
        metrics = json_object(row.get("metrics"))
        if campaign.get("id") in (None, "") or not segments.get("date"):
            raise BadResponseError("Google Ads returned a campaign metrics row without a campaign id or date.")
        return normalised(
            "ads.campaign_metrics",
            campaign_id=str(campaign["id"]),
            campaign_name=campaign.get("name"),
            date=segments["date"],
            impressions=_integer(metrics.get("impressions")),
            clicks=_integer(metrics.get("clicks")),
            cost=_integer(metrics.get("costMicros")) / 1_000_000,
            conversions=_float(metrics.get("conversions")),
        )
