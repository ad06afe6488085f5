"""Connection health: the operator command and the scheduled sweep on the real Temporal dev server."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context
from temporalio.api.enums.v1 import EventType

from apps.accounts.audit.services import Actor
from apps.connectors.models import ConnectionCheck
from apps.connectors.services import connection_create
from apps.workflows.temporal.platform import ConnectionHealthWorkflow
from apps.workflows.temporal.worker import HEALTH_SCHEDULE_ID, build_worker, ensure_platform_schedules
from bizosaas.temporal import connect
from tests.connectors.providers.test_wordpress import APP_PASSWORD, USER, FakeWordPress
from tests.factories import make_tenant


def add_wordpress(tenant, fake, password):
    with schema_context(tenant.schema_name):
        return connection_create(
            tenant=tenant,
            actor=Actor.system("test"),
            user_id=None,
            provider="wordpress",
            name=f"wp-{password}",
            config={"site_url": fake.site_url, "username": USER, "application_password": password},
        )


@pytest.mark.django_db
def test_check_connections_reports_each_tenant_and_records_history(httpserver, capsys):
    fake = FakeWordPress(httpserver)
    acme, globex = make_tenant(slug="acme"), make_tenant(slug="globex")
    add_wordpress(acme, fake, APP_PASSWORD)
    add_wordpress(globex, fake, "wrong")

    call_command("check_connections")

    out = capsys.readouterr().out
    assert "checked 2 connection(s) in 2 tenant(s): 1 ok, 1 failing" in out
    assert "FAIL globex/wp-wrong (wordpress): " in out
    with schema_context("acme"):
        assert list(ConnectionCheck.objects.values_list("ok", "trigger")) == [(True, "operator")]
    with pytest.raises(CommandError, match="no active tenant"):
        call_command("check_connections", "--tenant", "nope")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", [50, 1])
def test_the_scheduled_sweep_checks_every_tenant_a_page_per_run(httpserver, page):
    fake = FakeWordPress(httpserver)
    acme, globex = make_tenant(slug=f"sweep-a{page}"), make_tenant(slug=f"sweep-b{page}")
    add_wordpress(acme, fake, APP_PASSWORD)
    add_wordpress(globex, fake, "wrong")

    async def sweep():
        client = await connect()
        queue = f"test-{uuid.uuid4().hex}"
        with ThreadPoolExecutor(max_workers=2) as executor:
            async with build_worker(client, task_queue=queue, executor=executor):
                handle = await client.start_workflow(
                    ConnectionHealthWorkflow.run, {"page": page}, id=f"sweep-{uuid.uuid4().hex}", task_queue=queue
                )
                totals = await handle.result()  # follows the runs it continued as
                first_run = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
                history = await first_run.fetch_history()
                return totals, [event.event_type for event in history.events]

    totals, first_history = asyncio.run(sweep())

    assert totals == {"tenants": 2, "checked": 2, "failing": 1}
    continued = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW in first_history
    assert continued == (page == 1)  # a page per run: no history holds more than a page of tenants
    with schema_context(globex.schema_name):
        check = ConnectionCheck.objects.get()
        assert (check.ok, check.trigger) == (False, "scheduled")


@pytest.mark.django_db
def test_the_health_schedule_is_ensured_idempotently():
    async def ensure_twice():
        client = await connect()
        await ensure_platform_schedules(client, task_queue="bizosaas-test")
        await ensure_platform_schedules(client, task_queue="bizosaas-test")
        description = await client.get_schedule_handle(HEALTH_SCHEDULE_ID).describe()
        return description.schedule.spec.intervals[0].every.total_seconds()

    assert asyncio.run(ensure_twice()) == 15 * 60
