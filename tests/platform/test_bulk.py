"""bizosaas.bulk.rows_update: each row gets its own values, of every column type the engine writes, in one
statement, and no other row changes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.integrations.models import Event
from bizosaas.bulk import rows_update
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db


def test_every_row_gets_its_own_values_in_one_statement():
    tenant = make_tenant(slug="bulk-rows")
    with schema_context(tenant.schema_name):
        events = [
            Event.objects.create(source=Event.Source.API, type=f"t.{index}", payload={"n": index}) for index in range(4)
        ]
        untouched = Event.objects.create(source=Event.Source.API, type="t.other", payload={"n": -1})
        now = timezone.now()
        values = [
            ({"nested": {"list": [1, "two", None]}, "quote": 'it\'s "fine"'}, Event.Status.PROCESSED, now),
            ([], Event.Status.FAILED, None),
            (None, Event.Status.PROCESSED, now),  # JSON null, as bulk_update stores it
            ({"unicode": "Grüße ✓"}, Event.Status.PENDING, now),
        ]
        for event, (payload, status, processed) in zip(events, values, strict=True):
            event.payload, event.status, event.processed_at = payload, status, processed

        with CaptureQueriesContext(connection) as queries:
            assert rows_update(events, ["payload", "status", "processed_at"]) == 4
        assert len([q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]) == 1

        stored = {row.pk: row for row in Event.objects.all()}
        for event, (payload, status, processed) in zip(events, values, strict=True):
            assert (stored[event.pk].payload, stored[event.pk].status, stored[event.pk].processed_at) == (
                payload,
                status,
                processed,
            )
        assert stored[untouched.pk].payload == {"n": -1} and stored[untouched.pk].status == Event.Status.PENDING
        assert rows_update([], ["payload"]) == 0
