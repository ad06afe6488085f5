"""The super-admin console's System health page: live figures over every tenant, for superusers only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.models import Tenant
from apps.connectors.models import Connection, ConnectionCheck
from apps.integrations.models import Delivery, Event, Subscription
from apps.workflows.models import WorkflowRun
from tests.factories import make_member, make_tenant, make_user

pytestmark = pytest.mark.django_db
PAGE = "/admin/system-health/"


@pytest.fixture
def console(settings):
    settings.GRAFANA_URL = "https://grafana.example.com/d/bizosaas-system-health"
    client = Client(HTTP_HOST="localhost")
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    return client


def figures(response) -> dict[str, int]:
    assert response.status_code == 200, response.content[:500]
    html = response.content.decode()
    return {name: int(value) for name, value in re.findall(r'data-figure="(\w+)">(\d+)<', html)}


def add_activity(tenant: Tenant, *, events: int, failed_deliveries: int, old_events: int = 0) -> None:
    with schema_context(tenant.schema_name):
        connection = Connection.objects.create(provider="wordpress", name="Blog", status=Connection.Status.ERROR)
        ConnectionCheck.objects.create(connection=connection, ok=False, latency_ms=12, error="401")
        subscription = Subscription.objects.create(url="https://receiver.example.com/hook", event_types=["*"])
        created = [Event.objects.create(source="api", type="order.created", payload={"n": i}) for i in range(events)]
        for event in created[:failed_deliveries]:
            Delivery.objects.create(event=event, subscription=subscription, status=Delivery.Status.FAILED)
        for i in range(old_events):
            old = Event.objects.create(
                source="api", type="order.created", payload={"old": i}, status=Event.Status.PROCESSED
            )
            Event.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(hours=2))
        run = WorkflowRun.objects.create(template="connector_report", workflow_id=f"wf-{tenant.slug}", trigger="manual")
        WorkflowRun.objects.filter(pk=run.pk).update(status=WorkflowRun.Status.FAILED, finished_at=timezone.now())


def test_a_superuser_sees_figures_that_move_with_activity_across_tenants(console):
    # given two tenants, one suspended
    acme = make_tenant(slug="acme")
    globex = make_tenant(slug="globex")
    make_tenant(slug="initech")
    Tenant.objects.filter(slug="initech").update(status=Tenant.Status.SUSPENDED)
    before = figures(console.get(PAGE))

    # when both active tenants receive events, and deliveries, checks and a workflow fail
    add_activity(acme, events=3, failed_deliveries=2, old_events=4)
    add_activity(globex, events=1, failed_deliveries=1)
    after = figures(console.get(PAGE))

    # then the page counts them (events older than an hour are not counted)
    assert before["tenants_active"] == 2 and before["tenants_suspended"] == 1
    assert before["events"] == before["deliveries_failed"] == before["workflow_failures"] == 0
    assert after["events"] == 4
    assert after["events_pending"] == 4
    assert after["deliveries"] == 3
    assert after["deliveries_failed"] == 3
    assert after["connector_errors"] == 2
    assert after["connections_failing"] == 2
    assert after["workflow_failures"] == 2
    html = console.get(PAGE).content.decode()
    assert 'href="https://grafana.example.com/d/bizosaas-system-health"' in html
    assert re.search(r'data-queue="bizosaas">\d+<', html)
    # the tenant with the most failures is listed first
    assert html.index("<td>acme</td>") < html.index("<td>globex</td>")


def test_the_console_home_links_to_the_page(console):
    response = console.get("/admin/")

    assert response.status_code == 200
    assert f'href="{PAGE}"' in response.content.decode()


def test_a_tenant_member_or_staff_user_is_refused(db):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner")
    staff = make_user(email="staff@example.com", is_staff=True)
    for user in (owner, staff):
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)

        response = client.get(PAGE)

        assert response.status_code == 302
        assert response.url.startswith("/admin/login/")
        assert b"data-figure" not in response.content

    anonymous = Client(HTTP_HOST="localhost").get(PAGE)
    assert anonymous.status_code == 302 and anonymous.url.startswith("/admin/login/")
