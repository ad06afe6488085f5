"""Facebook Ads against a loopback server that follows the Graph API v26.0 Marketing API (Ads Insights) contract."""

import base64
import hashlib
import hmac
import json
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
    ProviderUnavailableError,
    RateLimitedError,
)
from apps.connectors.registry import registry

ACCESS_TOKEN = "EAAGm0PX4ZCpsBAKZBQZCxZC7xs1ZBZAb3nLZBZC8Ty0ZBZBRsysTEmUSERtoken"
APP_SECRET = "3c9f2b7e51d04a6f8e2c1b0a9d8e7f60"
ACCOUNT = "1234567890"
API = f"/v26.0/act_{ACCOUNT}"
FIELDS = "campaign_id,campaign_name,impressions,clicks,spend,actions"
BUC = {ACCOUNT: [{"type": "ads_insights", "call_count": 3, "total_cputime": 2, "total_time": 2}]}
USAGE_HEADERS = {
    "X-Business-Use-Case-Usage": json.dumps({ACCOUNT: [{**BUC[ACCOUNT][0], "estimated_time_to_regain_access": 0}]}),
    "X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": 9.67, "reset_time_duration": 0}),
    "X-App-Usage": json.dumps({"call_count": 1, "total_cputime": 1, "total_time": 1}),
}


def proof(token: str = ACCESS_TOKEN, secret: str = APP_SECRET) -> str:
    """As Meta documents appsecret_proof: hex HMAC-SHA256 of the access token keyed with the app secret."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def row(n: int) -> dict:
    """One insights row at level=campaign with time_increment=1: metrics are strings, `actions` absent if none."""
    campaign = 23850000000000 + n // 3
    day = f"2026-07-{n % 3 + 1:02d}"
    item = {
        "campaign_id": str(campaign),
        "campaign_name": f"Summer sale {n // 3}",
        "impressions": str(1000 * n + 7),
        "clicks": str(10 * n + 1),
        "spend": f"{n * 12}.5{n % 10}",
        "date_start": day,
        "date_stop": day,
    }
    if n % 2:
        item["actions"] = [
            {"action_type": "link_click", "value": str(10 * n)},
            {"action_type": "purchase", "value": str(n)},
            {"action_type": "lead", "value": "2"},
        ]
    return item


def graph_error(status: int, message: str, code: int, kind: str = "OAuthException", **extra) -> Response:
    """Graph API error body: {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}."""
    body = {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfGhIjK", **extra}}
    return Response(json.dumps(body), status=status, content_type="application/json", headers=USAGE_HEADERS)


def cursor_for(index: int) -> str:
    """Meta's cursors are opaque; this fake's are base64 of the next offset, to prove they pass verbatim."""
    return base64.urlsafe_b64encode(f"offset:{index}".encode()).decode()


class FakeGraph:
    """Graph API v26.0: Bearer token (and appsecret_proof when the app requires it), /act_{id} and
    /act_{id}/insights with `limit` + `after` cursors, `paging.cursors` and `paging.next` except on the last page."""

    def __init__(self, httpserver, rows: int = 12, require_proof: bool = False, auth_status: int = 401):
        self.server = httpserver
        self.rows = [row(n) for n in range(rows)]
        self.require_proof = require_proof
        self.auth_status = auth_status
        httpserver.expect_request(API, method="GET").respond_with_handler(self.account)
        httpserver.expect_request(f"{API}/insights", method="GET").respond_with_handler(self.insights)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def requests_to(self, path: str) -> list:
        return [request for request, _response in self.server.log if request.path == path]

    def _unauthorised(self, request):
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return graph_error(self.auth_status, "Invalid OAuth access token - Cannot parse access token", 190)
        if self.require_proof and request.args.get("appsecret_proof") != proof():
            return graph_error(400, "Invalid appsecret_proof provided in the API argument", 100, "GraphMethodException")
        return None

    def account(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = {"id": f"act_{ACCOUNT}", "name": "Acme Ads", "account_status": 1}
        return Response(json.dumps(body), content_type="application/json", headers=USAGE_HEADERS)

    def insights(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        try:
            limit = int(request.args.get("limit", 25))
            after = request.args.get("after")
            offset = int(base64.urlsafe_b64decode(after).decode().split(":")[1]) if after else 0
        except (ValueError, IndexError):
            return graph_error(400, "(#100) Invalid parameter", 100, "GraphMethodException")
        rows = self.rows
        if request.args.get("time_range"):  # {"since","until"}, both days inclusive, on date_start
            window = json.loads(request.args["time_range"])
            rows = [r for r in rows if window["since"] <= r["date_start"] <= window["until"]]
        chunk = rows[offset : offset + limit]
        body = {
            "data": chunk,
            "paging": {"cursors": {"before": cursor_for(offset), "after": cursor_for(offset + limit)}},
        }
        if offset + limit < len(rows):
            body["paging"]["next"] = (
                self.server.url_for(f"{API}/insights") + f"?limit={limit}&after={cursor_for(offset + limit)}"
            )
        return Response(json.dumps(body), content_type="application/json", headers=USAGE_HEADERS)


@pytest.fixture
def graph(httpserver):
    return FakeGraph(httpserver)


def context(provider_context, base_url, config=None, **credentials):
    credentials = credentials or {"access_token": ACCESS_TOKEN}
    return provider_context(
        "facebook_ads", {"api_base_url": base_url, "ad_account_id": ACCOUNT, **(config or {})}, credentials
    )


def read_all(ctx, limit=5):
    provider, cursor, records, pages = registry.get("facebook_ads")(), None, [], 0
    while True:
        page = provider.read(ctx, "insights", cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        assert pages < 50, "the cursor does not advance"
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


# --- reads ----------------------------------------------------------------------------------------------------


def test_reads_daily_campaign_metrics_across_pages_normalised_with_raw(provider_context, graph):
    records, pages = read_all(context(provider_context, graph.base_url), limit=5)

    assert pages == 3
    assert len(records) == 12
    assert records[1].id == "23850000000000:2026-07-02"
    assert records[1].data == {
        "campaign_id": "23850000000000",
        "campaign_name": "Summer sale 0",
        "date": "2026-07-02",
        "impressions": 1007,
        "clicks": 11,
        "cost": "12.51",
        "conversions": 3,  # purchase 1 + lead 2; link_click is not a conversion
    }
    assert records[0].data["conversions"] == 0  # no `actions` key at all
    assert records[0].raw == row(0)
    assert records[11].raw == row(11)
    sent = graph.requests_to(f"{API}/insights")
    base = {"level": "campaign", "fields": FIELDS, "time_increment": "1", "limit": "5", "date_preset": "last_30d"}
    assert [dict(r.args) for r in sent] == [
        base,
        {**base, "after": cursor_for(5)},
        {**base, "after": cursor_for(10)},
    ]
    assert all(r.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}" for r in sent)
    assert all("access_token" not in r.args and "appsecret_proof" not in r.args for r in sent)


def test_a_time_range_and_custom_conversion_types_are_sent_and_applied(provider_context, graph):
    config = {"since": "2026-07-01", "until": "2026-07-03", "conversion_action_types": "link_click"}
    page = registry.get("facebook_ads")().read(
        context(provider_context, graph.base_url, config), "insights", cursor=None, limit=2
    )

    args = graph.requests_to(f"{API}/insights")[0].args
    assert args["time_range"] == '{"since":"2026-07-01","until":"2026-07-03"}'
    assert "date_preset" not in args
    assert [r.data["conversions"] for r in page.records] == [0, 10]
    assert page.next_cursor == cursor_for(2)


def test_a_date_window_is_sent_as_time_range_and_rows_outside_it_do_not_come_back(provider_context, graph):
    config = {"since": "2026-06-01", "until": "2026-07-31"}  # the configured period gives way to the window
    page = registry.get("facebook_ads")().read(
        context(provider_context, graph.base_url, config),
        "insights",
        cursor=None,
        limit=25,
        since=date(2026, 7, 2),
        until=date(2026, 7, 3),
    )

    args = graph.requests_to(f"{API}/insights")[0].args
    assert args["time_range"] == '{"since":"2026-07-02","until":"2026-07-03"}'
    assert "date_preset" not in args
    assert sorted({r.data["date"] for r in page.records}) == ["2026-07-02", "2026-07-03"]
    assert len(page.records) == 8 and page.next_cursor is None  # of 12 rows over three days


def test_appsecret_proof_is_sent_with_every_call_when_the_app_secret_is_set(provider_context, httpserver):
    fake = FakeGraph(httpserver, rows=4, require_proof=True)
    ctx = context(provider_context, fake.base_url, access_token=ACCESS_TOKEN, app_secret=APP_SECRET)

    registry.get("facebook_ads")().check(ctx)
    records, pages = read_all(ctx, limit=3)

    assert (len(records), pages) == (4, 2)
    assert [r.args["appsecret_proof"] for r, _ in httpserver.log] == [proof()] * 3


def test_the_last_page_has_no_cursor_even_though_meta_sends_cursors(provider_context, httpserver):
    fake = FakeGraph(httpserver, rows=3)

    page = registry.get("facebook_ads")().read(
        context(provider_context, fake.base_url), "insights", cursor=None, limit=10
    )

    assert len(page.records) == 3
    assert page.next_cursor is None


def test_page_size_is_capped(provider_context, graph):
    registry.get("facebook_ads")().read(context(provider_context, graph.base_url), "insights", cursor=None, limit=9999)

    assert graph.requests_to(f"{API}/insights")[0].args["limit"] == "500"


# --- check and credentials ------------------------------------------------------------------------------------


def test_check_calls_the_ad_account(provider_context, graph):
    registry.get("facebook_ads")().check(context(provider_context, graph.base_url))

    (request,) = graph.requests_to(API)
    assert dict(request.args) == {"fields": "id,name,account_status"}


def test_check_with_a_wrong_token_is_an_authentication_error_with_the_providers_message(provider_context, graph):
    with pytest.raises(AuthenticationError) as failure:
        registry.get("facebook_ads")().check(context(provider_context, graph.base_url, access_token="EAAwrong"))

    assert "Invalid OAuth access token - Cannot parse access token" in failure.value.message
    assert failure.value.provider_status == 401
    assert "EAAwrong" not in failure.value.message


def test_a_code_190_error_sent_as_http_400_is_still_an_authentication_error(provider_context, httpserver):
    fake = FakeGraph(httpserver, auth_status=400)

    with pytest.raises(AuthenticationError, match="Invalid OAuth access token") as failure:
        registry.get("facebook_ads")().check(context(provider_context, fake.base_url, access_token="EAAwrong"))
    assert failure.value.provider_status == 400


def test_check_without_a_token_needs_reauthorisation_and_sends_nothing(provider_context, graph):
    with pytest.raises(NeedsReauthError):
        registry.get("facebook_ads")().check(context(provider_context, graph.base_url, app_secret=APP_SECRET))

    assert graph.server.log == []


# --- input validation -----------------------------------------------------------------------------------------


def test_there_are_no_actions():
    spec = registry.get("facebook_ads")

    assert spec.actions == ()
    assert spec.action("create_campaign") is None
    with pytest.raises(ConfigurationError):
        spec().perform(None, "create_campaign", {})


def test_config_is_validated_field_by_field():
    spec = registry.get("facebook_ads")

    with pytest.raises(ValidationError) as failure:
        spec.clean_config({"ad_account_id": "act_12ab", "date_preset": "last_2d", "since": "2026-13-01", "extra": 1})

    assert failure.value.message_dict == {
        "access_token": ["This field is required."],
        "date_preset": [f"One of: {', '.join(spec.field('date_preset').choices)}."],
        "extra": ["Unknown field."],
    }
    with pytest.raises(ValidationError) as account:
        spec.clean_config({"access_token": ACCESS_TOKEN, "ad_account_id": "act_12ab"})
    assert account.value.message_dict == {
        "ad_account_id": ["Must be the ad account's digits, e.g. 1234567890 or act_1234567890."]
    }
    with pytest.raises(ValidationError) as dates:
        spec.clean_config({"access_token": ACCESS_TOKEN, "ad_account_id": ACCOUNT, "since": "2026-13-01"})
    assert dates.value.message_dict == {"since": ["Must be a date as YYYY-MM-DD."]}
    with pytest.raises(ValidationError) as half:
        spec.clean_config({"access_token": ACCESS_TOKEN, "ad_account_id": ACCOUNT, "since": "2026-07-01"})
    assert half.value.message_dict == {"until": ["Set both dates, or neither."]}
    with pytest.raises(ValidationError) as order:
        spec.clean_config(
            {"access_token": ACCESS_TOKEN, "ad_account_id": ACCOUNT, "since": "2026-07-02", "until": "2026-07-01"}
        )
    assert order.value.message_dict == {"until": ["Must not be before the start date."]}
    config, secrets = spec.clean_config(
        {"access_token": ACCESS_TOKEN, "ad_account_id": f"act_{ACCOUNT}", "app_secret": APP_SECRET}
    )
    assert config == {
        "ad_account_id": ACCOUNT,
        "date_preset": "last_30d",
        "conversion_action_types": "purchase,lead,complete_registration",
        "api_base_url": "https://graph.facebook.com",
    }
    assert secrets == {"access_token": ACCESS_TOKEN, "app_secret": APP_SECRET}
    described = spec.describe()
    assert {f["name"] for f in described["config_schema"] if f["secret"]} == {"access_token", "app_secret"}
    assert described["resources"] == [
        {
            "name": "insights",
            "model": "ads.campaign_metrics",
            "description": "Daily metrics per campaign (Ads Insights)",
            "window": "date",
        }
    ]


def test_the_token_is_only_sent_to_graph_facebook_com_over_https():
    spec = registry.get("facebook_ads")
    valid = {"access_token": ACCESS_TOKEN, "ad_account_id": ACCOUNT}

    for url in ("https://evil.example.com", "http://graph.facebook.com", "https://graph.facebook.com.evil.example"):
        with pytest.raises(ValidationError) as failure:
            spec.clean_config({**valid, "api_base_url": url})
        assert list(failure.value.message_dict) == ["api_base_url"]
    with pytest.raises(ConfigurationError):
        spec().base_url({"api_base_url": "https://evil.example.com"})
    assert spec().base_url({}) == "https://graph.facebook.com/v26.0/"
    assert spec().base_url({"api_base_url": "http://127.0.0.1:8000"}) == "http://127.0.0.1:8000/v26.0/"


# --- failures and rate limits ---------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{API}/insights").respond_with_response(
        Response(
            json.dumps(
                {"error": {"message": "(#17) User request limit reached", "type": "OAuthException", "code": 17}}
            ),
            status=429,
            content_type="application/json",
            headers={"Retry-After": "1"},
        )
    )
    httpserver.expect_ordered_request(f"{API}/insights").respond_with_json({"data": [row(1)], "paging": {}})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    started = time.monotonic()
    page = registry.get("facebook_ads")().read(ctx, "insights", cursor=None, limit=10)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["23850000000000:2026-07-02"]
    assert len(httpserver.log) == 2


def test_429_waits_for_the_business_use_case_estimate(provider_context, httpserver, settings):
    settings.CONNECTOR_MAX_RETRY_AFTER = 120
    settings.CONNECTOR_DEADLINE = 180  # a wait must fit in the call's total deadline (see the next test)
    headers = {
        "X-Business-Use-Case-Usage": json.dumps(
            {ACCOUNT: [{**BUC[ACCOUNT][0], "call_count": 100, "estimated_time_to_regain_access": 1}]}
        )
    }
    provider, slept = registry.get("facebook_ads")(), []
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))
    ctx.http._sleep = slept.append  # record the wait instead of sleeping a minute
    body = {"error": {"message": "(#80000) There have been too many calls from this ad-account.", "code": 80000}}
    httpserver.expect_ordered_request(f"{API}/insights").respond_with_response(
        Response(json.dumps(body), status=429, content_type="application/json", headers=headers)
    )
    httpserver.expect_ordered_request(f"{API}/insights").respond_with_json({"data": [], "paging": {}})

    page = provider.read(ctx, "insights", cursor=None, limit=10)

    assert slept == [60.0]
    assert page.records == []


def test_a_429_whose_wait_does_not_fit_in_the_deadline_is_reported_with_the_wait(
    provider_context, httpserver, settings
):
    settings.CONNECTOR_MAX_RETRY_AFTER = 120
    headers = {
        "X-Business-Use-Case-Usage": json.dumps(
            {ACCOUNT: [{**BUC[ACCOUNT][0], "call_count": 100, "estimated_time_to_regain_access": 1}]}
        )
    }
    provider, slept = registry.get("facebook_ads")(), []
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))
    ctx.http._sleep = slept.append
    body = {"error": {"message": "(#80000) There have been too many calls from this ad-account.", "code": 80000}}
    httpserver.expect_request(f"{API}/insights").respond_with_response(
        Response(json.dumps(body), status=429, content_type="application/json", headers=headers)
    )

    with pytest.raises(RateLimitedError) as failure:
        provider.read(ctx, "insights", cursor=None, limit=10)

    assert slept == []  # a minute's wait does not fit in the 30 s deadline: the caller is told when to come back
    assert failure.value.retry_after == 60.0
    assert len(httpserver.log) == 1


def test_usage_headers_are_read_into_a_wait():
    provider = registry.get("facebook_ads")()

    class Answer:
        def __init__(self, headers):
            self.headers = headers

    assert provider.retry_after(Answer(USAGE_HEADERS)) is None
    assert (
        provider.retry_after(Answer({"X-Ad-Account-Usage": '{"acc_id_util_pct": 100, "reset_time_duration": 90}'}))
        == 90.0
    )
    both = {
        "X-Ad-Account-Usage": '{"reset_time_duration": 30}',
        "X-Business-Use-Case-Usage": json.dumps({"1": [{"estimated_time_to_regain_access": 5}]}),
    }
    assert provider.retry_after(Answer(both)) == 300.0
    assert provider.retry_after(Answer({"X-Business-Use-Case-Usage": "not json"})) is None


def test_a_long_regain_estimate_is_not_waited_out(provider_context, httpserver):
    headers = {"X-Business-Use-Case-Usage": json.dumps({ACCOUNT: [{"estimated_time_to_regain_access": 30}]})}
    httpserver.expect_request(f"{API}/insights").respond_with_response(
        Response(
            json.dumps(
                {"error": {"message": "(#80000) There have been too many calls from this ad-account.", "code": 80000}}
            ),
            status=429,
            content_type="application/json",
            headers=headers,
        )
    )
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(RateLimitedError, match="too many calls") as failure:
        registry.get("facebook_ads")().read(ctx, "insights", cursor=None, limit=10)
    assert failure.value.retry_after == 1800.0
    assert len(httpserver.log) == 1


def test_a_throttling_error_sent_as_http_400_is_rate_limited(provider_context, httpserver):
    httpserver.expect_request(f"{API}/insights").respond_with_response(
        graph_error(400, "(#17) User request limit reached", 17, error_subcode=2446079)
    )
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(RateLimitedError, match="User request limit reached"):
        registry.get("facebook_ads")().read(ctx, "insights", cursor=None, limit=10)


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80000, 80004, 80014])
def test_a_throttle_sent_as_http_400_is_waited_out_as_the_usage_headers_say(provider_context, httpserver, code):
    # Meta answers throttles with 400 and an error code; X-Ad-Account-Usage says when the budget is back
    headers = {**USAGE_HEADERS, "X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": 100, "reset_time_duration": 1})}
    throttled = graph_error(400, f"(#{code}) There have been too many calls.", code)
    throttled.headers.update(headers)
    httpserver.expect_ordered_request(f"{API}/insights").respond_with_response(throttled)
    httpserver.expect_ordered_request(f"{API}/insights").respond_with_json({"data": [row(4)], "paging": {}})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    page = registry.get("facebook_ads")().read(ctx, "insights", cursor=None, limit=10)

    assert [r.data["impressions"] for r in page.records] == [4007]
    assert len(httpserver.log) == 2


def test_a_throttle_sent_as_400_with_a_long_wait_is_rate_limited_with_that_wait(provider_context, httpserver):
    buc = {ACCOUNT: [{**BUC[ACCOUNT][0], "estimated_time_to_regain_access": 30}]}
    throttled = graph_error(400, "(#80000) There have been too many calls from this ad-account.", 80000)
    throttled.headers["X-Business-Use-Case-Usage"] = json.dumps(buc)
    httpserver.expect_request(f"{API}/insights").respond_with_response(throttled)
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(RateLimitedError) as failure:
        registry.get("facebook_ads")().read(ctx, "insights", cursor=None, limit=10)

    assert failure.value.retry_after == 1800.0  # 30 minutes, for the caller to come back
    assert len(httpserver.log) == 1


def test_5xx_then_success_is_retried_for_reads(provider_context, httpserver):
    httpserver.expect_ordered_request(f"{API}/insights").respond_with_response(
        graph_error(500, "An unknown error has occurred.", 1, "OAuthException")
    )
    httpserver.expect_ordered_request(f"{API}/insights").respond_with_json({"data": [row(4)], "paging": {}})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    page = registry.get("facebook_ads")().read(ctx, "insights", cursor=None, limit=10)

    assert [r.data["impressions"] for r in page.records] == [4007]
    assert len(httpserver.log) == 2


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request(f"{API}/insights").respond_with_data("upstream down", status=503)
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(ProviderUnavailableError):
        registry.get("facebook_ads")().read(ctx, "insights", cursor=None, limit=10)
    assert len(httpserver.log) == 4


def test_malformed_json_is_a_clear_error(provider_context, httpserver):
    httpserver.expect_request(f"{API}/insights").respond_with_data('{"data": [', content_type="application/json")
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("facebook_ads")().read(ctx, "insights", cursor=None, limit=10)


def test_a_body_without_data_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(f"{API}/insights").respond_with_json({"rows": []})
    ctx = context(provider_context, httpserver.url_for("/").rstrip("/"))

    with pytest.raises(BadResponseError, match="unexpected body for the insights list"):
        registry.get("facebook_ads")().read(ctx, "insights", cursor=None, limit=10)


# --- webhooks -------------------------------------------------------------------------------------------------

WEBHOOK_URL = "https://hooks.example.com/api/v1/webhooks/facebook_ads/?connection=7"


def notification(field: str = "with_issues_ad_objects") -> bytes:
    return json.dumps(
        {
            "object": "ad_account",
            "entry": [
                {
                    "id": ACCOUNT,
                    "time": 1785312000,
                    "changes": [{"field": field, "value": {"id": "23850000000001", "level": "CAMPAIGN"}}],
                }
            ],
        }
    ).encode()


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """As Meta documents X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw payload with the app secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_webhook_with_a_valid_signature_is_accepted():
    body = notification()

    event = registry.get("facebook_ads")().verify_webhook(
        method="POST", url=WEBHOOK_URL, headers={"X-Hub-Signature-256": sign(body)}, body=body, secret=APP_SECRET
    )

    assert event.event_type == "ad_account.with_issues_ad_objects"
    assert event.event_id == hashlib.sha256(body).hexdigest()[:32]
    assert event.payload["entry"][0]["changes"][0]["value"]["id"] == "23850000000001"


def test_webhook_with_a_wrong_signature_or_tampered_body_is_rejected():
    provider, body = registry.get("facebook_ads")(), notification()

    with pytest.raises(WebhookVerificationError, match="wrong signature"):
        provider.verify_webhook(
            method="POST",
            url=WEBHOOK_URL,
            headers={"x-hub-signature-256": sign(body, "another-apps-secret")},
            body=body,
            secret=APP_SECRET,
        )
    with pytest.raises(WebhookVerificationError, match="wrong signature"):
        provider.verify_webhook(
            method="POST",
            url=WEBHOOK_URL,
            headers={"X-Hub-Signature-256": sign(body)},
            body=notification("in_process_ad_objects"),
            secret=APP_SECRET,
        )


def test_webhook_without_a_signature_or_secret_is_rejected():
    provider, body = registry.get("facebook_ads")(), notification()
    # the legacy SHA-1 header alone is not accepted
    sha1 = "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()

    with pytest.raises(WebhookVerificationError, match="missing or malformed"):
        provider.verify_webhook(
            method="POST", url=WEBHOOK_URL, headers={"X-Hub-Signature": sha1}, body=body, secret=APP_SECRET
        )
    with pytest.raises(WebhookVerificationError, match="no app secret"):
        provider.verify_webhook(
            method="POST", url=WEBHOOK_URL, headers={"X-Hub-Signature-256": sign(body)}, body=body, secret=""
        )


def test_subscription_handshake_echoes_the_challenge_only_for_the_right_verify_token():
    provider = registry.get("facebook_ads")()
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "meatyhamhock"}

    assert provider.webhook_handshake(method="GET", query=query, secret="meatyhamhock") == "1158201444"
    with pytest.raises(WebhookVerificationError, match="verify_token"):
        provider.webhook_handshake(method="GET", query=query, secret="another-token")
    with pytest.raises(WebhookVerificationError, match="subscribe"):
        provider.webhook_handshake(method="GET", query={**query, "hub.mode": "unsubscribe"}, secret="meatyhamhock")
    with pytest.raises(WebhookVerificationError, match=r"hub\.challenge"):
        provider.webhook_handshake(method="GET", query={**query, "hub.challenge": "<script>"}, secret="meatyhamhock")
    assert provider.webhook_handshake(method="POST", query=query, secret="meatyhamhock") is None
    assert provider.webhook_handshake(method="GET", query={}, secret="meatyhamhock") is None
