"""Connection health: the operator command and the scheduled sweep on the real Temporal dev server."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

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
def test_the_scheduled_sweep_checks_every_tenant(httpserver):
    fake = FakeWordPress(httpserver)
    acme, globex = make_tenant(slug="sweep-a"), make_tenant(slug="sweep-b")
    add_wordpress(acme, fake, APP_PASSWORD)
    add_wordpress(globex, fake, "wrong")

    async def sweep():
        client = await connect()
        queue = f"test-{uuid.uuid4().hex}"
        with ThreadPoolExecutor(max_workers=2) as executor:
            async with build_worker(client, task_queue=queue, executor=executor):
                return await client.execute_workflow(
                    ConnectionHealthWorkflow.run, id=f"sweep-{uuid.uuid4().hex}", task_queue=queue
                )

    totals = asyncio.run(sweep())

    assert totals == {"tenants": 2, "checked": 2, "failing": 1}
    with schema_context("sweep_b"):
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
