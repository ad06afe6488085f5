"""A tenant's rule actions are performed in batches: one task claims several due action runs, performs them in order
and writes their outcomes together, then hands the next actions and the deliveries they made to the queue in bulk;
each action is performed exactly once, as if alone, and a batch starts no action after its slice."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_redis import get_redis_connection
from django_tenants.utils import schema_context

from apps.integrations import dispatch
from apps.integrations.models import ActionRun, Delivery, Event, RuleRun
from bizosaas.work import ACTIONS, DELIVERIES, parked_name, slot_name
from tests.integrations.conftest import Org

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def org():
    return Org(f"actions-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def broker(org):
    """The broker's lists, with the tenant's parked lists and leases empty (the tests run the tasks themselves)."""
    redis = get_redis_connection("default")
    keys = [
        key
        for work in (ACTIONS, DELIVERIES)
        for key in (work, parked_name(work, org.schema), "bzs:slot:" + slot_name(work, org.schema))
    ]
    redis.delete(*keys)
    yield redis
    redis.delete(*keys)


def two_step_rule(api, org, httpserver) -> tuple[int, int]:
    """A rule sending each order to two subscriptions, one action each: the subscriptions' ids."""
    subscriptions = []
    for path in ("/first", "/second"):
        answer = api.post(
            "/api/v1/webhooks/subscriptions/",
            {"url": httpserver.url_for(path), "event_types": ["none.*"]},
            **org.auth(),
        )
        assert answer.status_code == 201, answer.content
        subscriptions.append(answer.json()["id"])
    rule = api.post(
        "/api/v1/rules/",
        {
            "name": "Both",
            "trigger_event": "shopify.order.create",
            "actions": [{"type": "send_to_subscription", "subscription": pk} for pk in subscriptions],
        },
        **org.auth(),
    )
    assert rule.status_code == 201, rule.content
    return subscriptions[0], subscriptions[1]


def orders(org, count: int) -> list[int]:
    with schema_context(org.schema):
        ids = [
            Event.objects.create(source=Event.Source.WEBHOOK, type="shopify.order.create", payload={"n": n}).pk
            for n in range(count)
        ]
        dispatch.events_process(ids)
    return ids


def updates_of(queries, table: str) -> int:
    return sum(1 for q in queries.captured_queries if q["sql"].startswith(f'UPDATE "{table}"'))


def test_a_batch_of_actions_is_performed_and_handed_on_in_the_same_few_writes_whatever_its_size(
    api, org, broker, httpserver
):
    first_subscription, second_subscription = two_step_rule(api, org, httpserver)
    for size in (2, 6):
        events = orders(org, size)
        assert broker.llen(ACTIONS) == 1  # the fan-out queued the first actions as one task
        broker.delete(ACTIONS)
        with schema_context(org.schema):
            firsts = list(
                ActionRun.objects.filter(rule_run__event_id__in=events, position=0)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        with schema_context(org.schema), CaptureQueriesContext(connection) as queries:
            dispatch.action_runs_perform(firsts)  # what the task runs
        # one claim, one write of the successes, one to make the next actions due: not one each
        assert updates_of(queries, "integrations_actionrun") == 3
        assert broker.llen(ACTIONS) == 1  # the second actions, as one task
        assert broker.llen(DELIVERIES) == 1  # the deliveries the actions wrote, as one task
        broker.delete(ACTIONS, DELIVERIES)
        with schema_context(org.schema):
            runs = ActionRun.objects.filter(rule_run__event_id__in=events)
            assert {(r.position, r.status, r.attempts) for r in runs} == {(0, "succeeded", 1), (1, "pending", 0)}
            assert set(Delivery.objects.filter(event_id__in=events).values_list("subscription_id", flat=True)) == {
                first_subscription
            }
            seconds = list(runs.filter(position=1).order_by("pk").values_list("pk", flat=True))

        with schema_context(org.schema), CaptureQueriesContext(connection) as queries:
            dispatch.action_runs_perform(seconds)
        assert updates_of(queries, "integrations_rulerun") == 1  # every rule run finished in one statement
        with schema_context(org.schema):
            assert set(RuleRun.objects.filter(event_id__in=events).values_list("status", flat=True)) == {"succeeded"}
            pairs = set(Delivery.objects.filter(event_id__in=events).values_list("event_id", "subscription_id"))
            assert pairs == {(e, s) for e in events for s in (first_subscription, second_subscription)}
        broker.delete(DELIVERIES)

    org.run(dispatch.action_runs_perform, firsts)  # redelivered: nothing is performed twice
    with schema_context(org.schema):
        assert Delivery.objects.count() == 2 * 8
        assert set(ActionRun.objects.values_list("attempts", flat=True)) == {1}


def test_a_batch_starts_no_action_after_its_slice_and_gives_the_rest_back_unperformed(
    api, org, broker, settings, httpserver
):
    settings.TENANT_WORK_SLICE_SECONDS = 0
    two_step_rule(api, org, httpserver)
    events = orders(org, 3)
    broker.delete(ACTIONS)
    with schema_context(org.schema):
        firsts = list(
            ActionRun.objects.filter(rule_run__event_id__in=events, position=0)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    org.run(dispatch.action_runs_perform, firsts)

    with schema_context(org.schema):
        state = {r.pk: (r.status, r.attempts, r.started_at) for r in ActionRun.objects.filter(pk__in=firsts)}
        assert state[firsts[0]][:2] == ("succeeded", 1)  # one is always performed
        for pk in firsts[1:]:
            assert state[pk] == ("pending", 0, None)  # as they were: claimed, not performed, not counted
        assert Delivery.objects.count() == 1
    # given back to the queue (the first's next action and the two given back)
    assert broker.llen(ACTIONS) == 2

    settings.TENANT_WORK_SLICE_SECONDS = 30
    org.run(dispatch.action_runs_perform, firsts)
    with schema_context(org.schema):
        assert set(ActionRun.objects.filter(pk__in=firsts).values_list("status", "attempts")) == {("succeeded", 1)}
        assert Delivery.objects.count() == 3


def test_a_first_try_writes_its_delivery_without_looking_for_one_and_a_second_try_writes_none(
    api, org, broker, httpserver
):
    first, _second = two_step_rule(api, org, httpserver)
    [event_id] = orders(org, 1)
    with schema_context(org.schema):
        run = ActionRun.objects.get(rule_run__event_id=event_id, position=0)
        with CaptureQueriesContext(connection) as queries:
            dispatch.action_runs_perform([run.pk])
        looked = [q for q in queries.captured_queries if q["sql"].startswith("SELECT") and "_delivery" in q["sql"]]
        delivery = Delivery.objects.get(event_id=event_id, subscription_id=first)
        run.refresh_from_db()
        assert (run.status, run.result) == (ActionRun.Status.SUCCEEDED, {"delivery": delivery.pk, "queued": True})
        assert looked == []

        # tried again, as after a worker lost between writing the delivery and recording the success
        ActionRun.objects.filter(pk=run.pk).update(status=ActionRun.Status.PENDING)
        dispatch.action_runs_perform([run.pk])

        run.refresh_from_db()
        assert (run.status, run.attempts, run.result) == (
            ActionRun.Status.SUCCEEDED,
            2,
            {"delivery": delivery.pk, "queued": False},
        )
        assert Delivery.objects.filter(event_id=event_id, subscription_id=first).count() == 1
