"""The one HTTP client, against loopback servers: the rules every provider call inherits."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from django.test import override_settings
from werkzeug import Response

from apps.connectors.exceptions import BlockedHostError, ProviderRequestError, RateLimitedError
from apps.connectors.http import ProviderHTTP

ROOT = Path(__file__).resolve().parents[2]


def client(server, **kwargs) -> ProviderHTTP:
    return ProviderHTTP(provider="fake", base_url=server.url_for("/api/"), **kwargs)


def test_only_the_client_module_imports_an_http_library():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "apps").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(httpx|requests|urllib3|aiohttp)\b", path.read_text(), re.M)
    ]

    assert offenders == ["apps/connectors/http.py"]


def test_a_write_is_never_repeated_after_a_5xx(httpserver):
    httpserver.expect_request("/api/things", method="POST").respond_with_data("boom", status=500)

    with client(httpserver) as http, pytest.raises(Exception, match="failing"):
        http.request("POST", "things", json_body={"a": 1})

    assert len(httpserver.log) == 1


def test_a_rate_limit_longer_than_the_cap_is_reported_not_slept(httpserver):
    httpserver.expect_request("/api/x").respond_with_response(
        Response("later", status=429, headers={"Retry-After": "3600"})
    )

    started = time.monotonic()
    with client(httpserver) as http, pytest.raises(RateLimitedError) as failure:
        http.request("GET", "x")

    assert time.monotonic() - started < 2
    assert failure.value.retry_after == pytest.approx(3600, abs=1)


def test_redirects_to_another_host_are_refused(httpserver):
    httpserver.expect_request("/api/moved").respond_with_response(
        Response("", status=302, headers={"Location": "http://127.0.0.2:9/elsewhere"})
    )
    httpserver.expect_request("/api/here").respond_with_response(
        Response("", status=301, headers={"Location": "/api/ok"})
    )
    httpserver.expect_request("/api/ok").respond_with_json({"ok": True})

    with client(httpserver) as http:
        assert http.json("GET", "here") == {"ok": True}  # same host: followed
        with pytest.raises(ProviderRequestError, match="another host"):
            http.request("GET", "moved")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/",
        "http://[fd00::1]/",
        "ftp://example.com/",
    ],
)
def test_non_public_hosts_are_refused_before_any_traffic(url):
    with pytest.raises(BlockedHostError):
        ProviderHTTP(provider="fake", base_url=url)


def test_loopback_is_refused_unless_the_setting_allows_it(httpserver):
    with override_settings(CONNECTORS_ALLOW_LOOPBACK=False), pytest.raises(BlockedHostError):
        client(httpserver)


def test_absolute_urls_from_responses_are_guarded_too(httpserver):
    # another host is never sent the credentials at all (test_egress), let alone a private one
    with client(httpserver) as http, pytest.raises(ProviderRequestError, match="another host"):
        http.request("GET", "http://10.1.1.1/next-page")


def test_concurrency_is_capped_per_connection():
    from pytest_httpserver import HTTPServer

    httpserver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    httpserver.start()
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.2)
        with lock:
            in_flight[0] -= 1
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/api/slow").respond_with_handler(slow)

    def call():
        with client(httpserver, connection_key="conn-1") as http:
            http.request("GET", "slow")

    with override_settings(CONNECTOR_MAX_CONCURRENCY=2):
        threads = [threading.Thread(target=call) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    httpserver.stop()

    assert peak[0] == 2


@pytest.mark.django_db
def test_calls_are_counted_per_provider_and_outcome(httpserver, public_client):
    httpserver.expect_request("/api/a").respond_with_json({})
    httpserver.expect_request("/api/b").respond_with_data("no", status=403)
    with client(httpserver) as http:
        http.request("GET", "a")
        with pytest.raises(Exception, match="rejected the credentials"):
            http.request("GET", "b")

    metrics = public_client.get("/metrics").content.decode()

    assert re.search(r'bizosaas_connector_requests_total\{outcome="ok",provider="fake"\} [1-9]', metrics)
    assert re.search(r'bizosaas_connector_requests_total\{outcome="auth_error",provider="fake"\} [1-9]', metrics)
