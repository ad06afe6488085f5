"""Egress: which addresses an outbound call may reach, under every combination of the two settings, and that the
address connected to is the one that was checked (a rebinding DNS server is simulated by patching the resolver:
it is the external system here). Loopback servers stand in for whatever a private address would reach; each
must record zero requests when the call is refused."""

from __future__ import annotations

import socket
from itertools import product

import pytest
from django.test import override_settings
from werkzeug import Response

from apps.connectors.exceptions import BlockedHostError, ProviderRequestError
from apps.connectors.http import ProviderHTTP, guard_host, post_webhook, redirect_refusal

PUBLIC, LOOPBACK, PRIVATE, NEVER = "public", "loopback", "private", "never"

# host as written in a URL -> which setting lets a call reach it (PUBLIC: always, NEVER: whatever the settings)
ADDRESSES = [
    ("93.184.216.34", PUBLIC),
    ("8.8.8.8", PUBLIC),
    ("[2606:4700:4700::1111]", PUBLIC),
    ("127.0.0.1", LOOPBACK),
    ("127.1.2.3", LOOPBACK),
    ("[::1]", LOOPBACK),
    ("0.0.0.0", NEVER),  # "this host": connecting to it reaches loopback
    ("0.1.2.3", NEVER),
    ("[::]", NEVER),
    ("169.254.169.254", NEVER),  # cloud metadata
    ("[fe80::1]", NEVER),
    ("[fd00::1]", PRIVATE),
    ("10.0.0.5", PRIVATE),
    ("172.16.0.1", PRIVATE),
    ("172.31.255.254", PRIVATE),
    ("192.168.1.1", PRIVATE),
    ("100.64.0.1", PRIVATE),  # shared CGNAT space
    ("192.0.0.1", NEVER),
    ("192.0.0.170", NEVER),
    ("192.0.2.10", NEVER),
    ("198.18.0.1", NEVER),
    ("198.19.255.1", NEVER),
    ("224.0.0.1", NEVER),
    ("239.255.255.250", NEVER),
    ("[ff02::1]", NEVER),
    ("255.255.255.255", NEVER),
    ("240.0.0.1", NEVER),
    # IPv6 forms that embed an IPv4 address are judged as that address
    ("[::ffff:127.0.0.1]", LOOPBACK),
    ("[::ffff:169.254.169.254]", NEVER),
    ("[::ffff:10.0.0.1]", PRIVATE),
    ("[64:ff9b::7f00:1]", LOOPBACK),  # NAT64 of 127.0.0.1
    ("[64:ff9b::a9fe:a9fe]", NEVER),  # NAT64 of 169.254.169.254
    ("[64:ff9b::a00:1]", PRIVATE),
    ("[64:ff9b::808:808]", PUBLIC),  # NAT64 of 8.8.8.8
    ("[64:ff9b:1::7f00:1]", LOOPBACK),  # local-use NAT64 prefix, /96 form
    ("[64:ff9b:1:7f00:1::]", NEVER),  # local-use NAT64 with another prefix length
    ("[2002:7f00:1::]", LOOPBACK),  # 6to4 of 127.0.0.1
    ("[2002:a9fe:a9fe::1]", NEVER),
    ("[2002:c0a8:101::]", PRIVATE),
    ("[2002:808:808::1]", PUBLIC),
    ("[::127.0.0.1]", LOOPBACK),  # IPv4-compatible
    ("[::169.254.169.254]", NEVER),
    ("[::10.0.0.1]", PRIVATE),
    ("[::ffff:0:7f00:1]", LOOPBACK),  # IPv4-translated
    ("[2001::1]", NEVER),  # Teredo
    ("[2001:db8::1]", NEVER),
    # other spellings of IPv4 addresses that resolvers accept
    ("2130706433", LOOPBACK),
    ("0x7f.1", LOOPBACK),
    ("0x7f000001", LOOPBACK),
    ("0177.0.0.1", LOOPBACK),
    ("127.1", LOOPBACK),
    ("0", NEVER),
    ("0xa9fea9fe", NEVER),
    ("2852039166", NEVER),  # 169.254.169.254
    ("3232235777", PRIVATE),  # 192.168.1.1
]
SETTINGS = list(product([False, True], repeat=2))  # (allow loopback, allow private)


def allowed(kind: str, allow_loopback: bool, allow_private: bool) -> bool:
    return kind == PUBLIC or (kind == LOOPBACK and allow_loopback) or (kind == PRIVATE and allow_private)


@pytest.mark.parametrize(("allow_loopback", "allow_private"), SETTINGS, ids=lambda v: "on" if v else "off")
@pytest.mark.parametrize(("host", "kind"), ADDRESSES, ids=[host for host, _ in ADDRESSES])
def test_every_address_gets_its_verdict_under_every_setting(host, kind, allow_loopback, allow_private):
    url = f"http://{host}/hook"

    with override_settings(CONNECTORS_ALLOW_LOOPBACK=allow_loopback, CONNECTORS_ALLOW_PRIVATE=allow_private):
        if allowed(kind, allow_loopback, allow_private):
            guard_host(url)  # no exception: the call may go out
        else:
            with pytest.raises(BlockedHostError, match="refused"):
                guard_host(url)


# --- the address connected to is the address checked ----------------------------------------------------------


class RebindingResolver:
    """A DNS server for one name that answers differently each time it is asked (the last answer repeats)."""

    def __init__(self, monkeypatch, name: str, answers: list[list[str]]):
        self.name, self.answers, self.asked = name, answers, 0
        real = socket.getaddrinfo

        def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
            if host != name:
                return real(host, port, family, type, proto, flags)
            answer = self.answers[min(self.asked, len(self.answers) - 1)]
            self.asked += 1
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                for ip in answer
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def no_loopback():
    with override_settings(CONNECTORS_ALLOW_LOOPBACK=False, CONNECTORS_ALLOW_PRIVATE=False):
        yield


@pytest.mark.parametrize(
    "answers",
    [
        [["93.184.216.34"], ["127.0.0.1"]],  # public to the check, loopback to the connect
        [["93.184.216.34"], ["93.184.216.34", "127.0.0.1"]],  # a public and a private address in one answer
    ],
    ids=["answers-change", "mixed-answer"],
)
def test_a_rebinding_name_never_reaches_loopback_through_a_provider_call(httpserver, monkeypatch, no_loopback, answers):
    httpserver.expect_request("/api/secret").respond_with_json({"internal": True})
    RebindingResolver(monkeypatch, "rebind.example", answers)

    http = ProviderHTTP(
        provider="fake",
        base_url=f"http://rebind.example:{httpserver.port}/api/",
        headers=lambda: {"Authorization": "Bearer tenant-key"},
        max_retries=0,
    )
    with http, pytest.raises(BlockedHostError, match=r"rebind\.example resolves to a loopback address"):
        http.request("GET", "secret")

    assert httpserver.log == []


def test_a_rebinding_name_never_reaches_loopback_through_a_webhook_delivery(httpserver, monkeypatch, no_loopback):
    httpserver.expect_request("/hook").respond_with_data("internal page")
    RebindingResolver(monkeypatch, "rebind.example", [["93.184.216.34"], ["127.0.0.1"]])

    result = post_webhook(f"http://rebind.example:{httpserver.port}/hook", body=b"{}", headers={}, timeout=5)

    assert (result.status, result.excerpt) == (None, "")
    assert result.error == "rebind.example resolves to a loopback address (127.0.0.1); refused."
    assert httpserver.log == []


def test_every_redirect_hop_connects_to_a_vetted_address(httpserver, monkeypatch):
    # loopback is allowed here (the first hop reaches the test server); the name then rebinds to a private address
    httpserver.expect_request("/api/start").respond_with_response(
        Response("", status=302, headers={"Location": "/api/next", "Connection": "close"})
    )
    httpserver.expect_request("/api/next").respond_with_json({"reached": True})
    resolver = RebindingResolver(monkeypatch, "rebind.example", [["127.0.0.1"], ["127.0.0.1"], ["10.0.0.7"]])

    http = ProviderHTTP(provider="fake", base_url=f"http://rebind.example:{httpserver.port}/api/")
    with http, pytest.raises(BlockedHostError, match=r"a private address \(10\.0\.0\.7\)"):
        http.request("GET", "start")

    assert [request.path for request, _response in httpserver.log] == ["/api/start"]
    assert resolver.asked == 3  # the early check, the first connection, the redirect's new connection


@override_settings(CONNECTORS_ALLOW_LOOPBACK=True, CONNECTORS_ALLOW_PRIVATE=True)
@pytest.mark.parametrize("host", ["0.0.0.0", "[::ffff:0.0.0.0]", "0"])
def test_the_unspecified_address_is_refused_even_with_private_addresses_allowed(httpserver, host):
    # 0.0.0.0 reaches whatever listens on loopback; here, a server that must see nothing
    httpserver.expect_request("/hook").respond_with_data("internal page")

    result = post_webhook(f"http://{host}:{httpserver.port}/hook", body=b"{}", headers={}, timeout=5)

    assert result.status is None and "non-public address" in result.error
    assert httpserver.log == []


def test_a_pinned_connection_still_reaches_an_allowed_name(httpserver, monkeypatch):
    httpserver.expect_request("/api/ok").respond_with_json({"ok": True})
    RebindingResolver(monkeypatch, "api.tenant.example", [["127.0.0.1"]])

    with ProviderHTTP(provider="fake", base_url=f"http://api.tenant.example:{httpserver.port}/api/") as http:
        assert http.json("GET", "ok") == {"ok": True}

    [(request, _response)] = httpserver.log
    assert request.host == f"api.tenant.example:{httpserver.port}"  # the name travels; only the socket is pinned


# --- redirects -------------------------------------------------------------------------------------------------

REDIRECTS = [
    ("https://shop.example/a", "https://shop.example/b", None),
    ("https://shop.example/a", "https://SHOP.example:443/b", None),
    ("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b?x=1", None),
    ("https://shop.example/a", "http://shop.example/b", "from https to plain http"),
    ("https://shop.example:8443/a", "http://shop.example:8443/b", "from https to plain http"),
    ("http://shop.example/a", "https://shop.example/b", "to another scheme or port (use the final address as the URL)"),
    (
        "https://shop.example/a",
        "https://shop.example:8443/b",
        "to another scheme or port (use the final address as the URL)",
    ),
    ("https://shop.example/a", "https://evil.example/b", "to another host"),
    ("https://shop.example/a", "https://shop.example.evil.example/b", "to another host"),
    ("https://shop.example/a", "https://user@evil.example/b", "to another host"),
    ("https://shop.example/a", "ftp://shop.example/b", "to something that is not an http(s) URL"),
    ("https://shop.example/a", "https://shop.example:99999/b", "to an invalid port"),
]


@pytest.mark.parametrize(("current", "location", "refusal"), REDIRECTS)
def test_redirects_are_followed_only_within_the_same_origin(current, location, refusal):
    assert redirect_refusal(current, location) == refusal


def test_a_redirect_to_another_port_is_refused_and_the_credentials_stay_home(httpserver):
    from pytest_httpserver import HTTPServer

    other = HTTPServer(host=httpserver.host, port=0)
    other.start()
    try:
        other.expect_request("/steal").respond_with_data("thanks")
        httpserver.expect_request("/api/moved").respond_with_response(
            Response("", status=307, headers={"Location": other.url_for("/steal")})
        )
        http = ProviderHTTP(
            provider="fake", base_url=httpserver.url_for("/api/"), headers=lambda: {"X-Api-Key": "tenant-key"}
        )
        with http, pytest.raises(ProviderRequestError, match="redirected to another scheme or port"):
            http.request("GET", "moved")

        assert other.log == []
    finally:
        other.clear()
        if other.is_running():
            other.stop()
