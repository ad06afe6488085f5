"""The overview dashboard in the browser: connection health, and charts of events, deliveries and runs that show
the figures the gateway computes; the tenant switcher moves between a person's workspaces and the figures follow."""

from __future__ import annotations

import time

import pytest
from django_tenants.utils import schema_context

from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant
from apps.accounts.services import invitation_create
from apps.agents.models import Agent, AgentRun
from apps.connectors.models import Connection
from tests.portal.conftest import login, register, unique_slug

pytestmark = pytest.mark.django_db(transaction=True)


def auth(person: dict) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {person['access']}"}


def overview(client, person: dict, days: int = 7) -> dict:
    response = client.get("/api/v1/overview/", {"days": days}, **auth(person))
    assert response.status_code == 200, response.content
    return response.json()


def seed_events(client, person: dict, *, count: int, subscribe_to: str | None = None) -> None:
    """Events posted through the API; with a subscription, the worker delivers each to the receiver."""
    if subscribe_to:
        body = {"url": subscribe_to, "event_types": ["shop.order.*"]}
        response = client.post("/api/v1/webhooks/subscriptions/", body, content_type="application/json", **auth(person))
        assert response.status_code == 201, response.content
    for index in range(count):
        body = {"type": "shop.order.created", "payload": {"order": index}}
        response = client.post("/api/v1/events/", body, content_type="application/json", **auth(person))
        assert response.status_code == 202, response.content


def wait_for(condition, *, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def seed_connection_and_runs(slug: str, *, name: str, status: str, runs: int) -> None:
    with schema_context(Tenant.objects.get(slug=slug).schema_name):
        Connection.objects.create(provider="wordpress", name=name, status=status, last_error="")
        agent = Agent.objects.create(name="Helper", role="helps", goal="help")
        for _ in range(runs):
            AgentRun.objects.create(agent=agent, input="hi", status="succeeded", prompt_tokens=50, completion_tokens=10)


def test_the_dashboard_charts_show_the_figures_the_api_computes(page, client, celery_worker_thread, httpserver):
    httpserver.expect_request("/receiver").respond_with_data("ok")
    person = register(client, email=f"dash@{unique_slug('mail')}.example")
    seed_connection_and_runs(person["slug"], name="Shop blog", status="active", runs=2)
    seed_events(client, person, count=3, subscribe_to=httpserver.url_for("/receiver"))
    figures = wait_for(
        lambda: (body := overview(client, person))["totals"]["deliveries"]["delivered"] == 3 and body,
        what="three deliveries",
    )

    login(page, email=person["email"], password=person["password"])
    totals = page.get_by_test_id("total-events")
    totals.wait_for()
    page.steps.shot("dashboard with figures")
    assert totals.inner_text() == str(figures["totals"]["events"]["total"]) == "3"
    assert page.get_by_test_id("total-deliveries").inner_text() == "3"
    assert page.get_by_test_id("total-agent-runs").inner_text() == "2"
    assert page.get_by_test_id("total-connections").inner_text() == "1"

    # the connection's health card links to its page
    card = page.get_by_test_id("connection-card").filter(has_text="Shop blog")
    assert "Healthy" in card.inner_text()
    connection_id = figures["connections"]["items"][0]["id"]
    assert card.get_by_role("link", name="Shop blog").get_attribute("href") == f"/dashboard/connectors/{connection_id}"

    # charts are figures with a title and a summary screen readers read, and the data as a table
    deliveries = page.get_by_role("group", name="Webhook deliveries")
    assert "3 delivered" in page.get_by_test_id("chart-deliveries-summary").inner_text()
    assert deliveries.locator(".recharts-wrapper").count() == 1
    assert deliveries.locator(".recharts-bar-rectangle path").count() >= 1  # today's bar is drawn
    deliveries.get_by_text("Show as a table").click()
    table = deliveries.get_by_role("table")
    last_day = table.locator("tbody tr").last
    assert last_day.locator("td").first.inner_text() == "3"  # delivered today
    assert table.locator("tfoot td").all_inner_texts() == ["3", "0", "0"]
    assert "2 succeeded" in page.get_by_test_id("chart-agent-runs-summary").inner_text()
    assert "120 tokens" in page.get_by_role("group", name="Agent runs").inner_text()

    # the window: 24 hours buckets by hour
    page.get_by_role("button", name="24 hours").click()
    page.get_by_role("group", name="Events received").get_by_text("Show as a table").click()
    hourly = page.get_by_role("group", name="Events received").get_by_role("table")
    hourly.get_by_role("columnheader", name="Hour").wait_for()
    assert hourly.locator("tbody tr").count() == 24
    page.get_by_role("button", name="30 days").click()
    page.get_by_role("group", name="Events received").get_by_role("columnheader", name="Day (UTC)").wait_for()
    assert page.get_by_role("group", name="Events received").locator("tbody tr").count() == 30
    page.steps.shot("thirty days")

    # phone width: no horizontal scrolling of the page itself
    page.set_viewport_size({"width": 390, "height": 844})
    page.steps.shot("phone width")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_new_workspace_points_to_connectors(page, client):
    person = register(client, email=f"new@{unique_slug('mail')}.example")
    login(page, email=person["email"], password=person["password"])
    empty = page.get_by_test_id("empty").filter(has_text="Nothing to show yet")
    empty.wait_for()
    page.steps.shot("empty dashboard")
    empty.get_by_role("link", name="Connect your first service").click()
    page.wait_for_url("**/dashboard/connectors")


def test_the_tenant_switcher_changes_the_figures(page, client):
    person = register(client, email=f"two@{unique_slug('mail')}.example")
    seed_connection_and_runs(person["slug"], name="First shop", status="active", runs=1)
    seed_events(client, person, count=2)
    # a second workspace, which invites the same person
    other = register(client, email=f"owner@{unique_slug('mail')}.example")
    seed_connection_and_runs(other["slug"], name="Second shop", status="error", runs=4)
    second = Tenant.objects.get(slug=other["slug"])
    _invitation, token = invitation_create(
        tenant=second,
        email=person["email"],
        role="viewer",
        invited_by=None,
        actor=Actor.system("test"),
        inviter_role=None,
    )
    accepted = client.post(
        "/api/v1/auth/invitations/accept/",
        {"token": token, "password": person["password"]},
        content_type="application/json",
    )
    assert accepted.status_code == 200, accepted.content

    login(page, email=person["email"], password=person["password"], tenant=person["slug"])
    page.get_by_test_id("total-agent-runs").wait_for()
    assert page.get_by_test_id("total-agent-runs").inner_text() == "1"
    assert page.get_by_test_id("total-events").inner_text() == "2"
    page.steps.shot("first workspace")

    page.get_by_test_id("tenant-switcher").select_option(other["slug"])
    page.get_by_test_id("user-role").filter(has_text="viewer").wait_for()
    runs = page.get_by_test_id("total-agent-runs")
    page.wait_for_function("() => document.querySelector('[data-testid=total-agent-runs]')?.textContent === '4'")
    assert runs.inner_text() == "4"
    assert page.get_by_test_id("total-events").inner_text() == "0"
    assert "Failing" in page.get_by_test_id("connection-card").filter(has_text="Second shop").inner_text()
    assert page.get_by_text("First shop").count() == 0
    page.steps.shot("second workspace")
