"""Google Analytics 4 against a loopback server that follows the Data API v1beta and Google's OAuth token contract."""

import json
import re
import time
from datetime import date
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ValidationError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    NeedsReauthError,
    ProviderRequestError,
    ProviderUnavailableError,
    RateLimitedError,
)
from apps.connectors.registry import registry

PROPERTY_ID = "123456789"
ACCESS_TOKEN = "ya29.a0AfB_byC-test-oauth-access-token"
SA_ACCESS_TOKEN = "ya29.c.b0Aaekm1K-test-service-account-token"
SA_EMAIL = "reporter@bizosaas-test.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
REPORT = f"/v1beta/properties/{PROPERTY_ID}:runReport"
METADATA = f"/v1beta/properties/{PROPERTY_ID}/metadata"
CHANNELS = ("Organic Search", "Direct", "Paid Search", "Referral", "Email")
DEFAULT_REQUEST = {
    "dimensions": [{"name": "date"}, {"name": "sessionDefaultChannelGroup"}],
    "metrics": [{"name": "sessions"}, {"name": "activeUsers"}, {"name": "keyEvents"}],
    "dateRanges": [{"startDate": "28daysAgo", "endDate": "yesterday"}],
    "returnPropertyQuota": True,
}
# the Data API's current names: `conversions` was renamed `keyEvents` and is refused as not a valid metric
METRIC_TYPES = {"sessions": "TYPE_INTEGER", "activeUsers": "TYPE_INTEGER", "keyEvents": "TYPE_FLOAT"}
UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential.",
        "status": "UNAUTHENTICATED",
    }
}


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


SA_PRIVATE_KEY = rsa_pem()
OTHER_PRIVATE_KEY = rsa_pem()


def row(n: int) -> dict:
    """Row n as runReport returns it: values are strings in header order."""
    return {
        "dimensionValues": [{"value": f"202611{n // 5 + 1:02d}"}, {"value": CHANNELS[n % 5]}],
        "metricValues": [{"value": str(100 + n)}, {"value": str(80 + n)}, {"value": f"{n}.5"}],
    }


def quota(tokens_per_hour_remaining: int = 39_990, tokens_per_day_remaining: int = 199_990) -> dict:
    return {
        "tokensPerDay": {"consumed": 10, "remaining": tokens_per_day_remaining},
        "tokensPerHour": {"consumed": 10, "remaining": tokens_per_hour_remaining},
        "concurrentRequests": {"consumed": 0, "remaining": 10},
        "serverErrorsPerProjectPerHour": {"consumed": 0, "remaining": 10},
        "potentiallyThresholdedRequestsPerHour": {"consumed": 0, "remaining": 120},
        "tokensPerProjectPerHour": {"consumed": 10, "remaining": 13_990},
    }


def google_error(code: int, status: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message, "status": status}}
    return Response(json.dumps(body), status=code, content_type="application/json; charset=UTF-8")


def as_json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=UTF-8")


class FakeGoogleAnalytics:
    """Data API v1beta runReport/getMetadata with Bearer tokens, limit/offset paging with rowCount and
    propertyQuota; plus Google's token endpoint for the RFC 7523 JWT bearer grant of a service account."""

    def __init__(self, httpserver, rows: int = 25, quota_body: dict | None = None):
        self.server = httpserver
        self.rows = [row(n) for n in range(rows)]
        self.quota = quota_body or quota()
        self.report_requests: list[dict] = []
        self.assertions: list[dict] = []
        self.public_key = RSAKey.import_key(SA_PRIVATE_KEY)
        httpserver.expect_request(REPORT, method="POST").respond_with_handler(self.run_report)
        httpserver.expect_request(METADATA, method="GET").respond_with_handler(self.metadata)
        httpserver.expect_request("/token", method="POST").respond_with_handler(self.token)

    @property
    def api_base(self) -> str:
        return self.server.url_for("/").rstrip("/")

    @property
    def token_uri(self) -> str:
        return self.server.url_for("/token")

    def service_account_json(self, private_key: str = SA_PRIVATE_KEY) -> str:
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "bizosaas-test",
                "private_key_id": "1f2e3d4c5b6a",
                "private_key": private_key,
                "client_email": SA_EMAIL,
                "client_id": "104857600000000000000",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": self.token_uri,
            }
        )

    def token(self, request):
        form = parse_qs(request.get_data(as_text=True))
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"] or "assertion" not in form:
            return as_json({"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "}, 400)
        try:
            token = jwt.decode(form["assertion"][0], self.public_key, algorithms=["RS256"])
        except (JoseError, ValueError):
            return as_json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)
        claims = token.claims
        self.assertions.append({"header": dict(token.header), "claims": dict(claims)})
        valid = (
            claims.get("iss") == SA_EMAIL
            and claims.get("aud") == self.token_uri
            and claims.get("scope") == SCOPE
            and 0 < claims["exp"] - claims["iat"] <= 3600
            and abs(claims["iat"] - time.time()) < 300
        )
        if not valid:
            return as_json({"error": "invalid_grant", "error_description": "Invalid JWT: claims are wrong."}, 400)
        return as_json({"access_token": SA_ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"})

    def _unauthenticated(self, request):
        if request.headers.get("Authorization") not in (f"Bearer {ACCESS_TOKEN}", f"Bearer {SA_ACCESS_TOKEN}"):
            return google_error(401, "UNAUTHENTICATED", UNAUTHENTICATED["error"]["message"])
        return None

    def metadata(self, request):
        return self._unauthenticated(request) or as_json(
            {
                "name": f"properties/{PROPERTY_ID}/metadata",
                "dimensions": [{"apiName": "date", "uiName": "Date", "category": "Time"}],
                "metrics": [{"apiName": "sessions", "uiName": "Sessions", "type": "TYPE_INTEGER"}],
            }
        )

    def run_report(self, request):
        denied = self._unauthenticated(request)
        if denied:
            return denied
        body = request.get_json()
        self.report_requests.append(body)
        metric_names = [m["name"] for m in body.get("metrics", [])]
        unknown = [name for name in metric_names if name not in METRIC_TYPES]
        if unknown:
            return google_error(
                400, "INVALID_ARGUMENT", f"Field {unknown[0]} is not a valid metric. For a list of valid metrics, ..."
            )
        limit, offset = int(body.get("limit", 10_000)), int(body.get("offset", 0))
        if not 0 < limit <= 250_000:
            return google_error(400, "INVALID_ARGUMENT", "limit must be positive and at most 250000.")
        rows = self.rows
        (period,) = body.get("dateRanges") or [{}]
        if body["dimensions"][:1] == [{"name": "date"}] and all(
            re.fullmatch(r"\d{4}-\d{2}-\d{2}", period.get(end, "")) for end in ("startDate", "endDate")
        ):  # explicit days (inclusive): only rows whose date dimension (YYYYMMDD) falls in them
            start, end = (period[end].replace("-", "") for end in ("startDate", "endDate"))
            rows = [r for r in rows if start <= r["dimensionValues"][0]["value"] <= end]
        chunk = rows[offset : offset + limit]
        answer = {
            "dimensionHeaders": [{"name": d["name"]} for d in body["dimensions"]],
            "metricHeaders": [{"name": name, "type": METRIC_TYPES[name]} for name in metric_names],
            "rowCount": len(rows),
            "metadata": {"currencyCode": "EUR", "timeZone": "Europe/Amsterdam"},
            "kind": "analyticsData#runReport",
        }
        if chunk:  # proto3 JSON leaves an empty list out
            answer["rows"] = chunk
        if body.get("returnPropertyQuota"):
            answer["propertyQuota"] = self.quota
        return as_json(answer)


@pytest.fixture
def analytics(httpserver):
    return FakeGoogleAnalytics(httpserver)


def oauth_context(provider_context, api_base, token=ACCESS_TOKEN, **config):
    return provider_context(
        "google_analytics",
        {"property_id": PROPERTY_ID, "api_base_url": api_base, **config},
        {"access_token": token, "refresh_token": "1//0g-refresh", "expires_at": time.time() + 3000},
    )


def service_account_context(provider_context, fake, private_key=SA_PRIVATE_KEY):
    return provider_context(
        "google_analytics",
        {"property_id": PROPERTY_ID, "api_base_url": fake.api_base},
        {"service_account_json": fake.service_account_json(private_key)},
    )


def read_all(ctx, limit=10):
    provider, cursor, records, cursors = registry.get("google_analytics")(), None, [], []
    while True:
        page = provider.read(ctx, "report", cursor=cursor, limit=limit)
        records += page.records
        cursors.append(page.next_cursor)
        if not page.next_cursor:
            return records, cursors
        cursor = page.next_cursor


def test_reads_every_row_across_pages_normalised_with_raw(provider_context, analytics):
    records, cursors = read_all(oauth_context(provider_context, analytics.api_base), limit=10)

    assert cursors == ["10", "20", None]
    assert [(r["limit"], r["offset"]) for r in analytics.report_requests] == [("10", "0"), ("10", "10"), ("10", "20")]
    assert all({k: v for k, v in r.items() if k not in ("limit", "offset")} == DEFAULT_REQUEST
               for r in analytics.report_requests)  # fmt: skip
    assert len(records) == 25
    assert records[7].id == "20261102|Paid Search"
    assert records[7].data == {
        "dimensions": {"date": "20261102", "sessionDefaultChannelGroup": "Paid Search"},
        "metrics": {"sessions": 107, "activeUsers": 87, "keyEvents": 7.5},
    }
    assert records[7].raw == row(7)
    assert [type(v) for v in records[7].data["metrics"].values()] == [int, int, float]  # by metricHeaders type
    assert len({r.id for r in records}) == 25


def test_configured_dimensions_metrics_and_dates_are_sent(provider_context, analytics):
    ctx = oauth_context(
        provider_context,
        analytics.api_base,
        dimensions="date",
        metrics="sessions",
        start_date="2026-10-01",
        end_date="2026-10-31",
    )
    analytics.rows = [{"dimensionValues": [{"value": "20261001"}], "metricValues": [{"value": "42"}]}]

    page = registry.get("google_analytics")().read(ctx, "report", cursor=None, limit=100)

    assert analytics.report_requests == [
        {
            "dimensions": [{"name": "date"}],
            "metrics": [{"name": "sessions"}],
            "dateRanges": [{"startDate": "2026-10-01", "endDate": "2026-10-31"}],
            "limit": "100",
            "offset": "0",
            "returnPropertyQuota": True,
        }
    ]
    assert [(r.id, r.data) for r in page.records] == [
        ("20261001", {"dimensions": {"date": "20261001"}, "metrics": {"sessions": 42}})
    ]
    assert page.next_cursor is None


def test_a_date_window_sets_the_date_range_and_rows_outside_it_do_not_come_back(provider_context, analytics):
    ctx = oauth_context(provider_context, analytics.api_base, start_date="2026-10-01", end_date="2026-12-31")

    page = registry.get("google_analytics")().read(
        ctx, "report", cursor=None, limit=100, since=date(2026, 11, 2), until=date(2026, 11, 3)
    )

    assert analytics.report_requests[0]["dateRanges"] == [{"startDate": "2026-11-02", "endDate": "2026-11-03"}]
    assert sorted({r.data["dimensions"]["date"] for r in page.records}) == ["20261102", "20261103"]
    assert len(page.records) == 10 and page.next_cursor is None  # of 25 rows over five days


def test_empty_report_has_no_rows_and_no_next_page(provider_context, httpserver):
    fake = FakeGoogleAnalytics(httpserver, rows=0)

    page = registry.get("google_analytics")().read(
        oauth_context(provider_context, fake.api_base), "report", cursor=None, limit=10
    )

    assert (page.records, page.next_cursor) == ([], None)


def test_service_account_token_is_obtained_by_jwt_bearer_grant_once_and_cached(provider_context, analytics):
    ctx = service_account_context(provider_context, analytics)

    records, _cursors = read_all(ctx, limit=10)

    assert len(records) == 25
    assert len(analytics.assertions) == 1  # one token for the three report pages
    claims, header = analytics.assertions[0]["claims"], analytics.assertions[0]["header"]
    assert (claims["iss"], claims["aud"], claims["scope"]) == (SA_EMAIL, analytics.token_uri, SCOPE)
    assert claims["exp"] - claims["iat"] == 3600
    assert (header["alg"], header["kid"]) == ("RS256", "1f2e3d4c5b6a")
    report_auth = [e[0].headers.get("Authorization") for e in httpserver_log(analytics) if ":runReport" in e[0].path]
    assert report_auth == [f"Bearer {SA_ACCESS_TOKEN}"] * 3
    token_auth = [e[0].headers.get("Authorization") for e in httpserver_log(analytics) if e[0].path == "/token"]
    assert token_auth == [None]  # no bearer token is sent to the token endpoint


def httpserver_log(fake):
    return fake.server.log


def test_service_account_with_a_key_google_does_not_know_is_an_authentication_error(provider_context, analytics):
    ctx = service_account_context(provider_context, analytics, private_key=OTHER_PRIVATE_KEY)

    with pytest.raises(AuthenticationError) as failure:
        registry.get("google_analytics")().check(ctx)

    assert "Invalid JWT Signature." in failure.value.message
    assert not any(":runReport" in e[0].path or "metadata" in e[0].path for e in analytics.server.log)


def test_check_passes_with_a_valid_token(provider_context, analytics):
    registry.get("google_analytics")().check(oauth_context(provider_context, analytics.api_base))

    assert [(e[0].method, e[0].path) for e in analytics.server.log] == [("GET", METADATA)]


def test_check_with_bad_credentials_is_an_authentication_error_with_googles_message(provider_context, analytics):
    with pytest.raises(AuthenticationError) as failure:
        registry.get("google_analytics")().check(oauth_context(provider_context, analytics.api_base, token="expired"))

    assert "Request had invalid authentication credentials" in failure.value.message
    assert failure.value.provider_status == 401
    assert "expired" not in failure.value.message


def test_without_any_token_the_connection_needs_reauthorisation(provider_context, analytics):
    ctx = provider_context("google_analytics", {"property_id": PROPERTY_ID, "api_base_url": analytics.api_base}, {})

    with pytest.raises(NeedsReauthError):
        registry.get("google_analytics")().read(ctx, "report", cursor=None, limit=10)


def test_unknown_metric_is_refused_with_googles_message(provider_context, analytics):
    ctx = oauth_context(provider_context, analytics.api_base, metrics="sessions,bounceRatez")

    with pytest.raises(ProviderRequestError, match="bounceRatez is not a valid metric") as failure:
        registry.get("google_analytics")().read(ctx, "report", cursor=None, limit=10)

    assert failure.value.provider_status == 400


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request(REPORT, method="POST").respond_with_response(
        Response(
            json.dumps(
                {"error": {"code": 429, "message": "Too many concurrent requests.", "status": "RESOURCE_EXHAUSTED"}}
            ),
            status=429,
            headers={"Retry-After": "1"},
            content_type="application/json",
        )
    )
    fake = FakeGoogleAnalytics(httpserver, rows=3)

    started = time.monotonic()
    page = registry.get("google_analytics")().read(
        oauth_context(provider_context, fake.api_base), "report", cursor=None, limit=10
    )

    assert time.monotonic() - started >= 1.0
    assert [r.raw for r in page.records] == [row(0), row(1), row(2)]
    assert len(httpserver.log) == 2


def test_429_for_spent_property_tokens_is_not_retried(provider_context, httpserver):
    httpserver.expect_request(REPORT, method="POST").respond_with_response(
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Exhausted property tokens per day for a property. These quota tokens will return in under 24 hours.",
        )
    )

    with pytest.raises(RateLimitedError, match="Exhausted property tokens per day") as failure:
        registry.get("google_analytics")().read(
            oauth_context(provider_context, httpserver.url_for("/").rstrip("/")), "report", cursor=None, limit=10
        )

    assert len(httpserver.log) == 1
    assert failure.value.retry_after == float("inf")


def test_spent_hourly_tokens_in_the_returned_quota_stop_the_read_as_rate_limited(provider_context, httpserver):
    fake = FakeGoogleAnalytics(httpserver, rows=25, quota_body=quota(tokens_per_hour_remaining=0))
    ctx = oauth_context(provider_context, fake.api_base)

    with pytest.raises(RateLimitedError, match="tokens per hour") as failure:
        registry.get("google_analytics")().read(ctx, "report", cursor=None, limit=10)

    assert 0 < failure.value.retry_after <= 3600
    assert len(fake.report_requests) == 1
    last = registry.get("google_analytics")().read(ctx, "report", cursor="20", limit=10)
    assert (len(last.records), last.next_cursor) == (5, None)  # the final page needs no further quota


def test_5xx_then_success_is_retried_for_reads(provider_context, httpserver):
    httpserver.expect_ordered_request(REPORT, method="POST").respond_with_response(
        google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
    )
    fake = FakeGoogleAnalytics(httpserver, rows=2)

    page = registry.get("google_analytics")().read(
        oauth_context(provider_context, fake.api_base), "report", cursor=None, limit=10
    )

    assert [r.id for r in page.records] == ["20261101|Organic Search", "20261101|Direct"]
    assert len(httpserver.log) == 2


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request(REPORT, method="POST").respond_with_response(
        google_error(500, "INTERNAL", "Internal error encountered.")
    )

    with pytest.raises(ProviderUnavailableError):
        registry.get("google_analytics")().read(
            oauth_context(provider_context, httpserver.url_for("/").rstrip("/")), "report", cursor=None, limit=10
        )
    assert len(httpserver.log) == 4  # the first try and three retries


def test_malformed_json_is_a_clear_error(provider_context, httpserver):
    httpserver.expect_request(REPORT, method="POST").respond_with_data("{not json", content_type="application/json")

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("google_analytics")().read(
            oauth_context(provider_context, httpserver.url_for("/").rstrip("/")), "report", cursor=None, limit=10
        )


def test_row_that_does_not_match_the_headers_is_a_bad_response(provider_context, httpserver):
    fake = FakeGoogleAnalytics(httpserver, rows=1)
    fake.rows = [{"dimensionValues": [{"value": "20261101"}], "metricValues": [{"value": "1"}]}]

    with pytest.raises(BadResponseError, match="does not match its headers"):
        registry.get("google_analytics")().read(
            oauth_context(provider_context, fake.api_base), "report", cursor=None, limit=10
        )


def test_the_data_api_sends_no_webhooks_so_none_verify():
    provider = registry.get("google_analytics")()

    assert provider.webhook_verification == ""
    assert provider.describe()["webhooks"] is None
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(method="POST", url="/", headers={}, body=b"{}", secret="s")


def test_declares_oauth_with_offline_access_and_no_actions():
    spec = registry.get("google_analytics")

    assert spec.auth.oauth2.scopes == (SCOPE,)
    assert spec.auth.oauth2.authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert spec.auth.oauth2.token_url == "https://oauth2.googleapis.com/token"
    assert spec.auth.oauth2.extra_authorize_params["access_type"] == "offline"
    assert spec.actions == ()
    assert spec.action("run_report") is None
    assert [(r.name, r.model) for r in spec.resources] == [("report", "analytics.report_row")]
    assert {f.name for f in spec.config_fields if f.secret} == {"service_account_json", "client_secret"}


def test_config_is_validated_field_by_field():
    spec = registry.get("google_analytics")

    with pytest.raises(ValidationError) as failure:
        spec.clean_config(
            {
                "property_id": "G-ABC123",
                "service_account_json": '{"type": "authorized_user"}',
                "metrics": "sessions,not a metric",
                "dimensions": ",".join(f"d{n}" for n in range(10)),
                "start_date": "last month",
                "api_base_url": "http://analyticsdata.example.com",
            }
        )

    errors = failure.value.message_dict
    assert errors["property_id"] == ["Digits only, e.g. 123456789."]
    assert errors["service_account_json"] == ['Not a service account key file (its "type" must be "service_account").']
    assert errors["metrics"] == ["Not a Google Analytics API name: not a metric."]
    assert errors["dimensions"] == ["At most 9 dimensions per report."]
    assert errors["start_date"] == ["YYYY-MM-DD, today, yesterday or NdaysAgo."]
    assert errors["api_base_url"] == [
        "Must be an https:// address on googleapis.com, e.g. https://analyticsdata.googleapis.com."
    ]


def test_config_needs_a_service_account_or_oauth_client():
    with pytest.raises(ValidationError) as failure:
        registry.get("google_analytics").clean_config({"property_id": PROPERTY_ID})

    assert failure.value.message_dict == {
        "service_account_json": [
            "Paste a service account key, or set a client ID and client secret to connect with OAuth."
        ]
    }


def test_service_account_token_uri_must_be_googles():
    key = {"type": "service_account", "client_email": SA_EMAIL, "private_key": SA_PRIVATE_KEY}

    with pytest.raises(ValidationError) as failure:
        registry.get("google_analytics").clean_config(
            {
                "property_id": PROPERTY_ID,
                "service_account_json": json.dumps({**key, "token_uri": "https://evil.example/t"}),
            }
        )

    assert failure.value.message_dict["service_account_json"] == [
        "token_uri must be Google's token endpoint (https://oauth2.googleapis.com/token)."
    ]
    config, secrets = registry.get("google_analytics").clean_config(
        {"property_id": "properties/42", "service_account_json": json.dumps(key)}
    )
    assert config == {
        "property_id": "42",
        "dimensions": "date,sessionDefaultChannelGroup",
        "metrics": "sessions,activeUsers,keyEvents",
        "start_date": "28daysAgo",
        "end_date": "yesterday",
        "api_base_url": "https://analyticsdata.googleapis.com",
    }
    assert set(secrets) == {"service_account_json"}


def test_a_connection_saved_with_the_old_conversions_metric_asks_for_key_events(provider_context, analytics):
    ctx = oauth_context(provider_context, analytics.api_base, metrics="sessions,activeUsers,conversions")

    page = registry.get("google_analytics")().read(ctx, "report", cursor=None, limit=10)

    assert analytics.report_requests[-1]["metrics"] == DEFAULT_REQUEST["metrics"]
    assert page.records[0].data["metrics"] == {"sessions": 100, "activeUsers": 80, "keyEvents": 0.5}
