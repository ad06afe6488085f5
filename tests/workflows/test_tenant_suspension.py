"""A suspended tenant's scheduled workflows stop firing and its activities refuse to run; resuming it resumes the
schedules (those of a disabled configuration stay paused). Against the real Temporal dev server."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant
from apps.accounts.services import tenant_set_status
from apps.workflows import client as wf_client
from apps.workflows.temporal.activities import tenant_ping
from tests.workflows.test_configs import Org, create_config, schedules  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

STAFF = Actor.system("test")


@pytest.fixture
def acme(db):
    return Org()


def paused(org, config: dict) -> bool:
    return wf_client.schedule_describe(org.schema, config["id"])["paused"]


def set_status(org, status: str, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        tenant_set_status(tenant=Tenant.objects.get(pk=org.tenant.pk), actor=STAFF, status=status)


def test_suspending_a_tenant_pauses_its_schedules_and_resuming_unpauses_them(
    api,
    acme,
    schedules,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    # given two scheduled configurations, one of them disabled by its tenant
    running = create_config(api, acme, schedules, schedule_cron="0 6 * * *")
    disabled = create_config(api, acme, schedules, schedule_cron="0 7 * * *", name="Off", enabled=False)
    assert (paused(acme, running), paused(acme, disabled)) == (False, True)

    # when the platform suspends the tenant, every schedule is paused
    set_status(acme, Tenant.Status.SUSPENDED, django_capture_on_commit_callbacks)
    assert (paused(acme, running), paused(acme, disabled)) == (True, True)

    # and a reconcile of the schema does not unpause them
    from apps.workflows.services import reconcile

    reconcile(acme.schema)
    assert (paused(acme, running), paused(acme, disabled)) == (True, True)

    # when it is resumed, the enabled one fires again and the disabled one stays paused
    set_status(acme, Tenant.Status.ACTIVE, django_capture_on_commit_callbacks)
    assert (paused(acme, running), paused(acme, disabled)) == (False, True)


@pytest.mark.django_db(transaction=True)  # the activity closes its connection, as on a worker thread
def test_an_activity_for_a_suspended_tenant_refuses_to_run_and_is_not_retried(django_capture_on_commit_callbacks):
    acme = Org()
    environment = ActivityEnvironment()
    assert environment.run(tenant_ping, acme.schema)["schema"] == acme.schema

    set_status(acme, Tenant.Status.SUSPENDED, django_capture_on_commit_callbacks)

    with pytest.raises(ApplicationError) as refused:
        environment.run(tenant_ping, acme.schema)
    assert refused.value.type == "TenantSuspended"
    assert refused.value.non_retryable is True
    # but the run's own record is still written, so a run cut off by the suspension ends failed with the reason
    from django_tenants.utils import schema_context

    from apps.workflows.models import WorkflowRun
    from apps.workflows.temporal.template_activities import finish, record_step

    with schema_context(acme.schema):
        run = WorkflowRun.objects.create(template="connection_sync", workflow_id=f"wf-{acme.schema}-cut")
    scoped = {"schema": acme.schema, "run_pk": run.pk}
    environment.run(record_step, {**scoped, "name": "read", "status": "failed", "error": "the tenant is suspended"})
    assert environment.run(finish, {**scoped, "status": "failed", "error": "the tenant is suspended"}) == {
        "status": "failed"
    }
    with schema_context(acme.schema):
        run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "the tenant is suspended")
    assert [step["status"] for step in run.steps] == ["failed"]
