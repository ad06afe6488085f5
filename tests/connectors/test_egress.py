"""Egress: which addresses an outbound call may reach, under every combination of the two settings, and that the
address connected to is the one that was checked (a rebinding DNS server is simulated by patching the resolver:
it is the external system here). Loopback servers stand in for whatever a private address would reach; each
must record zero requests when the call is refused."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from django.test import override_settings
from werkzeug import Response

from apps.connectors.exceptions import BlockedHostError, ProviderRequestError, ProviderUnavailableError
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
REASONS = {LOOPBACK: "loopback", PRIVATE: "private network", NEVER: "special-purpose|local NAT64"}
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
            with pytest.raises(BlockedHostError, match=rf"resolves to a non-public address \(.*: ({REASONS[kind]})"):
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
    with (
        http,
        pytest.raises(
            BlockedHostError, match=r"rebind\.example resolves to a non-public address \(127\.0\.0\.1: loopback\)"
        ),
    ):
        http.request("GET", "secret")

    assert httpserver.log == []


def test_a_rebinding_name_never_reaches_loopback_through_a_webhook_delivery(httpserver, monkeypatch, no_loopback):
    httpserver.expect_request("/hook").respond_with_data("internal page")
    RebindingResolver(monkeypatch, "rebind.example", [["93.184.216.34"], ["127.0.0.1"]])

    result = post_webhook(f"http://rebind.example:{httpserver.port}/hook", body=b"{}", headers={}, timeout=5)

    assert (result.status, result.excerpt) == (None, "")
    assert result.error == "rebind.example resolves to a non-public address (127.0.0.1: loopback); refused."
    assert httpserver.log == []


def test_every_redirect_hop_connects_to_a_vetted_address(httpserver, monkeypatch):
    # loopback is allowed here (the first hop reaches the test server); the name then rebinds to a private address
    httpserver.expect_request("/api/start").respond_with_response(
        Response("", status=302, headers={"Location": "/api/next", "Connection": "close"})
    )
    httpserver.expect_request("/api/next").respond_with_json({"reached": True})
    resolver = RebindingResolver(monkeypatch, "rebind.example", [["127.0.0.1"], ["127.0.0.1"], ["10.0.0.7"]])

    http = ProviderHTTP(provider="fake", base_url=f"http://rebind.example:{httpserver.port}/api/")
    with http, pytest.raises(BlockedHostError, match=r"a non-public address \(10\.0\.0\.7: private network\)"):
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


# --- TLS on a pinned connection --------------------------------------------------------------------------------


def _certificates(tmp_path, name: str) -> tuple[str, ssl.SSLContext]:
    """A throwaway CA (its file, for SSL_CERT_FILE) and a server context with a certificate for `name` it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(subject, issuer, key, signer, *, ca: bool, names=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Test CA", "Test CA", ca_key, ca_key, ca=True)
    leaf = certificate(name, "Test CA", leaf_key, ca_key, ca=False, names=[name])
    ca_file, leaf_file, key_file = tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "leaf.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaf_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf_file, key_file)
    return str(ca_file), context


@pytest.mark.parametrize(("certified_name", "reached"), [("shop.example", True), ("other.example", False)])
def test_a_pinned_https_connection_checks_the_certificate_against_the_host_name(
    tmp_path, monkeypatch, certified_name, reached
):
    from pytest_httpserver import HTTPServer

    ca_file, server_context = _certificates(tmp_path, certified_name)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context)
    server.expect_request("/api/ok").respond_with_json({"ok": True})
    server.start()
    RebindingResolver(monkeypatch, "shop.example", [["127.0.0.1"]])
    try:
        http = ProviderHTTP(provider="fake", base_url=f"https://shop.example:{server.port}/api/", max_retries=0)
        with http:
            if reached:
                assert http.json("GET", "ok") == {"ok": True}
            else:
                with pytest.raises(ProviderUnavailableError, match="could not be reached"):
                    http.request("GET", "ok")
        assert len(server.log) == (1 if reached else 0)
    finally:
        server.clear()
        server.stop()


class _HttpsAndHttpOnOnePort(socketserver.ThreadingTCPServer):
    """Speaks TLS to a client that starts a handshake and plain HTTP to one that does not, on one port: over TLS it
    redirects to the same host and port over plain http, and it records every plain-text request it receives."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, host_name: str):
        self.context, self.host_name, self.plain_requests = context, host_name, []
        super().__init__(("127.0.0.1", 0), _HttpsAndHttpHandler)


class _HttpsAndHttpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        server: _HttpsAndHttpOnOnePort = self.server  # type: ignore[assignment]
        sock = self.request
        sock.settimeout(5)
        secure = sock.recv(1, socket.MSG_PEEK) == b"\x16"  # a TLS handshake record
        if secure:
            sock = server.context.wrap_socket(sock, server_side=True)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return
            head += chunk
        if secure:
            location = f"http://{server.host_name}:{server.server_address[1]}/api/next"
            answer = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        else:
            server.plain_requests.append(head.decode("latin-1"))
            answer = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            )
        sock.sendall(answer.encode())
        sock.close()


def test_a_redirect_from_https_to_http_on_the_same_host_and_port_is_refused(tmp_path, monkeypatch):
    ca_file, server_context = _certificates(tmp_path, "shop.example")
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    server = _HttpsAndHttpOnOnePort(server_context, "shop.example")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    RebindingResolver(monkeypatch, "shop.example", [["127.0.0.1"]])
    try:
        http = ProviderHTTP(
            provider="fake",
            base_url=f"https://shop.example:{server.server_address[1]}/api/",
            headers=lambda: {"Authorization": "Bearer tenant-key"},
        )
        with http, pytest.raises(ProviderRequestError, match="redirected from https to plain http; refused"):
            http.request("GET", "start")

        assert server.plain_requests == []  # the key never went out in clear text
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_link_from_an_https_provider_is_not_followed_with_the_credentials(tmp_path, monkeypatch):
    # a `next` link in a response is an absolute URL: it must not downgrade the connection either
    ca_file, server_context = _certificates(tmp_path, "shop.example")
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    server = _HttpsAndHttpOnOnePort(server_context, "shop.example")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    RebindingResolver(monkeypatch, "shop.example", [["127.0.0.1"]])
    port = server.server_address[1]
    try:
        http = ProviderHTTP(
            provider="fake",
            base_url=f"https://shop.example:{port}/api/",
            headers=lambda: {"Authorization": "Bearer tenant-key"},
        )
        with http, pytest.raises(ProviderRequestError, match="plain http URL for an https connection; refused"):
            http.request("GET", f"http://shop.example:{port}/api/page-2")

        assert server.plain_requests == []
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
def test_a_rebinding_name_never_reaches_loopback_through_an_llm_provider_test(api, httpserver, monkeypatch):
    from tests.integrations.conftest import Org

    org = Org("egress-llm")
    httpserver.expect_request("/v1/chat/completions").respond_with_json({"internal": True})
    created = api.post(
        "/api/v1/llm-providers/",
        {
            "name": "Local",
            "kind": "ollama",
            "default_model": "llama3.1",
            "base_url": f"http://rebind.example:{httpserver.port}",
            "api_key": "tenant-llm-key",
        },
        **org.auth(),
    )
    assert created.status_code == 201, created.content
    RebindingResolver(monkeypatch, "rebind.example", [["93.184.216.34"], ["127.0.0.1"]])

    with override_settings(CONNECTORS_ALLOW_LOOPBACK=False):
        tested = api.post(f"/api/v1/llm-providers/{created.json()['id']}/test/", **org.auth())

    assert tested.status_code == 200, tested.content
    assert tested.json()["ok"] is False
    assert "rebind.example resolves to a non-public address (127.0.0.1: loopback)" in tested.json()["error"]
    assert httpserver.log == []


def test_a_link_to_another_host_is_not_followed_with_the_credentials(httpserver):
    """A `next` link naming another host (a compromised or hostile site) would receive the connection's credentials:
    they go only to the host the person confirmed with them."""
    from pytest_httpserver import HTTPServer

    other = HTTPServer(host="127.0.0.1", port=0)
    other.expect_request("/steal").respond_with_json({"results": []})
    other.start()
    try:
        http = ProviderHTTP(
            provider="fake", base_url=httpserver.url_for("/api/"), headers=lambda: {"Authorization": "Bearer key"}
        )
        with http, pytest.raises(ProviderRequestError, match="link to another host"):
            http.request("GET", f"http://localhost:{other.port}/steal")
        assert other.log == []
    finally:
        other.clear()
        other.stop()


def test_a_resolver_that_never_answers_cannot_hold_the_caller(monkeypatch, settings):
    """Name resolution is bounded like the rest of the call: the caller gets an answer while the lookup still hangs."""
    from apps.connectors import http as http_module

    release = threading.Event()
    real = socket.getaddrinfo

    def hanging(host, port, family=0, type=0, proto=0, flags=0):
        if host == "slow-dns.example":
            release.wait(60)
            raise socket.gaierror("released")
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    settings.DNS_TIMEOUT = 0.2
    try:
        with pytest.raises(ProviderUnavailableError, match=r"Resolving slow-dns\.example took longer"):
            ProviderHTTP(provider="fake", base_url="https://slow-dns.example/api/")
        with http_module.deadline(0.3), pytest.raises(Exception, match=r"slow-dns\.example") as caught:
            http_module.vetted_addresses("slow-dns.example", 443)
        assert not release.is_set()  # both answered while the lookup was still hanging
        assert "took longer" in str(caught.value)
    finally:
        release.set()
