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
    }


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
    assert body["components"]["redis"]["status"] == "error"
    assert body["components"]["redis"]["error"]
    assert body["components"]["postgres"]["status"] == "ok"
    assert body["components"]["temporal"]["status"] == "ok"


def test_readyz_names_an_unreachable_temporal(public_client):
    from bizosaas.infra import free_port

    with override_settings(TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}"):
        response = public_client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["temporal"]
