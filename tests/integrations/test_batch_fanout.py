"""A batch of accepted events is fanned out in one transaction with bulk writes: each event gets exactly what it
would get alone, the statements do not grow with the batch, one bad event does not hold up the others, and the
work is queued per tenant share in bulk."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.integrations import dispatch, queueing, tasks
from apps.integrations import expressions as ex
from apps.integrations.models import ActionRun, Delivery, Event, RuleRun
from bizosaas import leases
from bizosaas.work import DELIVERIES, parked_count, parked_name, slot_name
from tests.integrations.conftest import Org

pytestmark = pytest.mark.django_db


def orders(org, totals: list[int]) -> list[int]:
    with schema_context(org.schema):
        return [
            Event.objects.create(
                source=Event.Source.WEBHOOK, provider="shopify", type="shopify.order.create", payload={"total_price": t}
            ).pk
            for t in totals
        ]


def test_a_batch_gives_each_event_its_deliveries_and_rule_runs_as_alone(api, acme, globex, httpserver):
    sub, _rule = acme.big_orders_to(api, httpserver.url_for("/receiver"))
    other = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": httpserver.url_for("/refunds"), "event_types": ["shopify.refund.*"]},
        **acme.auth(),
    ).json()
    ids = orders(acme, [80, 20, 120])
    with schema_context(acme.schema):
        refund = Event.objects.create(source=Event.Source.WEBHOOK, type="shopify.refund.create", payload={}).pk
        dispatch.events_process([*ids, refund])
        assert set(Event.objects.values_list("status", flat=True)) == {Event.Status.PROCESSED}
        pairs = set(Delivery.objects.values_list("event_id", "subscription_id"))
        assert pairs == {(ids[0], sub["id"]), (ids[1], sub["id"]), (ids[2], sub["id"]), (refund, other["id"])}
        runs = dict(RuleRun.objects.values_list("event_id", "matched"))
        assert runs == {ids[0]: True, ids[1]: False, ids[2]: True}  # the refund's type is not the rule's trigger
        first_actions = ActionRun.objects.filter(position=0)
        assert sorted(first_actions.values_list("rule_run__event_id", flat=True)) == [ids[0], ids[2]]
        assert all(action.enqueued_at is not None for action in first_actions)  # queued with the batch
        assert Delivery.objects.filter(enqueued_at__isnull=True).count() == 0
        dispatch.events_process(ids)  # redelivered: nothing twice
        assert Delivery.objects.count() == 4 and RuleRun.objects.count() == 3
    with schema_context(globex.schema):
        assert not Delivery.objects.exists()


def test_the_statements_of_a_batch_do_not_grow_with_its_size(api, acme, httpserver):
    acme.big_orders_to(api, httpserver.url_for("/receiver"))

    def statements(size: int) -> int:
        ids = orders(acme, [80] * size)
        with schema_context(acme.schema), CaptureQueriesContext(connection) as queries:
            dispatch.events_process(ids)
        return len(queries.captured_queries)

    statements(1)  # the tenant's quota overrides are read once a moment
    assert statements(40) == statements(4)


def test_one_event_that_cannot_be_fanned_out_does_not_hold_up_the_others(api, acme, httpserver, monkeypatch):
    acme.big_orders_to(api, httpserver.url_for("/receiver"))
    ids = orders(acme, [80, 13, 90])
    evaluate = ex.evaluate

    def fails_on_13(match, conditions, context):
        if context["payload"].get("total_price") == 13:
            raise RuntimeError("cannot evaluate this one")
        return evaluate(match, conditions, context)

    monkeypatch.setattr(ex, "evaluate", fails_on_13)
    with schema_context(acme.schema), pytest.raises(RuntimeError):
        dispatch.events_process(ids)
    with schema_context(acme.schema):
        status = dict(Event.objects.values_list("pk", "status"))
        assert status == {ids[0]: "processed", ids[1]: "pending", ids[2]: "processed"}
        bad = Event.objects.get(pk=ids[1])
        assert (bad.attempts, bad.error) == (1, "RuntimeError: cannot evaluate this one")
        assert set(Delivery.objects.values_list("event_id", flat=True)) == {ids[0], ids[2]}


def test_work_queued_in_bulk_goes_to_the_broker_up_to_the_tenants_share_and_waits_in_order_beyond(acme, settings):
    from django_redis import get_redis_connection

    settings.TENANT_IN_FLIGHT = {**settings.TENANT_IN_FLIGHT, DELIVERIES: 2}
    redis = get_redis_connection("default")
    redis.delete(parked_name(DELIVERIES, acme.schema), "bzs:slot:" + slot_name(DELIVERIES, acme.schema))
    try:
        tasks.deliver.apply_many(acme.schema, [(acme.schema, n, "scheduled") for n in range(1, 6)])
        assert parked_count(DELIVERIES, acme.schema) == 3
        parked = [json.loads(item)["args"] for item in redis.lrange(parked_name(DELIVERIES, acme.schema), 0, -1)]
        assert parked == [[acme.schema, 3, "scheduled"], [acme.schema, 4, "scheduled"], [acme.schema, 5, "scheduled"]]
        held = [leases.try_acquire(slot_name(DELIVERIES, acme.schema), limit=2, lease=60) for _ in range(2)]
        assert all(held)  # the two sent tasks are running
        tasks.deliver.apply_many(acme.schema, [(acme.schema, 6, "scheduled")])  # behind what already waits
        assert parked_count(DELIVERIES, acme.schema) == 4
    finally:
        redis.delete(parked_name(DELIVERIES, acme.schema))


@pytest.fixture
def shop(transactional_db):
    """A tenant of its own: a transactional test's tenants outlive it (their schemas stay)."""
    return Org(f"chain-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def own_share(shop, settings):
    """The tenant with one delivery task and one fan-out in flight at most, one delivery a task, its parked lists
    and leases empty."""
    from django_redis import get_redis_connection

    from bizosaas.work import FANOUT

    settings.TENANT_IN_FLIGHT = {**settings.TENANT_IN_FLIGHT, DELIVERIES: 1, FANOUT: 1}
    settings.DELIVERY_BATCH_SIZE = 1
    redis = get_redis_connection("default")
    keys = [
        key
        for work in (DELIVERIES, FANOUT)
        for key in (parked_name(work, shop.schema), "bzs:slot:" + slot_name(work, shop.schema))
    ]
    redis.delete(*keys)
    yield redis
    redis.delete(*keys)


def three_deliveries(api, shop, httpserver) -> int:
    """Three events to one subscription, fanned out: the first delivery goes to the broker, the other two wait
    parked behind it (the tenant's share is one); the first one's id."""
    httpserver.expect_request("/plain", method="POST").respond_with_data("ok")
    api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": httpserver.url_for("/plain"), "event_types": ["shopify.*"]},
        **shop.auth(),
    )
    ids = orders(shop, [1, 2, 3])
    with schema_context(shop.schema):
        dispatch.events_process(ids)
        first = Delivery.objects.order_by("pk").values_list("pk", flat=True)[0]
    assert parked_count(DELIVERIES, shop.schema) == 2
    return first


def test_a_finished_delivery_runs_its_tenants_parked_deliveries_on_within_its_slice(
    api, shop, httpserver, own_share, settings
):
    settings.TENANT_WORK_SLICE_SECONDS = 30
    first = three_deliveries(api, shop, httpserver)

    tasks.deliver(shop.schema, first)  # what the worker that took the first one runs

    with schema_context(shop.schema):
        assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert len(httpserver.log) == 3
    assert parked_count(DELIVERIES, shop.schema) == 0
    assert leases.in_use(slot_name(DELIVERIES, shop.schema)) == 0


def test_with_no_slice_a_finished_delivery_hands_the_next_parked_one_back_to_the_queue(
    api, shop, httpserver, own_share, settings
):
    settings.TENANT_WORK_SLICE_SECONDS = 0
    first = three_deliveries(api, shop, httpserver)
    queued = own_share.llen(DELIVERIES)

    tasks.deliver(shop.schema, first)

    assert len(httpserver.log) == 1
    assert own_share.llen(DELIVERIES) == queued + 1  # the next one goes through the queue, behind other tenants
    assert parked_count(DELIVERIES, shop.schema) == 1


def test_parked_fan_out_batches_of_a_tenant_are_fanned_out_together(api, shop, httpserver, own_share, settings):
    from bizosaas.work import FANOUT, park

    shop.big_orders_to(api, httpserver.url_for("/receiver"))
    settings.TENANT_WORK_SLICE_SECONDS = 30
    first, *parked = (orders(shop, [80]) for _ in range(4))
    for ids in parked:
        assert park(FANOUT, shop.schema, tasks.process_events.name, [shop.schema, ids], {})

    with schema_context(shop.schema), CaptureQueriesContext(connection) as queries:
        tasks.process_events(shop.schema, first)
        assert set(Event.objects.values_list("status", flat=True)) == {Event.Status.PROCESSED}
        assert Delivery.objects.count() == 4 and RuleRun.objects.filter(matched=True).count() == 4
    claims = [
        q for q in queries.captured_queries if "FOR UPDATE SKIP LOCKED" in q["sql"] and "integrations_event" in q["sql"]
    ]
    assert len(claims) == 2  # the task's own batch, then the three parked ones as one
    assert parked_count(FANOUT, shop.schema) == 0


def test_a_rule_action_queues_its_delivery_or_leaves_it_for_the_sweeper(api, acme, httpserver, monkeypatch):
    """The rule's delivery is written already marked as queued; when the broker does not take it, the mark is
    taken off, so the sweeper queues it."""
    extra = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": httpserver.url_for("/rule"), "event_types": ["internal.only"]},
        **acme.auth(),
    ).json()
    rule = api.post(
        "/api/v1/rules/",
        {
            "name": "Orders to the extra endpoint",
            "trigger_event": "shopify.order.create",
            "actions": [{"type": "send_to_subscription", "subscription": extra["id"]}],
        },
        **acme.auth(),
    )
    assert rule.status_code == 201, rule.content
    up, down = orders(acme, [80, 90])
    with schema_context(acme.schema):
        dispatch.events_process([up, down])
        actions = dict(ActionRun.objects.values_list("rule_run__event_id", "pk"))
        dispatch.action_run_perform(actions[up])
        monkeypatch.setattr(queueing, "_broker_down_until", time.monotonic() + 60)  # the broker just failed
        dispatch.action_run_perform(actions[down])
        queued = dict(Delivery.objects.filter(subscription_id=extra["id"]).values_list("event_id", "enqueued_at"))
        assert queued[up] is not None and queued[down] is None
        assert ActionRun.objects.get(pk=actions[down]).status == ActionRun.Status.SUCCEEDED
        queueing.broker_pause_reset()
        assert dispatch.schema_sweep()["deliveries"] >= 1
        assert Delivery.objects.get(event_id=down, subscription_id=extra["id"]).enqueued_at is not None
