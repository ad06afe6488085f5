"""Work classes and fairness between tenants, on a real worker and broker: each class has its own queue and time
limits, and a tenant never has more than its share of one class in flight, so its slow endpoint waits behind
itself and never in front of another tenant."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction
from django_tenants.utils import schema_context
from pytest_httpserver import HTTPServer
from werkzeug import Response

from apps.accounts.audit.services import Actor
from apps.agents import tasks as agent_tasks  # imported before any worker starts, as a worker imports its tasks
from apps.integrations import queueing, tasks
from apps.integrations.models import Delivery
from bizosaas import leases
from bizosaas.celery import app as celery_app
from bizosaas.work import parked_count, slot_name
from tests.integrations.conftest import Org

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_work_class_has_its_own_queue_and_time_limits(settings):
    queues = {
        task.name: task.queue
        for task in (
            tasks.process_event,
            tasks.process_events,
            tasks.sweep,
            tasks.deliver,
            tasks.deliver_batch,
            tasks.run_action,
            tasks.run_actions,
            agent_tasks.execute_run,
            agent_tasks.ingest_document,
            agent_tasks.reembed_collection,
        )
    }

    assert queues == {
        "integrations.process_event": "fanout",
        "integrations.process_events": "fanout",
        "integrations.sweep": "fanout",
        "integrations.deliver": "deliveries",
        "integrations.deliver_batch": "deliveries",
        "integrations.run_action": "actions",
        "integrations.run_actions": "actions",
        "agents.execute_run": "agents",
        "agents.ingest_document": "ingestion",
        "agents.reembed_collection": "ingestion",
    }
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert set(queues.values()) <= declared  # a worker started without -Q consumes every class
    assert settings.CELERY_BEAT_SCHEDULE["integrations-sweep"]["options"] == {"queue": "fanout"}
    for task in (tasks.process_events, tasks.deliver, tasks.deliver_batch, tasks.run_action, tasks.run_actions,
                 agent_tasks.execute_run, agent_tasks.ingest_document):  # fmt: skip
        assert 0 < task.soft_time_limit < task.time_limit, task.name
    # a delivery is looked at as lost only once its attempt cannot be running any more
    assert settings.DELIVERY_STALE_SECONDS > tasks.deliver.time_limit > settings.WEBHOOK_TIMEOUT
    assert settings.DELIVERY_STALE_SECONDS > tasks.deliver_batch.time_limit > settings.WEBHOOK_TIMEOUT


@pytest.fixture
def receivers():
    """A loopback server answering concurrently: /slow takes 1.5 s, /fast answers at once; peak concurrency of
    /slow is recorded."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    state = {"in_flight": 0, "peak": 0, "fast_at": []}
    lock = threading.Lock()

    def slow(request):
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        time.sleep(1.5)
        with lock:
            state["in_flight"] -= 1
        return Response("ok")

    def fast(request):
        state["fast_at"].append(time.monotonic())
        return Response("ok")

    server.expect_request("/slow", method="POST").respond_with_handler(slow)
    server.expect_request("/fast", method="POST").respond_with_handler(fast)
    yield server, state
    server.clear()
    server.stop()


def subscribe(org: Org, url: str) -> None:
    from apps.integrations.outbound import subscription_create

    with schema_context(org.schema):
        subscription_create(
            tenant=org.tenant, actor=Actor.system("test"), user_id=None, url=url, event_types=["custom.*"]
        )


def emit(org: Org, count: int) -> None:
    with schema_context(org.schema), transaction.atomic():
        for number in range(count):
            queueing.event_emit("custom.thing.happened", {"n": number})


def deliveries(org: Org, status: str) -> int:
    with schema_context(org.schema):
        return Delivery.objects.filter(status=status).count()


def test_a_tenants_slow_endpoint_holds_only_its_own_share_of_the_delivery_workers(receivers, settings):
    server, state = receivers
    settings.TENANT_IN_FLIGHT = {**settings.TENANT_IN_FLIGHT, "deliveries": 1}
    settings.DELIVERY_BATCH_SIZE = 1  # one delivery a task: the share is counted in POSTs
    a, b = Org(f"fair-a-{uuid.uuid4().hex[:6]}"), Org(f"fair-b-{uuid.uuid4().hex[:6]}")
    subscribe(a, server.url_for("/slow"))
    subscribe(b, server.url_for("/fast"))

    with start_worker(celery_app, pool="threads", concurrency=3, perform_ping_check=False, shutdown_timeout=15):
        # given tenant A has four deliveries to an endpoint that takes 1.5 s each
        emit(a, 4)
        wait_until(lambda: state["in_flight"] >= 1, seconds=10)
        time.sleep(0.5)  # every worker thread A could take, it has taken
        # when tenant B's event arrives while A's are being worked on
        b_sent = time.monotonic()
        emit(b, 1)
        wait_until(lambda: deliveries(b, Delivery.Status.SUCCEEDED) == 1, seconds=10)
        b_latency = state["fast_at"][0] - b_sent
        a_waiting = deliveries(a, Delivery.Status.PENDING)
        # then A's deliveries all arrive in the end, one at a time
        wait_until(lambda: deliveries(a, Delivery.Status.SUCCEEDED) == 4, seconds=20)

    assert b_latency < 1.0  # B did not wait behind A's 1.5 s calls
    assert a_waiting >= 2  # A's others waited in the queue, not in a worker
    assert state["peak"] == 1
    assert leases.in_use(slot_name("deliveries", a.schema)) == 0
    assert parked_count("deliveries", a.schema) == 0  # every parked delivery was handed back


def wait_until(condition, *, seconds: float) -> None:
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_the_sweeper_hands_back_parked_work_once_the_tenants_share_has_room(settings):
    from django_redis import get_redis_connection

    from bizosaas.work import park, unpark_due

    settings.TENANT_IN_FLIGHT = {**settings.TENANT_IN_FLIGHT, "deliveries": 1}
    redis = get_redis_connection("default")
    queued_before = redis.llen("deliveries")
    held = leases.try_acquire(slot_name("deliveries", "tenant_x"), limit=1, lease=30)
    assert park("deliveries", "tenant_x", "integrations.deliver", ["tenant_x", 41], {})
    assert park("deliveries", "tenant_x", "integrations.deliver", ["tenant_x", 42], {})

    # while the tenant's only place is taken, nothing goes back to the queue
    assert unpark_due() == 0
    assert parked_count("deliveries", "tenant_x") == 2

    # once it is free, one task (the share) goes back, the other waits for the next place
    leases.release(slot_name("deliveries", "tenant_x"), held)
    assert unpark_due() == 1
    assert redis.llen("deliveries") == queued_before + 1
    assert parked_count("deliveries", "tenant_x") == 1


def test_a_super_admin_can_give_one_tenant_a_larger_share_of_a_work_class(settings):
    from apps.accounts.models import TenantQuota
    from bizosaas.work import in_flight_limit

    settings.TENANT_IN_FLIGHT = {**settings.TENANT_IN_FLIGHT, "deliveries": 2}
    big, small = Org(f"share-big-{uuid.uuid4().hex[:6]}"), Org(f"share-small-{uuid.uuid4().hex[:6]}")
    TenantQuota.objects.create(tenant=big.tenant, in_flight_deliveries=6)

    assert in_flight_limit("deliveries", big.schema) == 6
    assert in_flight_limit("deliveries", small.schema) == 2
    assert in_flight_limit("actions", big.schema) == settings.TENANT_IN_FLIGHT["actions"]
