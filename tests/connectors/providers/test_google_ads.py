"""Google Ads against a loopback server that follows the REST search contract of API v26."""

import json
import re
import time
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NeedsReauthError,
    ProviderRequestError,
    RateLimitedError,
)
from apps.connectors.registry import registry

ACCESS_TOKEN = "ya29.a0AfB_byC-fake-access-token"
DEVELOPER_TOKEN = "AbCdEfGhIjKlMnOpQrStUv"
CUSTOMER = "1234567890"
MANAGER = "9876543210"
SEARCH = f"/v26/customers/{CUSTOMER}/googleAds:search"
FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"
QUERY = (
    "SELECT campaign.id, campaign.name, segments.date, metrics.impressions, metrics.clicks, metrics.cost_micros, "
    "metrics.conversions FROM campaign WHERE segments.date DURING LAST_30_DAYS ORDER BY segments.date, campaign.id"
)


def row(n: int) -> dict:
    """A search row as REST returns it: int64 values as strings, doubles as numbers, camelCase names."""
    campaign_id = str(1000 + n % 3)
    return {
        "campaign": {
            "resourceName": f"customers/{CUSTOMER}/campaigns/{campaign_id}",
            "id": campaign_id,
            "name": f"Campaign {campaign_id}",
        },
        "segments": {"date": f"2026-10-{1 + n // 3:02d}"},
        "metrics": {
            "impressions": str(100 * n),
            "clicks": str(n),
            "costMicros": str(1_250_000 * n),
            "conversions": n / 2,
        },
    }


def failure(status: int, grpc_status: str, message: str, errors: list[dict], headers=None) -> Response:
    """The Google API error model with a GoogleAdsFailure detail."""
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": grpc_status,
            "details": [{"@type": FAILURE_TYPE, "errors": errors, "requestId": "kTdb0153IUU--9WyGfXMiQ"}],
        }
    }
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def quota_exhausted(retry_delay: str | None) -> Response:
    details = {"quotaErrorDetails": {"rateScope": "DEVELOPER", "rateName": "Number of operations for basic access"}}
    if retry_delay:
        details["quotaErrorDetails"]["retryDelay"] = retry_delay
    return failure(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        [{"errorCode": {"quotaError": "RESOURCE_EXHAUSTED"}, "message": "Too many requests.", "details": details}],
    )


class FakeGoogleAds:
    """googleAds:search v26: Bearer token + developer-token header, optional login-customer-id, a fixed page size
    (10,000 in the real API; small here), `pageToken` / `nextPageToken`, `pageSize` refused."""

    def __init__(self, httpserver, rows: int = 10, page_size: int = 4, login_customer_id: str | None = None):
        self.server = httpserver
        self.rows = [row(n) for n in range(1, rows + 1)]
        self.page_size = page_size
        self.login_customer_id = login_customer_id
        self.tokens: dict[str, tuple[str, int]] = {}  # page token -> (query it belongs to, offset)
        httpserver.expect_request(SEARCH, method="POST").respond_with_handler(self.search)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def bodies(self) -> list[dict]:
        return [json.loads(request.data) for request, _response in self.server.log]

    @staticmethod
    def _in_range(query: str, day: str) -> bool:
        """GAQL date conditions on `segments.date`: BETWEEN 'a' AND 'b' (inclusive) and <= 'b'; DURING ranges are
        relative to today and keep every row here."""
        between = re.search(r"segments\.date BETWEEN '([\d-]+)' AND '([\d-]+)'", query)
        if between and not between.group(1) <= day <= between.group(2):
            return False
        at_most = re.search(r"segments\.date <= '([\d-]+)'", query)
        return not (at_most and day > at_most.group(1))

    def matching(self, query: str) -> list[dict]:
        return [r for r in self.rows if self._in_range(query, r["segments"]["date"])]

    def search(self, request):
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return failure(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential.",
                [{"errorCode": {"authenticationError": "OAUTH_TOKEN_INVALID"}, "message": "Oauth token is invalid."}],
            )
        if request.headers.get("developer-token") != DEVELOPER_TOKEN:
            return failure(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential.",
                [
                    {
                        "errorCode": {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
                        "message": "The developer token is not valid.",
                    }
                ],
            )
        if request.headers.get("login-customer-id") != self.login_customer_id:
            return failure(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                [
                    {
                        "errorCode": {"authorizationError": "USER_PERMISSION_DENIED"},
                        "message": "User doesn't have permission to access customer.",
                    }
                ],
            )
        body = request.get_json()
        if "pageSize" in body:
            return failure(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                [
                    {
                        "errorCode": {"requestError": "PAGE_SIZE_NOT_SUPPORTED"},
                        "message": "Setting the page size is not supported. Search Responses will have fixed page "
                        "size of '10000' rows.",
                    }
                ],
            )
        query, token = body.get("query", ""), body.get("pageToken")
        if query.startswith("SELECT customer.id FROM customer"):
            answer = {"results": [{"customer": {"resourceName": f"customers/{CUSTOMER}", "id": CUSTOMER}}]}
            return Response(json.dumps({**answer, "fieldMask": "customer.id"}), content_type="application/json")
        offset = 0
        if token:
            if self.tokens.get(token, ("", 0))[0] != query:
                return failure(
                    400,
                    "INVALID_ARGUMENT",
                    "Request contains an invalid argument.",
                    [{"errorCode": {"requestError": "INVALID_PAGE_TOKEN"}, "message": "Page token is invalid."}],
                )
            offset = self.tokens[token][1]
        rows = self.matching(query)
        chunk = rows[offset : offset + self.page_size]
        answer = {
            "fieldMask": "campaign.id,campaign.name,segments.date,metrics.impressions,metrics.clicks,"
            "metrics.costMicros,metrics.conversions",
            "queryResourceConsumption": "42",
        }
        if chunk:
            answer["results"] = chunk  # an empty result set has no `results` key at all
        if offset + self.page_size < len(rows):
            following = f"CPii5aS87vfFTBAKGJvk36q-{offset + self.page_size}"
            self.tokens[following] = (query, offset + self.page_size)
            answer["nextPageToken"] = following
        return Response(json.dumps(answer), content_type="application/json")


@pytest.fixture
def google_ads(httpserver):
    return FakeGoogleAds(httpserver)


def context(provider_context, base_url, config=None, **credentials):
    config = {"customer_id": CUSTOMER, "api_base_url": base_url, **(config or {})}
    credentials = credentials or {"access_token": ACCESS_TOKEN, "developer_token": DEVELOPER_TOKEN}
    return provider_context("google_ads", config, credentials)


def read_all(ctx):
    provider, cursor, records, pages = registry.get("google_ads")(), None, [], 0
    while True:
        page = provider.read(ctx, "campaign_metrics", cursor=cursor, limit=100)
        records += page.records
        pages += 1
        assert pages < 50, "the cursor does not advance"
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


# --- reads ----------------------------------------------------------------------------------------------------


def test_reads_campaign_metrics_across_pages_normalised_with_raw(provider_context, google_ads):
    records, pages = read_all(context(provider_context, google_ads.base_url))

    assert pages == 3
    assert len(records) == 10
    assert [r.id for r in records[:4]] == ["1001:2026-10-01", "1002:2026-10-01", "1000:2026-10-02", "1001:2026-10-02"]
    assert records[0].data == {
        "campaign_id": "1001",
        "campaign_name": "Campaign 1001",
        "date": "2026-10-01",
        "impressions": 100,
        "clicks": 1,
        "cost": 1.25,
        "conversions": 0.5,
    }
    assert records[9].data["cost"] == 12.5
    assert records[9].raw == row(10)
    assert google_ads.bodies() == [
        {"query": QUERY},
        {"query": QUERY, "pageToken": "CPii5aS87vfFTBAKGJvk36q-4"},
        {"query": QUERY, "pageToken": "CPii5aS87vfFTBAKGJvk36q-8"},
    ]


def test_sends_the_developer_token_and_dashless_login_customer_id(provider_context, httpserver):
    fake = FakeGoogleAds(httpserver, rows=2, login_customer_id=MANAGER)
    ctx = context(provider_context, fake.base_url, config={"login_customer_id": "987-654-3210"})

    page = registry.get("google_ads")().read(ctx, "campaign_metrics", cursor=None, limit=10)

    sent = httpserver.log[0][0]
    assert (sent.headers["developer-token"], sent.headers["login-customer-id"]) == (DEVELOPER_TOKEN, MANAGER)
    assert sent.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert "pageSize" not in json.loads(sent.data)
    assert [r.id for r in page.records] == ["1001:2026-10-01", "1002:2026-10-01"]
    assert page.next_cursor is None


def test_an_explicit_date_range_is_queried_with_between(provider_context, google_ads):
    ctx = context(provider_context, google_ads.base_url, config={"date_from": "2026-10-01", "date_to": "2026-10-31"})

    registry.get("google_ads")().read(ctx, "campaign_metrics", cursor=None, limit=10)

    assert google_ads.bodies()[0]["query"] == QUERY.replace(
        "DURING LAST_30_DAYS", "BETWEEN '2026-10-01' AND '2026-10-31'"
    )


def test_a_date_window_is_queried_with_between_and_rows_outside_it_do_not_come_back(provider_context, httpserver):
    google_ads = FakeGoogleAds(httpserver, page_size=10)
    ctx = context(provider_context, google_ads.base_url, config={"date_from": "2026-09-01", "date_to": "2026-12-31"})
    provider = registry.get("google_ads")()

    page = provider.read(
        ctx, "campaign_metrics", cursor=None, limit=10, since=date(2026, 10, 2), until=date(2026, 10, 3)
    )

    assert google_ads.bodies()[0]["query"] == QUERY.replace(
        "DURING LAST_30_DAYS", "BETWEEN '2026-10-02' AND '2026-10-03'"
    )
    assert sorted({r.data["date"] for r in page.records}) == ["2026-10-02", "2026-10-03"]
    assert len(page.records) == 6 and page.next_cursor is None  # of ten rows over four days
    assert provider.resource("campaign_metrics").window == "date"


def test_an_empty_result_set_is_an_empty_last_page(provider_context, httpserver):
    fake = FakeGoogleAds(httpserver, rows=0)

    page = registry.get("google_ads")().read(
        context(provider_context, fake.base_url), "campaign_metrics", cursor=None, limit=5
    )

    assert (page.records, page.next_cursor) == ([], None)


def test_check_runs_a_one_row_customer_query(provider_context, google_ads):
    registry.get("google_ads")().check(context(provider_context, google_ads.base_url))

    assert google_ads.bodies() == [{"query": "SELECT customer.id FROM customer LIMIT 1"}]


def test_check_with_a_bad_access_token_is_an_authentication_error_with_the_providers_message(
    provider_context, google_ads
):
    ctx = context(provider_context, google_ads.base_url, access_token="ya29.wrong", developer_token=DEVELOPER_TOKEN)

    with pytest.raises(AuthenticationError) as failure_info:
        registry.get("google_ads")().check(ctx)

    assert failure_info.value.provider_status == 401
    assert "Request had invalid authentication credentials" in failure_info.value.message
    assert "ya29.wrong" not in failure_info.value.message


def test_check_with_a_bad_developer_token_is_an_authentication_error(provider_context, google_ads):
    ctx = context(provider_context, google_ads.base_url, access_token=ACCESS_TOKEN, developer_token="nope")

    with pytest.raises(AuthenticationError) as failure_info:
        registry.get("google_ads")().check(ctx)

    assert failure_info.value.provider_status == 401


def test_without_an_access_token_reauthorisation_is_needed_and_nothing_is_sent(provider_context, google_ads):
    ctx = context(provider_context, google_ads.base_url, developer_token=DEVELOPER_TOKEN, refresh_token="r")

    with pytest.raises(NeedsReauthError):
        registry.get("google_ads")().check(ctx)
    assert google_ads.server.log == []


# --- failures -------------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    fake = FakeGoogleAds(httpserver, rows=2)
    httpserver.clear_all_handlers()
    limited = quota_exhausted(None)
    limited.headers["Retry-After"] = "1"
    httpserver.expect_ordered_request(SEARCH, method="POST").respond_with_response(limited)
    httpserver.expect_ordered_request(SEARCH, method="POST").respond_with_handler(fake.search)

    started = time.monotonic()
    page = registry.get("google_ads")().read(
        context(provider_context, fake.base_url), "campaign_metrics", cursor=None, limit=10
    )

    assert time.monotonic() - started >= 1.0
    assert len(page.records) == 2
    assert len(httpserver.log) == 2


def test_resource_exhausted_waits_the_retry_delay_from_the_failure_details(provider_context, httpserver):
    fake = FakeGoogleAds(httpserver, rows=2)
    httpserver.clear_all_handlers()
    httpserver.expect_ordered_request(SEARCH, method="POST").respond_with_response(quota_exhausted("1s"))
    httpserver.expect_ordered_request(SEARCH, method="POST").respond_with_handler(fake.search)

    started = time.monotonic()
    page = registry.get("google_ads")().read(
        context(provider_context, fake.base_url), "campaign_metrics", cursor=None, limit=10
    )

    assert time.monotonic() - started >= 1.0
    assert len(page.records) == 2


def test_resource_exhausted_with_a_retry_delay_of_hours_is_rate_limited_at_once(provider_context, httpserver):
    httpserver.expect_request(SEARCH, method="POST").respond_with_response(quota_exhausted("86400s"))
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(RateLimitedError) as failure_info:
        registry.get("google_ads")().read(ctx, "campaign_metrics", cursor=None, limit=10)

    assert failure_info.value.retry_after == 86400.0
    assert "Resource has been exhausted" in failure_info.value.message
    assert len(httpserver.log) == 1


def test_5xx_then_success_is_retried_for_reads(provider_context, httpserver):
    fake = FakeGoogleAds(httpserver, rows=3)
    httpserver.clear_all_handlers()
    httpserver.expect_ordered_request(SEARCH, method="POST").respond_with_response(
        failure(
            503,
            "UNAVAILABLE",
            "The service is currently unavailable.",
            [{"errorCode": {"internalError": "TRANSIENT_ERROR"}, "message": "The service is temporarily down."}],
        )
    )
    httpserver.expect_ordered_request(SEARCH, method="POST").respond_with_handler(fake.search)

    page = registry.get("google_ads")().read(
        context(provider_context, fake.base_url), "campaign_metrics", cursor=None, limit=10
    )

    assert [r.id for r in page.records] == ["1001:2026-10-01", "1002:2026-10-01", "1000:2026-10-02"]
    assert len(httpserver.log) == 2


def test_malformed_json_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(SEARCH, method="POST").respond_with_data('{"results": [', content_type="application/json")
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("google_ads")().read(ctx, "campaign_metrics", cursor=None, limit=10)


def test_a_row_without_a_campaign_id_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(SEARCH, method="POST").respond_with_json({"results": [{"metrics": {"clicks": "1"}}]})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="without a campaign id"):
        registry.get("google_ads")().read(ctx, "campaign_metrics", cursor=None, limit=10)


# --- configuration, actions, webhooks --------------------------------------------------------------------------


def test_config_is_validated_field_by_field_and_customer_ids_lose_their_dashes():
    spec = registry.get("google_ads")

    with pytest.raises(ValidationError) as failure_info:
        spec.clean_config(
            {
                "customer_id": "123-45",
                "login_customer_id": "abc",
                "client_id": "x.apps.googleusercontent.com",
                "client_secret": "s",
                "developer_token": DEVELOPER_TOKEN,
                "date_from": "2026-10-31",
                "date_to": "2026-10-01",
                "date_range": "FOREVER",
            }
        )
    assert set(failure_info.value.message_dict) == {"customer_id", "login_customer_id", "date_to", "date_range"}
    with pytest.raises(ValidationError) as missing:
        spec.clean_config({"customer_id": CUSTOMER})
    assert set(missing.value.message_dict) == {"developer_token", "client_id", "client_secret"}

    config, secrets = spec.clean_config(
        {
            "customer_id": "123-456-7890",
            "login_customer_id": "987-654-3210",
            "client_id": "x.apps.googleusercontent.com",
            "client_secret": "GOCSPX-secret",
            "developer_token": DEVELOPER_TOKEN,
        }
    )
    assert config == {
        "customer_id": CUSTOMER,
        "login_customer_id": MANAGER,
        "client_id": "x.apps.googleusercontent.com",
        "date_range": "LAST_30_DAYS",
        "api_base_url": "https://googleads.googleapis.com",
    }
    assert secrets == {"client_secret": "GOCSPX-secret", "developer_token": DEVELOPER_TOKEN}


def test_tokens_are_only_sent_to_googleapis_over_https():
    spec = registry.get("google_ads")
    valid = {"customer_id": CUSTOMER, "client_id": "c", "client_secret": "s", "developer_token": DEVELOPER_TOKEN}

    with pytest.raises(ValidationError) as failure_info:
        spec.clean_config({**valid, "api_base_url": "https://evil.example.com"})
    assert list(failure_info.value.message_dict) == ["api_base_url"]
    with pytest.raises(ValidationError):
        spec.clean_config({**valid, "api_base_url": "http://googleads.googleapis.com"})
    with pytest.raises(ConfigurationError):
        spec().base_url({"api_base_url": "https://googleads.googleapis.com.evil.example"})
    assert spec().base_url({}) == "https://googleads.googleapis.com/v26/"
    assert spec().base_url({"api_base_url": "http://127.0.0.1:8000"}) == "http://127.0.0.1:8000/v26/"


def test_describes_oauth_with_offline_access_and_no_actions_or_webhooks():
    spec = registry.get("google_ads")
    described = spec.describe()

    assert described["auth_type"] == "oauth2"
    assert described["oauth_scopes"] == ["https://www.googleapis.com/auth/adwords"]
    assert spec.auth.oauth2.extra_authorize_params == {"access_type": "offline", "prompt": "consent"}
    assert spec.auth.oauth2.pkce is True
    assert {f["name"] for f in described["config_schema"] if f["secret"]} == {"developer_token", "client_secret"}
    assert described["resources"] == [
        {
            "name": "campaign_metrics",
            "model": "ads.campaign_metrics",
            "description": "Campaign metrics per campaign and day",
            "window": "date",
        }
    ]
    assert (described["actions"], described["webhooks"]) == ([], None)
    assert spec.action("anything") is None


def test_webhooks_are_refused_because_google_ads_sends_none():
    with pytest.raises(WebhookVerificationError):
        registry.get("google_ads")().verify_webhook(
            method="POST", url="https://hooks.example.com/google_ads", headers={}, body=b"{}", secret="s"
        )


def test_an_invalid_query_names_googles_reason_and_field_not_only_invalid_argument(provider_context, httpserver):
    httpserver.expect_request(SEARCH, method="POST").respond_with_response(
        failure(
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
            [
                {
                    "errorCode": {"queryError": "UNRECOGNIZED_FIELD"},
                    "message": "Unrecognized field in the query: 'metrics.conversionz'.",
                    "location": {"fieldPathElements": [{"fieldName": "query"}]},
                }
            ],
        )
    )

    with pytest.raises(ProviderRequestError) as failed:
        registry.get("google_ads")().read(
            context(provider_context, httpserver.url_for("/").rstrip("/")), "campaign_metrics", cursor=None, limit=10
        )

    assert failed.value.message == (
        "Google Ads refused the request: Request contains an invalid argument. Unrecognized field in the query: "
        "'metrics.conversionz'. (queryError: UNRECOGNIZED_FIELD) at query"
    )
