"""The public index of owed work: triggers keep one row per event, delivery and action a worker still owes, in the
row's own transaction, and the sweeper and the pending-events metric read it instead of visiting every tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.models import Tenant
from apps.integrations import dispatch, queueing
from apps.integrations.models import ActionRun, Delivery, Event
from apps.integrations.routing.models import PendingWork
from bizosaas.metrics import events_pending_count
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db


def owed(schema: str) -> set[tuple[str, str]]:
    return set(PendingWork.objects.filter(schema_name=schema).values_list("kind", "state"))


def order(org, total: int) -> Event:
    with schema_context(org.schema):
        return queueing.event_emit("shopify.order.create", {"total_price": total, "id": total})


def test_an_event_and_what_it_causes_are_owed_from_the_moment_they_are_stored_until_they_are_done(
    api, acme, globex, httpserver
):
    httpserver.expect_request("/receiver", method="POST").respond_with_data("ok")
    acme.big_orders_to(api, httpserver.url_for("/receiver"))
    event = order(acme, 80)
    assert owed(acme.schema) == {("event", "pending")}
    assert owed(globex.schema) == set()
    row = PendingWork.objects.get(schema_name=acme.schema)
    assert (row.object_id, row.at) == (event.pk, event.received_at)

    acme.run(dispatch.event_process, event.pk)  # one delivery for the subscription, one rule action
    assert owed(acme.schema) == {("delivery", "pending"), ("action", "pending")}

    with schema_context(acme.schema):
        action = ActionRun.objects.get()
        dispatch.action_run_perform(action.pk)
        for delivery in Delivery.objects.filter(status=Delivery.Status.PENDING):
            dispatch.delivery_send(delivery.pk, "scheduled")
        assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert owed(acme.schema) == set()
    assert len(httpserver.log) == 1  # the rule sends to the same subscription: one delivery per event and subscription


def test_the_index_follows_writes_the_orm_does_not_see_and_forgets_rolled_back_ones(acme):
    with schema_context(acme.schema):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO integrations_event (uid, source, provider, external_id, type, raw_type, payload, body,"
                " headers, status, attempts, received_at, error) VALUES (gen_random_uuid(), 'api', '', 'raw', 'a.b',"
                " 'a.b', '{}', '', '{}', 'pending', 0, now(), '') RETURNING id"
            )
            raw_id = cursor.fetchone()[0]
        assert set(PendingWork.objects.values_list("object_id", flat=True)) == {raw_id}

        with pytest.raises(RuntimeError), transaction.atomic():
            Event.objects.create(source="api", type="a.c", raw_type="a.c")
            raise RuntimeError("the request failed after storing")
        assert set(PendingWork.objects.values_list("object_id", flat=True)) == {raw_id}

        Event.objects.filter(pk=raw_id).update(status=Event.Status.FAILED)
        assert not PendingWork.objects.exists()
        Event.objects.filter(pk=raw_id).update(status=Event.Status.PENDING)
        assert PendingWork.objects.filter(object_id=raw_id).exists()
        Event.objects.filter(pk=raw_id).delete()
        assert not PendingWork.objects.exists()


def test_the_sweeper_visits_only_the_active_schemas_that_owe_work(acme, globex, settings):
    for _ in range(20):
        make_tenant()  # quiet tenants: nothing to visit
    settings.INTEGRATIONS_EVENT_GRACE_SECONDS = 30
    stuck = order(acme, 10)  # its broker message was lost: past its grace, never fanned out
    theirs = order(globex, 10)
    young = order(acme, 11)  # still on its way to the broker
    long_ago = timezone.now() - timedelta(minutes=5)
    for org, event in ((acme, stuck), (globex, theirs)):
        with schema_context(org.schema):
            Event.objects.filter(pk=event.pk).update(received_at=long_ago)
    PendingWork.objects.filter(object_id__in=[stuck.pk, theirs.pk]).update(at=long_ago)  # as the trigger does
    Tenant.objects.filter(pk=globex.tenant.pk).update(status=Tenant.Status.SUSPENDED)

    assert dispatch.owed_schemas() == [acme.schema]
    totals = dispatch.sweep()
    assert (totals["schemas"], totals["events"]) == (1, 1)
    with schema_context(acme.schema):
        assert Event.objects.get(pk=stuck.pk).enqueued_at is not None
        assert Event.objects.get(pk=young.pk).enqueued_at is None
    assert events_pending_count() == 2  # acme's two; the suspended tenant's are not counted

    # nothing owed: one query over the index, however many tenants there are
    PendingWork.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        totals = dispatch.sweep()
    assert totals["schemas"] == 0
    assert len(queries) == 1, [query["sql"] for query in queries]


def test_a_suspended_tenants_owed_work_does_not_crowd_out_an_active_ones(acme, globex, settings):
    settings.SWEEP_MAX_SCHEMAS = 1
    older, newer = order(globex, 10), order(acme, 10)
    PendingWork.objects.filter(object_id=older.pk, schema_name=globex.schema).update(
        at=timezone.now() - timedelta(hours=2)
    )
    PendingWork.objects.filter(object_id=newer.pk, schema_name=acme.schema).update(
        at=timezone.now() - timedelta(hours=1)
    )
    assert dispatch.owed_schemas() == [globex.schema]  # the longest-waiting first
    Tenant.objects.filter(pk=globex.tenant.pk).update(status=Tenant.Status.SUSPENDED)
    assert dispatch.owed_schemas() == [acme.schema]
