"""`seed_demo`: the demo workspace gets objects that work offline (signed events through a real endpoint, a rule
that matches some of them, a subscription to the test receiver, a searchable guide, an agent, a workflow); a
second run changes nothing, and --reset starts over."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.models import Membership, Tenant
from apps.agents.knowledge.ingest import ingest_document
from apps.agents.knowledge.search import search
from apps.agents.models import Agent, Document, KnowledgeCollection
from apps.integrations import dispatch
from apps.integrations.models import ActionRun, Delivery, Event, InboundEndpoint, Rule, RuleRun, Subscription
from apps.integrations.receiver import receiver_url
from apps.workflows.models import WorkflowConfig

pytestmark = pytest.mark.django_db


def counts(schema: str) -> dict[str, int]:
    with schema_context(schema):
        models = (InboundEndpoint, Event, Subscription, Rule, KnowledgeCollection, Document, Agent, WorkflowConfig)
        return {model.__name__: model.objects.count() for model in models}


def work_the_queue(schema: str) -> None:
    """What the fan-out and action workers do, in the workspace's schema."""
    with schema_context(schema):
        for event_id in Event.objects.filter(status="pending").values_list("pk", flat=True):
            dispatch.event_process(event_id)
        for action_id in ActionRun.objects.filter(status="pending").values_list("pk", flat=True):
            dispatch.action_run_perform(action_id)


def test_seed_demo_fills_the_workspace_with_objects_that_work_offline(capsys):
    call_command("seed_demo")

    demo = Tenant.objects.get(slug="demo")
    assert "added: inbound endpoint, subscription to the test receiver, rule" in capsys.readouterr().out
    with schema_context(demo.schema_name):
        endpoint = InboundEndpoint.objects.get()
        assert (endpoint.name, endpoint.scheme, endpoint.enabled) == ("Demo shop", "standard_webhooks", True)
        events = list(Event.objects.order_by("id"))
        assert [e.type for e in events] == ["custom.order.created"] * 4 + ["custom.order.refunded"]
        assert {(e.source, e.endpoint_id) for e in events} == {("webhook", endpoint.pk)}
        # sent signed and stored only because the gateway verified them; the signature is not kept after that
        assert all("webhook-id" in e.headers and "webhook-signature" not in e.headers for e in events)
        subscription = Subscription.objects.get()
        assert subscription.url == receiver_url(demo)
        assert subscription.event_types == ["custom.order.refunded"]
        collection = KnowledgeCollection.objects.get()
        document = Document.objects.get()
        assert (document.collection_id, document.filename, document.status) == (collection.pk, "README.md", "pending")
        agent = Agent.objects.get()
        assert agent.template == "customer_support"
        assert list(agent.collections.values_list("pk", flat=True)) == [collection.pk]
        config = WorkflowConfig.objects.get()
        assert (config.template, config.schedule_cron) == ("agent_run", "")
        assert config.parameters["agent"] == agent.pk

    work_the_queue(demo.schema_name)

    with schema_context(demo.schema_name):
        matched = sorted(run.event.payload["order_id"] for run in RuleRun.objects.filter(matched=True))
        assert matched == [1002, 1004]  # the orders of 100 or more
        assert RuleRun.objects.filter(matched=False).count() == 2
        delivered = sorted((d.event.type, d.event.payload["order_id"]) for d in Delivery.objects.all())
        assert delivered == [
            ("custom.order.created", 1002),
            ("custom.order.created", 1004),
            ("custom.order.refunded", 1001),
        ]
        assert ingest_document(document.pk) == "ready"
        document.refresh_from_db()
        assert document.status == "ready" and document.chunks_count > 10
        hits = search("How does the test receiver verify signatures?", collection_ids=[collection.pk])
        assert hits and hits[0].document_title == "BizOSaaS user guide"


@pytest.mark.django_db(transaction=True)  # --reset drops a schema: as in a real run, not inside a test transaction
def test_seed_demo_twice_changes_nothing_and_reset_starts_over(capsys):
    call_command("seed_demo")
    demo = Tenant.objects.get(slug="demo")
    first = counts(demo.schema_name)
    with schema_context(demo.schema_name):
        endpoint_token = InboundEndpoint.objects.get().token

    call_command("seed_demo")

    assert "demo objects already present" in capsys.readouterr().out
    assert counts(demo.schema_name) == first
    with schema_context(demo.schema_name):
        assert InboundEndpoint.objects.get().duplicate_count == 0  # nothing was sent again

    time.sleep(0.01)
    before = timezone.now()
    call_command("seed_demo", reset=True)

    assert "dropped" in capsys.readouterr().out
    demo = Tenant.objects.get(slug="demo")
    assert counts(demo.schema_name) == first
    with schema_context(demo.schema_name):
        assert InboundEndpoint.objects.get().token != endpoint_token
        assert Event.objects.filter(received_at__lt=before).count() == 0
    assert Membership.objects.get(tenant=demo).role == "owner"
