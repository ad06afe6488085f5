"""A run that cannot be handed to a worker (the broker is down) is not left queued forever: the API still answers,
and the run is failed with the reason the person sees."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.agents.models import AgentRun
from bizosaas.celery import app as celery_app
from tests.agents.test_runtime import Org
from tests.integrations.test_broker_outage import point_celery_at


@pytest.fixture
def acme(db):
    return Org("queueing")


@pytest.fixture
def dead_broker(tmp_path):
    previous = celery_app.conf.broker_url
    point_celery_at(f"redis+socket://{tmp_path}/no-broker.sock")
    try:
        yield
    finally:
        point_celery_at(previous)


def test_a_run_the_broker_does_not_take_is_failed_with_the_reason(
    api, acme, dead_broker, django_capture_on_commit_callbacks
):
    agent = acme.agent(provider=acme.provider())
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": "Hello"}, **acme.auth())
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    with schema_context(acme.schema):
        run = AgentRun.objects.get(pk=run_id)
    assert run.status == AgentRun.Status.FAILED
    assert "could not be queued" in run.error
    shown = api.get(f"/api/v1/runs/{run_id}/", **acme.auth())
    assert shown.status_code == 200 and shown.json()["status"] == "failed"


def test_a_run_the_broker_takes_stays_queued(api, acme, django_capture_on_commit_callbacks):
    agent = acme.agent(provider=acme.provider())
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": "Hello"}, **acme.auth())
    assert response.status_code == 202, response.content
    with schema_context(acme.schema):
        assert AgentRun.objects.get(pk=response.json()["id"]).status == AgentRun.Status.QUEUED
