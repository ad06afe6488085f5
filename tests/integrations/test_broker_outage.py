"""An accepted event is never lost: with the broker (Redis) down, webhooks are still verified, stored and
answered; once Redis is back the sweeper queues them and a real Celery worker fans them out."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from celery.contrib.testing.worker import start_worker
from django_tenants.utils import schema_context
from kombu import pools as kombu_pools
from standardwebhooks.webhooks import Webhook

from apps.integrations import dispatch, queueing
from apps.integrations.models import Delivery, Event
from bizosaas.celery import app as celery_app
from bizosaas.infra import Redis
from tests.integrations.conftest import Org

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme():
    """A tenant of its own per test: a transactional test's flush leaves the schema behind, so slugs differ."""
    return Org(f"outage-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def own_broker(tmp_path, settings):
    """A Redis of the test's own as Celery's broker (the session's Redis keeps serving the cache)."""
    redis = Redis(tmp_path)
    redis.up()
    previous = celery_app.conf.broker_url
    point_celery_at(redis.url.replace("unix://", "redis+socket://", 1))
    settings.INTEGRATIONS_EVENT_GRACE_SECONDS = 0
    try:
        yield redis
    finally:
        redis.down()
        point_celery_at(previous)
        queueing.broker_pause_reset()  # the session's broker is fine: later tests must not inherit the pause


def point_celery_at(url: str) -> None:
    """Reconfigures the app's broker and drops every pooled connection and producer pool (kombu keeps producer
    pools in a process-wide registry keyed by connection, which outlives app.close())."""
    celery_app.conf.broker_url = url
    celery_app.conf.broker_write_url = url
    celery_app.close()
    celery_app.amqp._producer_pool = None
    kombu_pools.reset()


def signed(secret: str, number: int) -> tuple[bytes, dict]:
    body = json.dumps({"type": "order.paid", "data": {"number": number}}).encode()
    msg_id = f"msg_outage_{number}"
    signature = Webhook(secret).sign(msg_id, datetime.now(tz=UTC), body.decode())
    return body, {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": signature,
    }


def test_webhooks_accepted_while_the_broker_is_down_are_delivered_after_it_returns(
    api, acme, post_hook, httpserver, own_broker
):
    endpoint = acme.endpoint(api, scheme="standard_webhooks", name="Shop backend")
    httpserver.expect_request("/receiver", method="POST").respond_with_data("ok")
    subscription = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": httpserver.url_for("/receiver"), "event_types": ["custom.order.*"]},
        **acme.auth(),
    )
    assert subscription.status_code == 201

    # the broker goes down; platforms keep posting
    own_broker.down()
    answers = []
    for number in range(5):
        started = time.monotonic()
        response = post_hook(endpoint, *signed(endpoint["signing_secret"], number))
        answers.append((response.status_code, response.json()["status"], time.monotonic() - started))
    assert [(code, status) for code, status, _ in answers] == [(200, "accepted")] * 5
    assert max(seconds for *_, seconds in answers) < 5  # answered without waiting on the broker
    with schema_context(acme.schema):
        assert Event.objects.filter(status=Event.Status.PENDING).count() == 5

    # the sweeper finds nothing it can do while Redis is down, and loses nothing
    assert dispatch.sweep()["events"] == 0

    # Redis returns: the sweeper queues every pending event; a real worker fans them out and delivers
    own_broker.up()
    assert dispatch.sweep()["events"] == 5
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with schema_context(acme.schema):
                done = Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count()
            if done == 5:
                break
            time.sleep(0.2)

    with schema_context(acme.schema):
        assert Event.objects.filter(status=Event.Status.PROCESSED).count() == 5
        assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 5
    numbers = sorted(json.loads(request.data)["data"]["payload"]["number"] for request, _ in httpserver.log)
    assert numbers == [0, 1, 2, 3, 4]


def test_with_the_broker_up_accepted_webhooks_reach_the_worker_without_the_sweeper(
    api, acme, post_hook, httpserver, own_broker
):
    endpoint = acme.endpoint(api, scheme="standard_webhooks", name="Shop backend")
    httpserver.expect_request("/receiver", method="POST").respond_with_data("ok")
    api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": httpserver.url_for("/receiver"), "event_types": ["custom.order.*"]},
        **acme.auth(),
    )

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        for number in range(3):
            assert post_hook(endpoint, *signed(endpoint["signing_secret"], number)).status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(httpserver.log) < 3:
            time.sleep(0.1)

    assert len(httpserver.log) == 3
    with schema_context(acme.schema):
        assert Event.objects.filter(status=Event.Status.PROCESSED, enqueued_at__isnull=True).count() == 3
