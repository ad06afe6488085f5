"""Every outbound call ends by its total deadline, whatever the server's pace, and keeps within its caps: the
response-size cap and the per-connection concurrency cap, which is shared across processes and per tenant."""

from __future__ import annotations

import threading
import time

import pytest
from werkzeug import Response

from apps.connectors.exceptions import BadResponseError, ProviderUnavailableError, RateLimitedError
from apps.connectors.http import ProviderHTTP, deadline, post_webhook
from tests.slow_drip import SlowDripServer


def test_a_provider_that_drips_its_answer_is_cut_off_at_the_deadline_not_at_its_pace():
    # given a server sending one byte every 0.2 s of a 10 kB body (35 minutes at that pace)
    with SlowDripServer(interval=0.2) as server:
        http = ProviderHTTP(provider="fake", base_url=server.url("/api/"), deadline=1.0, timeout=15)
        started = time.monotonic()
        # when a read is made with per-operation timeouts of 15 s
        with http, pytest.raises(ProviderUnavailableError) as failure:
            http.request("GET", "things")
        elapsed = time.monotonic() - started

    # then it fails at its 1 s deadline, with the reason, and is not retried into a second deadline
    assert 0.9 <= elapsed < 1.6
    assert failure.value.message == "fake did not answer completely within 1 s; try again later."


def test_headers_dripped_byte_by_byte_are_cut_off_too():
    with SlowDripServer(interval=0.2, headers_first=False) as server:
        http = ProviderHTTP(provider="fake", base_url=server.url("/api/"), deadline=0.8)
        started = time.monotonic()
        with http, pytest.raises(ProviderUnavailableError):
            http.request("POST", "things", json_body={"a": 1})

    assert time.monotonic() - started < 1.4


def test_a_deadline_around_calls_shortens_each_of_them():
    with SlowDripServer(interval=0.2) as server:
        http = ProviderHTTP(provider="fake", base_url=server.url("/api/"), deadline=30)
        started = time.monotonic()
        with http, deadline(0.6), pytest.raises(ProviderUnavailableError):
            http.request("GET", "things")

    assert time.monotonic() - started < 1.2


def test_an_outbound_webhook_to_a_slow_drip_receiver_fails_at_its_deadline():
    with SlowDripServer(interval=0.2) as server:
        started = time.monotonic()
        result = post_webhook(server.url("/hook"), body=b"{}", headers={"content-type": "application/json"}, timeout=1)
        elapsed = time.monotonic() - started

    assert 0.9 <= elapsed < 1.6
    assert result.status is None
    assert result.error == "Timed out: no complete answer within 1 s."
    assert not result.ok


def test_a_response_over_the_size_cap_is_refused_while_it_streams(httpserver, settings):
    settings.CONNECTOR_MAX_RESPONSE_BYTES = 1000
    httpserver.expect_request("/api/big").respond_with_data("x" * 5000, content_type="application/json")
    httpserver.expect_request("/api/chunked").respond_with_response(
        Response((b"y" * 500 for _ in range(10)), content_type="application/json")  # no Content-Length
    )
    httpserver.expect_request("/api/small").respond_with_json({"ok": True})

    with ProviderHTTP(provider="fake", base_url=httpserver.url_for("/api/")) as http:
        with pytest.raises(BadResponseError, match="more than the 1000-byte limit"):
            http.request("GET", "big")
        with pytest.raises(BadResponseError, match="more than the 1000-byte limit"):
            http.request("GET", "chunked")
        assert http.json("GET", "small") == {"ok": True}


@pytest.fixture
def threaded_server():
    """A loopback server answering requests concurrently (the default one answers them one at a time)."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def _slow_handler(in_flight, peak, lock, pause=0.3):
    def slow(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(pause)
        with lock:
            in_flight[0] -= 1
        return Response("{}", content_type="application/json")

    return slow


def test_the_cap_of_one_tenants_connection_does_not_hold_another_tenants_connection_of_the_same_id(
    threaded_server, settings
):
    httpserver = threaded_server
    # given tenant A's connection 1 has every place of its cap taken by slow calls
    settings.CONNECTOR_MAX_CONCURRENCY = 2
    settings.CONNECTOR_CONCURRENCY_WAIT = 5
    in_flight, peak, lock = [0], [0], threading.Lock()
    httpserver.expect_request("/api/slow").respond_with_handler(_slow_handler(in_flight, peak, lock, pause=1.0))
    httpserver.expect_request("/api/fast").respond_with_json({})

    def a_call():
        with ProviderHTTP(provider="fake", base_url=httpserver.url_for("/api/"), connection_key="tenant_a:c:1") as h:
            h.request("GET", "slow")

    threads = [threading.Thread(target=a_call) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)

    # when tenant B calls its own connection 1
    started = time.monotonic()
    with ProviderHTTP(provider="fake", base_url=httpserver.url_for("/api/"), connection_key="tenant_b:c:1") as http:
        http.request("GET", "fast")
    b_elapsed = time.monotonic() - started
    for thread in threads:
        thread.join()

    # then B is answered at once, while A's third call would have waited
    assert b_elapsed < 0.3
    assert peak[0] == 2


def test_calls_over_a_connections_cap_wait_a_bounded_time_then_are_refused(threaded_server, settings):
    httpserver = threaded_server
    settings.CONNECTOR_MAX_CONCURRENCY = 2
    settings.CONNECTOR_CONCURRENCY_WAIT = 0.3
    in_flight, peak, lock = [0], [0], threading.Lock()
    httpserver.expect_request("/api/slow").respond_with_handler(_slow_handler(in_flight, peak, lock, pause=1.0))
    outcomes: list[str] = []

    def call():
        with ProviderHTTP(provider="fake", base_url=httpserver.url_for("/api/"), connection_key="tenant_a:c:9") as h:
            try:
                h.request("GET", "slow")
                outcomes.append("ok")
            except RateLimitedError as exc:
                outcomes.append(exc.message)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert peak[0] == 2
    assert sorted(outcomes) == sorted(
        ["ok", "ok"] + ["fake: 2 requests to this connection are already in flight; try again shortly."] * 2
    )
