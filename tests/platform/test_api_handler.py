"""`/api/` as gunicorn serves it: bizosaas.wsgi hands those paths to a handler with a middleware stack of their own
(settings.API_MIDDLEWARE: no sessions, CSRF, Django authentication, messages or static files, since the API
authenticates by its Bearer header alone). What a caller and an operator see must be what the rest of the gateway
gives: the request id, the security headers, host validation, the body limit, the request log line, and a session
that ends at logout."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings

from tests.factories import PASSWORD, make_member, make_tenant
from tests.wsgi import LogLines, wsgi_call

pytestmark = pytest.mark.django_db


def post(path: str, data: dict, **headers):
    return wsgi_call("POST", path, json.dumps(data).encode(), **headers)


def test_login_list_and_logout_through_the_gateway_without_cookies_or_csrf():
    import bizosaas.wsgi  # noqa: F401 (loading it runs django.setup(), which re-applies LOGGING: before the handler)

    tenant = make_tenant(slug="api-stack")
    make_member(tenant, "owner", email="owner@api-stack.test")
    make_member(tenant, "viewer", email="viewer@api-stack.test")

    status, headers, pair = post("/api/v1/auth/login/", {"email": "owner@api-stack.test", "password": PASSWORD})
    assert status == "200 OK", pair  # a POST without any CSRF token: the API never relied on a cookie
    assert "Set-Cookie" not in headers
    auth = {"HTTP_AUTHORIZATION": f"Bearer {pair['access']}"}

    request_log, lines = logging.getLogger("bizosaas.request"), LogLines()
    request_log.addHandler(lines)
    try:
        status, headers, page = wsgi_call("GET", "/api/v1/members/", HTTP_X_REQUEST_ID="caller-req-7", **auth)
    finally:
        request_log.removeHandler(lines)
    assert status == "200 OK"
    assert page["count"] == 2
    assert sorted(member["email"] for member in page["results"]) == ["owner@api-stack.test", "viewer@api-stack.test"]
    assert headers["X-Request-ID"] == "caller-req-7"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in headers
    assert "Cookie" not in headers.get("Vary", "")  # no session looked at: nothing varies by cookie
    [line] = [record for record in lines.records if getattr(record, "path", "") == "/api/v1/members/"]
    assert line.status == 200

    status, _headers, _body = post("/api/v1/auth/logout/", {"refresh": pair["refresh"]}, **auth)
    assert status == "204 No Content"
    status, _headers, body = wsgi_call("GET", "/api/v1/members/", **auth)
    assert status == "401 Unauthorized"  # the session ended at logout, not when the access token expires
    assert body["code"] == "token_revoked"


def test_the_api_stack_keeps_the_gateways_bounds_and_answers():
    import bizosaas.wsgi  # noqa: F401

    status, _headers, body = wsgi_call("GET", "/api/v1/members/")
    assert status == "401 Unauthorized"

    status, _headers, _body = wsgi_call("GET", "/api/v1/members/", HTTP_HOST="evil.example")
    assert status == "400 Bad Request"  # ALLOWED_HOSTS, as everywhere

    status, headers, _body = wsgi_call("GET", "/api/v1/members")
    assert status == "301 Moved Permanently"  # CommonMiddleware's slash, as before
    assert headers["Location"].endswith("/api/v1/members/")

    status, _headers, page = wsgi_call("GET", "/api/docs/")
    assert status == "200 OK"  # the API's documentation page renders without sessions or CSRF middleware
    assert "swagger" in page.lower()
    status, _headers, _schema = wsgi_call("GET", "/api/schema/", QUERY_STRING="format=json")
    assert status == "200 OK"

    too_big = b"{" + b" " * settings.API_MAX_BODY_BYTES + b"}"
    status, _headers, body = wsgi_call("POST", "/api/v1/auth/login/", too_big)
    assert status == "413 Request Entity Too Large"
    assert body["code"] == "body_too_large"
