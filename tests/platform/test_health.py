import pytest
from django.test import override_settings

from bizosaas.infra import Redis

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies(public_client):
    response = public_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_postgres_redis_and_temporal_are_up(public_client):
    response = public_client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert {name: c["status"] for name, c in body["components"].items()} == {
        "postgres": "ok",
        "redis": "ok",
        "temporal": "ok",
        "embedding_model": "ok",  # the test settings load it on first use
    }


def test_the_gateway_loads_the_embedding_model_before_it_is_ready(public_client, monkeypatch, settings):
    """bizosaas.wsgi preloads the local model on a background thread: /readyz is 503 naming it until it is in,
    and no search request is what loads it."""
    from apps.agents.knowledge import embeddings

    settings.KNOWLEDGE_PRELOAD_MODEL = True
    monkeypatch.setattr(embeddings, "_model", None)
    monkeypatch.setattr(embeddings, "_preload", None)
    monkeypatch.setattr(embeddings, "_preload_error", "")

    embeddings.preload()
    while_loading = public_client.get("/readyz")
    embeddings._preload.join(timeout=120)
    loaded = public_client.get("/readyz")

    assert while_loading.status_code == 503
    assert while_loading.json()["failing"] == ["embedding_model"]
    assert loaded.status_code == 200
    assert embeddings._model is not None
    assert embeddings.preload_state() == "ready"


def test_readyz_names_a_stopped_redis_and_answers_503(public_client, tmp_path):
    # given a Redis of its own that the gateway is pointed at, and that then stops
    redis = Redis(tmp_path)
    redis.up()
    try:
        with override_settings(REDIS_URL=redis.url):
            assert public_client.get("/readyz").status_code == 200
            redis.down()

            # when readiness is asked
            response = public_client.get("/readyz")
    finally:
        redis.down()

    # then it is 503 and names Redis, and only Redis
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["redis"]
    assert body["components"]["redis"] == {"status": "error", "latency_ms": body["components"]["redis"]["latency_ms"]}
    assert body["components"]["postgres"]["status"] == "ok"
    assert body["components"]["temporal"]["status"] == "ok"


def test_readyz_names_an_unreachable_temporal(public_client):
    from bizosaas.infra import free_port

    with override_settings(TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}"):
        response = public_client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["temporal"]


def test_readyz_says_which_dependency_fails_but_not_why(public_client, caplog):
    # given a Temporal address that answers nothing (its host and port are what an error message would carry)
    from bizosaas.infra import free_port

    port = free_port()
    with override_settings(TEMPORAL_ADDRESS=f"127.0.0.1:{port}"):
        response = public_client.get("/readyz")

    # then anyone asking learns only the name of the failing dependency; the reason is in the server's log
    assert response.status_code == 503
    assert set(response.json()["components"]["temporal"]) == {"status", "latency_ms"}
    assert str(port) not in response.content.decode()
    assert "readiness check failed: temporal" in caplog.text


METRICS_TOKEN = "metrics-token-for-the-test-2026"


def test_metrics_answer_a_loopback_scraper_when_no_token_is_set(client):
    response = client.get("/metrics", HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    assert b"django_http_requests" in response.content


def test_metrics_refuse_a_remote_caller_when_no_token_is_set(client):
    response = client.get("/metrics", HTTP_HOST="localhost", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403
    assert b"django_http_requests" not in response.content


@override_settings(METRICS_TOKEN=METRICS_TOKEN)
def test_metrics_with_a_token_set_answer_only_the_bearer_of_that_token(client):
    remote = {"HTTP_HOST": "localhost", "REMOTE_ADDR": "203.0.113.9"}

    assert client.get("/metrics", **remote).status_code == 403
    assert client.get("/metrics", HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token", **remote).status_code == 403
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}", **remote)
    assert response.status_code == 200
    assert b"django_http_requests" in response.content


@override_settings(METRICS_TOKEN=METRICS_TOKEN)
def test_metrics_are_not_served_on_a_tenants_domain(client):
    from tests.factories import make_tenant

    tenant = make_tenant(slug="metrics-host")
    host = tenant.domains.first().domain

    response = client.get("/metrics", HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")

    assert response.status_code == 404
    assert b"django_http_requests" not in response.content
