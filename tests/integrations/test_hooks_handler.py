"""`/hooks/<token>/` as gunicorn serves it: bizosaas.wsgi hands those paths to a handler with a middleware stack of
their own (settings.HOOKS_MIDDLEWARE, no sessions, CSRF, authentication or static files). What a sender and an
operator see must be what the rest of the gateway gives: the request id, the security headers, host validation,
the request log line, the body limit, and the event stored once."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from django_tenants.utils import schema_context
from standardwebhooks.webhooks import Webhook

from apps.integrations.models import Event
from tests.integrations.conftest import hook_path
from tests.wsgi import LogLines, wsgi_call


def signed(endpoint: dict, msg_id: str, **extra) -> tuple[str, str, bytes, dict]:
    text = json.dumps({"type": "order.created", "data": {"id": msg_id}})
    moment = datetime.now(UTC)
    headers = {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(moment.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(endpoint["signing_secret"]).sign(msg_id, moment, text),
        **extra,
    }
    return "POST", hook_path(endpoint), text.encode(), headers


def stored(org) -> list[str]:
    with schema_context(org.schema):
        return list(Event.objects.values_list("external_id", flat=True))


def test_a_signed_webhook_through_the_gateway_is_stored_and_answered_like_any_other_request(api, acme):
    import bizosaas.wsgi  # noqa: F401 (loading it runs django.setup(), which re-applies LOGGING: before the handler)

    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    method, path, body, headers = signed(endpoint, "msg_wsgi_1", HTTP_X_REQUEST_ID="sender-req-42")
    request_log, lines = logging.getLogger("bizosaas.request"), LogLines()
    request_log.addHandler(lines)
    try:
        status, answer_headers, answer = wsgi_call(method, path, body, **headers)
    finally:
        request_log.removeHandler(lines)

    assert status == "200 OK"
    assert answer["status"] == "accepted"
    assert answer["type"] == "custom.order.created"
    assert stored(acme) == ["msg_wsgi_1"]
    assert answer_headers["X-Request-ID"] == "sender-req-42"
    assert answer_headers["X-Content-Type-Options"] == "nosniff"
    assert answer_headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in answer_headers  # no session is started for a sender
    assert "Cookie" not in answer_headers.get("Vary", "")
    assert [(line.method, line.status) for line in lines.records] == [("POST", 200)]
    token = path.split("/")[2]
    assert lines.records[0].path == f"/hooks/{token[:6]}…/"  # the token is a credential: only its first characters


def test_the_same_message_twice_is_stored_once(api, acme):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    method, path, body, headers = signed(endpoint, "msg_twice")
    first = wsgi_call(method, path, body, **headers)
    again = wsgi_call(method, path, body, **headers)

    assert first[2]["status"] == "accepted"
    assert again[0] == "200 OK"
    assert again[2]["status"] == "duplicate"
    assert stored(acme) == ["msg_twice"]


def test_a_host_that_is_not_allowed_is_refused_and_nothing_is_stored(api, acme):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    method, path, body, headers = signed(endpoint, "msg_bad_host", HTTP_HOST="attacker.example")

    status, _headers, _answer = wsgi_call(method, path, body, **headers)

    assert status == "400 Bad Request"
    assert stored(acme) == []


def test_a_forged_signature_an_unknown_token_and_an_oversized_body_change_nothing(api, acme, settings):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    method, path, body, headers = signed(endpoint, "msg_forged")
    forged = wsgi_call(method, path, body.replace(b"msg_forged", b"msg_FORGED"), **headers)
    unknown = wsgi_call(method, "/hooks/not-a-token/", body, **headers)
    settings.WEBHOOK_MAX_BODY_BYTES = 32
    method, path, body, headers = signed(endpoint, "msg_large")
    large = wsgi_call(method, path, body, **headers)

    assert forged[0].startswith("401")
    assert unknown[0] == "404 Not Found"
    assert large[0].startswith("413 ")
    assert large[2] == {"detail": "Body larger than 32 bytes."}
    assert stored(acme) == []
