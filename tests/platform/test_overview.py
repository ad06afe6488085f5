"""GET /api/v1/overview/: the dashboard's figures for the caller's tenant — connections by status, and events,
deliveries, agent runs and workflow runs per UTC hour or day over a window, zero-filled, never another tenant's."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from werkzeug import Response

from apps.accounts.audit.services import Actor
from apps.accounts.services import api_key_create
from apps.agents.models import Agent, AgentRun
from apps.integrations import dispatch
from apps.integrations.models import Delivery, Event
from apps.workflows.models import WorkflowRun
from tests.integrations.conftest import Org

pytestmark = pytest.mark.django_db

OVERVIEW = "/api/v1/overview/"


@pytest.fixture
def north(db):
    return Org("north")


@pytest.fixture
def south(db):
    return Org("south")


def overview(api, org, *, role: str = "viewer", days: int | str | None = None) -> dict:
    response = api.get(OVERVIEW, {"days": days} if days is not None else None, **org.auth(role))
    assert response.status_code == 200, response.content
    return response.json()


def post_event(api, org, event_type: str) -> dict:
    response = api.post("/api/v1/events/", {"type": event_type, "payload": {"n": 1}}, **org.auth("member"))
    assert response.status_code == 202, response.content
    return response.json()


def subscribe(api, org, url: str) -> dict:
    body = {"url": url, "event_types": ["shop.order.*"]}
    response = api.post("/api/v1/webhooks/subscriptions/", body, **org.auth("admin"))
    assert response.status_code == 201, response.content
    return response.json()


def deliver_all(org) -> None:
    """What the worker does: fan out the pending events, then try each due delivery once."""
    org.process_pending()
    with schema_context(org.schema):
        due = list(Delivery.objects.filter(status=Delivery.Status.PENDING).values_list("pk", flat=True))
    for delivery_id in due:
        org.run(dispatch.delivery_send, delivery_id)


def seed_runs(org, *, agent_statuses: list[str], workflow_statuses: list[str]) -> None:
    with schema_context(org.schema):
        agent = Agent.objects.create(name="Helper", role="helps", goal="help")
        for status in agent_statuses:
            AgentRun.objects.create(agent=agent, input="hi", status=status, prompt_tokens=100, completion_tokens=20)
        for index, status in enumerate(workflow_statuses):
            WorkflowRun.objects.create(template="report", workflow_id=f"{org.schema}-wf-{index}", status=status)


def last(points: list[dict]) -> dict:
    return points[-1]


def test_figures_move_as_events_deliveries_and_runs_happen(api, north, httpserver):
    httpserver.expect_request("/ok").respond_with_data("ok")
    httpserver.expect_request("/gone").respond_with_response(Response("gone", status=410))
    north.connection("wordpress", name="Blog")
    broken = north.connection("hubspot", name="CRM")
    with schema_context(north.schema):
        type(broken).objects.filter(pk=broken.pk).update(status="error", last_error="401 from the provider")

    before = overview(api, north)
    assert before["totals"]["events"]["total"] == 0
    assert before["totals"]["deliveries"]["total"] == 0
    assert before["connections"]["total"] == 2
    assert before["connections"]["by_status"] == {"pending": 0, "active": 1, "error": 1, "needs_reauth": 0}
    assert [(c["name"], c["provider"], c["status"]) for c in before["connections"]["items"]] == [
        ("Blog", "wordpress", "active"),
        ("CRM", "hubspot", "error"),
    ]

    subscribe(api, north, httpserver.url_for("/ok"))
    subscribe(api, north, httpserver.url_for("/gone"))
    for _ in range(3):
        post_event(api, north, "shop.order.created")
    post_event(api, north, "other.thing.happened")  # no subscription: processed, no delivery
    pending = overview(api, north)
    assert pending["totals"]["events"] == {"pending": 4, "processed": 0, "failed": 0, "total": 4}

    deliver_all(north)
    seed_runs(north, agent_statuses=["succeeded", "succeeded", "failed"], workflow_statuses=["completed", "running"])

    after = overview(api, north)
    totals = after["totals"]
    # the four posted, and the platform's own event saying the 410 disabled a subscription (not fanned out yet)
    assert totals["events"] == {"pending": 1, "processed": 4, "failed": 0, "total": 5}
    # three events x two subscriptions: /ok answers 200, /gone answers 410 (failed for good, and the
    # subscription is disabled, so its later deliveries fail without a call)
    assert totals["deliveries"] == {"delivered": 3, "failed": 3, "pending": 0, "total": 6}
    assert totals["agent_runs"]["succeeded"] == 2 and totals["agent_runs"]["failed"] == 1
    assert totals["agent_runs"]["total"] == 3 and totals["agent_runs"]["tokens"] == 360
    assert totals["workflow_runs"]["completed"] == 1 and totals["workflow_runs"]["running"] == 1
    # everything happened today: the last daily bucket holds it all
    today = last(after["series"]["deliveries"])
    assert (today["delivered"], today["failed"], today["pending"]) == (3, 3, 0)
    assert last(after["series"]["events"])["processed"] == 4
    assert last(after["series"]["agent_runs"])["tokens"] == 360
    assert sum(point["completed"] for point in after["series"]["workflow_runs"]) == 1


def test_buckets_are_utc_hours_for_one_day_and_days_otherwise_zero_filled(api, north):
    post_event(api, north, "shop.order.created")
    post_event(api, north, "shop.order.created")
    three_days_ago = timezone.now() - timedelta(days=3)
    two_hours_ago = timezone.now() - timedelta(hours=2)
    with schema_context(north.schema):
        first, second = Event.objects.order_by("id").values_list("pk", flat=True)
        Event.objects.filter(pk=first).update(received_at=three_days_ago)
        Event.objects.filter(pk=second).update(received_at=two_hours_ago)

    week = overview(api, north)  # default: 7 days by day
    assert week["window"]["days"] == 7 and week["window"]["bucket"] == "day"
    days = week["series"]["events"]
    assert len(days) == 7
    starts = [datetime.fromisoformat(p["t"].replace("Z", "+00:00")) for p in days]
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) and s.hour == 0 for s in starts)
    assert [b - a for a, b in itertools.pairwise(starts)] == [timedelta(days=1)] * 6
    by_day = {s.date(): p["pending"] for s, p in zip(starts, days, strict=True)}
    assert by_day[three_days_ago.astimezone(UTC).date()] == 1
    assert by_day[two_hours_ago.astimezone(UTC).date()] == 1
    assert sum(by_day.values()) == 2
    assert week["totals"]["events"]["total"] == 2
    assert all(len(week["series"][name]) == 7 for name in ("deliveries", "agent_runs", "workflow_runs"))

    day = overview(api, north, days=1)
    assert day["window"]["bucket"] == "hour"
    hours = day["series"]["events"]
    assert len(hours) == 24
    hour_of = two_hours_ago.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    filled = [p for p in hours if p["pending"]]
    assert len(filled) == 1 and datetime.fromisoformat(filled[0]["t"].replace("Z", "+00:00")) == hour_of
    assert day["totals"]["events"]["total"] == 1  # the one of three days ago is outside the window

    month = overview(api, north, days=30)
    assert len(month["series"]["events"]) == 30 and month["totals"]["events"]["total"] == 2


def test_another_tenant_sees_none_of_these_figures(api, north, south):
    north.connection("wordpress", name="North blog")
    post_event(api, north, "shop.order.created")
    seed_runs(north, agent_statuses=["succeeded"], workflow_statuses=["completed"])

    seen = overview(api, south, role="owner")
    assert seen["connections"] == {
        "total": 0,
        "by_status": {"pending": 0, "active": 0, "error": 0, "needs_reauth": 0},
        "items": [],
    }
    for name in ("events", "deliveries", "agent_runs", "workflow_runs"):
        assert seen["totals"][name]["total"] == 0, name
    assert overview(api, north)["totals"]["events"]["total"] == 1
    # south's owner asking on north's domain still gets south's figures
    response = api.get(OVERVIEW, **south.auth("owner"), HTTP_HOST="north.localhost")
    assert response.status_code == 200
    assert response.json()["totals"]["agent_runs"]["total"] == 0


def test_viewers_and_tenant_read_keys_may_read_others_may_not(api, north):
    assert api.get(OVERVIEW, **north.auth("viewer")).status_code == 200
    assert api.get(OVERVIEW).status_code == 401
    system = Actor.system("test")
    _key, readable = api_key_create(
        tenant=north.tenant, name="dash", scopes=["tenant:read"], expires_at=None, created_by=None, actor=system
    )
    _key, other = api_key_create(
        tenant=north.tenant, name="events", scopes=["events:read"], expires_at=None, created_by=None, actor=system
    )
    assert api.get(OVERVIEW, HTTP_AUTHORIZATION=f"Bearer {readable}").status_code == 200
    refused = api.get(OVERVIEW, HTTP_AUTHORIZATION=f"Bearer {other}")
    assert refused.status_code == 403 and "tenant:read" in refused.json()["detail"]


@pytest.mark.parametrize("days", ["0", "31", "seven", "-3"])
def test_a_bad_window_is_refused_with_a_field_error(api, north, days):
    response = api.get(OVERVIEW, {"days": days}, **north.auth("viewer"))
    assert response.status_code == 400
    assert list(response.json()) == ["days"]


def test_the_overview_uses_a_constant_number_of_queries(api, north, django_assert_max_num_queries):
    for index in range(5):
        north.connection("wordpress", name=f"Blog {index}")
        post_event(api, north, "shop.order.created")
    seed_runs(north, agent_statuses=["succeeded"] * 5, workflow_statuses=["completed"] * 5)
    with django_assert_max_num_queries(16):
        body = overview(api, north, days=30)
    assert body["totals"]["events"]["total"] == 5
