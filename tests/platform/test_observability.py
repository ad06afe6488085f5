import io
import json
import logging
import uuid

import pytest

from apps.accounts.models import User
from apps.accounts.services import tenant_create
from bizosaas.observability import ContextFilter, JsonFormatter

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_log():
    """What the production handler writes for the request logger, parsed line by line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("bizosaas.request")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_every_response_carries_a_fresh_request_id(public_client):
    first = public_client.get("/healthz")
    second = public_client.get("/does-not-exist")

    assert len(first["X-Request-ID"]) == 32
    assert second.status_code == 404
    assert len(second["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_well_formed_incoming_request_id_is_kept_and_echoed(public_client, json_log):
    response = public_client.get("/readyz", HTTP_X_REQUEST_ID="lb-7f3a.42")

    assert response["X-Request-ID"] == "lb-7f3a.42"
    assert json_log()[-1]["request_id"] == "lb-7f3a.42"


@pytest.mark.parametrize("incoming", ["x" * 129, "bad id with spaces", "inject\\nnewline", ""])
def test_a_malformed_incoming_request_id_is_replaced(public_client, incoming):
    response = public_client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] != incoming
    uuid.UUID(hex=response["X-Request-ID"])


def test_request_log_is_json_with_request_id_tenant_and_user(client, json_log):
    # given a tenant and a signed-in person on its domain
    tenant = tenant_create(name="Acme", slug="acme-logs")
    user = User.objects.create_user(email="ann@example.com", password="a-long-pass-123")
    client.force_login(user)

    # when they call the tenant's host
    response = client.get("/readyz", HTTP_HOST="acme-logs.localhost")

    # then one JSON line names the request id echoed to them, the tenant's schema and the user
    assert response.status_code == 200
    line = json_log()[-1]
    assert line["request_id"] == response["X-Request-ID"]
    assert line["tenant"] == tenant.schema_name
    assert line["user"] == str(user.pk)
    assert line["method"] == "GET"
    assert line["path"] == "/readyz"
    assert line["status"] == 200
    assert line["level"] == "INFO"
    assert isinstance(line["duration_ms"], float)


def test_anonymous_public_request_logs_public_tenant_and_no_user(public_client, json_log):
    public_client.get("/readyz")

    line = json_log()[-1]
    assert line["tenant"] == "public"
    assert line["user"] == "-"


def test_metrics_are_exposed_in_prometheus_format(public_client):
    public_client.get("/healthz")

    response = public_client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE django_http_requests_total_by_method_total counter" in text
    assert 'django_http_requests_total_by_method_total{method="GET"}' in text


def test_webhook_urls_are_logged_without_their_token(public_client, json_log):
    token = "s3cretTokenThatRoutesWebhooks_abcdefghijkl"

    response = public_client.post(f"/hooks/{token}/", b"{}", content_type="application/json")

    assert response.status_code == 404
    line = json_log()[-1]
    assert line["path"] == "/hooks/s3cret…/"
    assert token not in json.dumps(json_log())
