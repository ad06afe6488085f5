"""A tenant's deliveries are sent in batches: one task claims several due deliveries, POSTs them at once and writes
their outcomes together, each recorded exactly as if it had been sent alone; the statements do not grow with the
batch, and the tenant's parked deliveries are sent together when a task runs them on."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from pytest_httpserver import HTTPServer
from werkzeug import Response

from apps.accounts.audit.services import Actor
from apps.integrations import dispatch, tasks
from apps.integrations.models import Delivery, DeliveryAttempt, Event, Subscription
from apps.integrations.outbound import subscription_create
from bizosaas import leases
from bizosaas.work import DELIVERIES, park, parked_count, parked_name, slot_name
from tests.integrations.conftest import Org

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    """A loopback server answering concurrently; each POST to /slow takes 0.4 s; the peak of concurrent POSTs is
    recorded. /fail answers 500, /gone 410."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    state = {"in_flight": 0, "peak": 0}
    lock = threading.Lock()

    def slow(request):
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        time.sleep(0.4)
        with lock:
            state["in_flight"] -= 1
        return Response("ok", status=202)

    server.expect_request("/slow", method="POST").respond_with_handler(slow)
    server.expect_request("/fail", method="POST").respond_with_data("no", status=500)
    server.expect_request("/gone", method="POST").respond_with_data("gone", status=410)
    yield server, state
    server.clear()
    server.stop()


@pytest.fixture
def acme():
    return Org(f"batch-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def clean_share(acme):
    from django_redis import get_redis_connection

    redis = get_redis_connection("default")
    keys = [parked_name(DELIVERIES, acme.schema), "bzs:slot:" + slot_name(DELIVERIES, acme.schema)]
    redis.delete(*keys)
    yield redis
    redis.delete(*keys)


def subscribe(org, url: str) -> Subscription:
    with schema_context(org.schema):
        subscription, _secret = subscription_create(
            tenant=org.tenant, actor=Actor.system("test"), user_id=None, url=url, event_types=["custom.*"]
        )
    return subscription


def events(org, count: int) -> list[int]:
    with schema_context(org.schema):
        return [
            Event.objects.create(source=Event.Source.API, type="custom.thing.happened", payload={"n": n}).pk
            for n in range(count)
        ]


def test_one_task_sends_a_batch_at_once_in_statements_that_do_not_grow_with_it(acme, receiver, clean_share):
    server, state = receiver
    subscribe(acme, server.url_for("/slow"))
    queued = clean_share.llen(DELIVERIES)

    statements = {}
    for size in (2, 6):
        ids = events(acme, size)
        with schema_context(acme.schema):
            dispatch.events_process(ids)
            batch = list(Delivery.objects.filter(event_id__in=ids).order_by("pk").values_list("pk", flat=True))
        # the fan-out queued the event batch's deliveries as one task
        assert clean_share.llen(DELIVERIES) == queued + 1
        clean_share.delete(DELIVERIES)  # the test runs the task itself
        queued = 0
        state["peak"] = 0
        with CaptureQueriesContext(connection) as queries:
            tasks.deliver_batch(acme.schema, batch)
        statements[size] = len(queries.captured_queries)
        assert state["peak"] == size  # every POST of the batch was in flight at once
        with schema_context(acme.schema):
            done = Delivery.objects.filter(pk__in=batch)
            assert {(d.status, d.attempts, d.last_status_code) for d in done} == {("succeeded", 1, 202)}
            assert all(d.succeeded_at is not None and d.next_attempt_at is None for d in done)
            logged = DeliveryAttempt.objects.filter(delivery_id__in=batch)
            assert sorted(logged.values_list("delivery_id", "number", "status_code")) == [(pk, 1, 202) for pk in batch]
            assert Subscription.objects.get().last_success_at is not None

    assert statements[6] == statements[2]
    assert leases.in_use(slot_name(DELIVERIES, acme.schema)) == 0


def test_each_delivery_of_a_batch_gets_its_own_outcome(acme, receiver, clean_share):
    server, _state = receiver
    ok, failing, gone = (subscribe(acme, server.url_for(path)) for path in ("/slow", "/fail", "/gone"))
    [event] = events(acme, 1)
    with schema_context(acme.schema):
        dispatch.events_process([event])
        by_subscription = dict(Delivery.objects.values_list("subscription_id", "pk"))
        clean_share.delete(DELIVERIES)

        dispatch.deliveries_send(list(by_subscription.values()))

        outcome = {d.subscription_id: d for d in Delivery.objects.all()}
        assert outcome[ok.pk].status == Delivery.Status.SUCCEEDED
        assert outcome[failing.pk].status == Delivery.Status.PENDING  # retried on the schedule
        assert outcome[failing.pk].last_error == "HTTP 500" and outcome[failing.pk].next_attempt_at is not None
        assert outcome[gone.pk].status == Delivery.Status.FAILED and outcome[gone.pk].next_attempt_at is None
        subscriptions = {s.pk: s for s in Subscription.objects.all()}
        assert subscriptions[ok.pk].consecutive_failures == 0 and subscriptions[ok.pk].enabled
        assert subscriptions[failing.pk].consecutive_failures == 1 and subscriptions[failing.pk].failing_since
        assert not subscriptions[gone.pk].enabled  # 410 Gone disables the endpoint
        codes = dict(DeliveryAttempt.objects.values_list("delivery__subscription_id", "status_code"))
        assert codes == {ok.pk: 202, failing.pk: 500, gone.pk: 410}
        assert Event.objects.filter(type="bizosaas.subscription.disabled").count() == 1


def test_a_delivery_already_sent_or_claimed_elsewhere_is_left_out_of_the_batch(acme, receiver, clean_share):
    server, _state = receiver
    subscribe(acme, server.url_for("/slow"))
    ids = events(acme, 3)
    with schema_context(acme.schema):
        dispatch.events_process(ids)
        first, second, third = Delivery.objects.order_by("pk").values_list("pk", flat=True)
        Delivery.objects.filter(pk=second).update(status=Delivery.Status.SENDING)  # another worker has it

        dispatch.deliveries_send([first, second, third])
        dispatch.deliveries_send([first, third])  # redelivered: nothing twice

        assert dict(Delivery.objects.values_list("pk", "status")) == {
            first: "succeeded",
            second: "sending",
            third: "succeeded",
        }
        assert DeliveryAttempt.objects.count() == 2
    assert len(server.log) == 2


def test_parked_deliveries_of_a_tenant_are_sent_together_up_to_the_batch_size(acme, receiver, clean_share, settings):
    server, state = receiver
    settings.TENANT_WORK_SLICE_SECONDS = 30
    settings.DELIVERY_BATCH_SIZE = 3
    subscribe(acme, server.url_for("/slow"))
    ids = events(acme, 6)
    with schema_context(acme.schema):
        dispatch.events_process(ids)
        first, *rest = Delivery.objects.order_by("pk").values_list("pk", flat=True)
    clean_share.delete(DELIVERIES, parked_name(DELIVERIES, acme.schema))
    for delivery_id in rest:  # as rule actions queue theirs: one at a time, parked behind the tenant's share
        assert park(DELIVERIES, acme.schema, tasks.deliver_batch.name, [acme.schema, [delivery_id]], {})

    tasks.deliver_batch(acme.schema, [first])

    with schema_context(acme.schema):
        assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert state["peak"] == 3  # the five parked ones went as a batch of three, then of two
    assert parked_count(DELIVERIES, acme.schema) == 0
    assert len(server.log) == 6


def test_parked_work_taken_but_not_reached_within_the_slice_goes_back_ahead_of_the_rest(acme, receiver, clean_share):
    server, _state = receiver
    subscribe(acme, server.url_for("/slow"))
    ids = events(acme, 4)
    with schema_context(acme.schema):
        dispatch.events_process(ids)
        slow, second, third, fourth = Delivery.objects.order_by("pk").values_list("pk", flat=True)
    clean_share.delete(DELIVERIES, parked_name(DELIVERIES, acme.schema))
    for delivery_id in (slow, second, third):  # single deliveries (as retries are), which are not merged
        assert park(DELIVERIES, acme.schema, tasks.deliver.name, [acme.schema, delivery_id, "scheduled"], {})
    assert park(DELIVERIES, acme.schema, tasks.deliver.name, [acme.schema, fourth, "scheduled"], {})

    # a slice shorter than the first POST (0.4 s): taken together, only the first is run
    tasks.deliver_batch._run_parked(DELIVERIES, acme.schema, until=time.monotonic() + 0.2)

    with schema_context(acme.schema):
        assert dict(Delivery.objects.values_list("pk", "status")) == {
            slow: "succeeded",
            second: "pending",
            third: "pending",
            fourth: "pending",
        }
    left = [json.loads(raw)["args"][1] for raw in clean_share.lrange(parked_name(DELIVERIES, acme.schema), 0, -1)]
    assert left == [second, third, fourth]  # in their order, ahead of what was parked behind them
