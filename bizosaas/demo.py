"""The demo workspace: objects that work on this machine alone, so a newcomer sees the product do its job in the
first minute. Everything is made through the same services the API uses (validated, audited as `seed_demo`),
and is found again by name, so seeding twice changes nothing; `reset` drops the workspace and starts over.

- an inbound Standard Webhooks endpoint "Demo shop" and five orders sent through it, signed with its secret
  (the dashboard's charts and the events list have data);
- a subscription to the workspace's built-in test receiver (refunds), and a rule that sends the orders of 100
  or more to it: both end as verified requests on the receiver;
- a knowledge collection "Product guide" with this product's README ingested, so that search answers;
- a customer support agent installed from its template, allowed to search that collection;
- a workflow configuration running that agent, manual only, ready once an LLM provider is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection as db
from django_tenants.utils import schema_context, schema_exists

from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant, User
from apps.accounts.services import demo_seed
from apps.agents import services as agents
from apps.agents.agent_templates import install_template
from apps.agents.knowledge.ingest import collection_create, document_upload
from apps.agents.models import Agent, Document, KnowledgeCollection
from apps.integrations import inbound, outbound, receiver, rules, samples
from apps.integrations.models import Event, InboundEndpoint, Rule, Subscription
from apps.integrations.queueing import publisher
from apps.integrations.routing.models import PendingWork
from apps.workflows import services as workflows
from apps.workflows.models import WorkflowConfig

ACTOR = Actor.system("seed_demo")
ENDPOINT = "Demo shop"
SUBSCRIPTION = "Refunds and large orders, to the built-in test receiver"
RULE = "Large orders to the test receiver"
COLLECTION = "Product guide"
AGENT = "Support assistant"
WORKFLOW = "Answer a customer question"
GUIDE = ("README.md", "BizOSaaS user guide")
ORDERS = (  # (webhook-id, type, payload): the shop's events, as a shop would sign and send them
    ("msg_demo_order_1001", "order.created", {"order_id": 1001, "customer": "Ada Lovelace", "total": 42.5}),
    ("msg_demo_order_1002", "order.created", {"order_id": 1002, "customer": "Grace Hopper", "total": 180.0}),
    ("msg_demo_order_1003", "order.created", {"order_id": 1003, "customer": "Alan Turing", "total": 12.9}),
    ("msg_demo_order_1004", "order.created", {"order_id": 1004, "customer": "Katherine Johnson", "total": 260.0}),
    ("msg_demo_refund_1001", "order.refunded", {"order_id": 1001, "customer": "Ada Lovelace", "total": 42.5}),
)


@dataclass
class Seeded:
    tenant: Tenant
    owner: User
    created: list[str] = field(default_factory=list)  # what this run made (empty: everything was there)


def reset() -> bool:
    """Drops the demo workspace (its schema, routes, owed-work rows and Temporal schedules); True if there was one.
    A demo schema left without its tenant row is dropped too: starting over is what was asked."""
    tenant = Tenant.objects.filter(slug=settings.DEMO_TENANT_SLUG).first()
    if tenant is None:
        schema = settings.DEMO_TENANT_SLUG.replace("-", "_")
        if not schema_exists(schema):
            return False
        with db.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        PendingWork.objects.filter(schema_name=schema).delete()
        return True
    with schema_context(tenant.schema_name):
        for config in WorkflowConfig.objects.all():
            workflows.config_delete(tenant=tenant, actor=ACTOR, config=config)
    PendingWork.objects.filter(schema_name=tenant.schema_name).delete()
    tenant.delete(force_drop=True)
    return True


def seed() -> Seeded:
    tenant, owner, created = demo_seed(email=settings.DEMO_OWNER_EMAIL, password=settings.DEMO_OWNER_PASSWORD)
    done = Seeded(tenant=tenant, owner=owner, created=["workspace"] if created else [])
    with schema_context(tenant.schema_name):
        endpoint = _endpoint(tenant, done)
        subscription = _subscription(tenant, done)
        _rule(tenant, subscription, done)
        _orders(endpoint, done)
        collection = _knowledge(tenant, done)
        agent = _agent(tenant, collection, done)
        _workflow(tenant, agent, done)
    return done


def _endpoint(tenant: Tenant, done: Seeded) -> InboundEndpoint:
    endpoint = InboundEndpoint.objects.filter(name=ENDPOINT).first()
    if endpoint is None:
        endpoint, _shown = inbound.endpoint_create(
            tenant=tenant, actor=ACTOR, user_id=None, name=ENDPOINT, connection=None, scheme="standard_webhooks"
        )
        done.created.append("inbound endpoint")
    return endpoint


def _subscription(tenant: Tenant, done: Seeded) -> Subscription:
    subscription = Subscription.objects.filter(description=SUBSCRIPTION).first()
    if subscription is None:
        subscription, _secret = outbound.subscription_create(
            tenant=tenant,
            actor=ACTOR,
            user_id=None,
            url=receiver.receiver_url(tenant),
            event_types=["custom.order.refunded"],
            description=SUBSCRIPTION,
        )
        done.created.append("subscription to the test receiver")
    return subscription


def _rule(tenant: Tenant, subscription: Subscription, done: Seeded) -> None:
    if Rule.objects.filter(name=RULE).exists():
        return
    rules.rule_create(
        tenant=tenant,
        actor=ACTOR,
        user_id=None,
        data={
            "name": RULE,
            "description": "Orders of 100 or more are sent to the test receiver.",
            "trigger_event": "custom.order.created",
            "conditions": [{"field": "payload.total", "op": "gte", "value": 100}],
            "actions": [{"type": "send_to_subscription", "subscription": subscription.pk}],
        },
    )
    done.created.append("rule")


def _orders(endpoint: InboundEndpoint, done: Seeded) -> None:
    sent = set(Event.objects.filter(endpoint=endpoint).values_list("external_id", flat=True))
    for msg_id, event_type, payload in ORDERS:
        if msg_id in sent:
            continue
        answer = samples.send_signed(endpoint, event_type=event_type, payload=payload, msg_id=msg_id)
        if answer["status_code"] != 200:
            raise RuntimeError(f"the demo shop's event was refused: {answer['response']}")
        done.created.append(f"event {event_type} #{payload['order_id']}")

    publisher.flush()  # handed to the broker before the command ends (else the sweeper queues them)


def _knowledge(tenant: Tenant, done: Seeded) -> KnowledgeCollection:
    collection = KnowledgeCollection.objects.filter(name=COLLECTION).first()
    if collection is None:
        collection = collection_create(
            tenant=tenant, actor=ACTOR, name=COLLECTION, description="How BizOSaaS works: its own user guide."
        )
        done.created.append("knowledge collection")
    filename, title = GUIDE
    path = Path(settings.BASE_DIR) / filename
    if path.exists() and not Document.objects.filter(collection=collection, filename=filename).exists():
        upload = SimpleUploadedFile(filename, path.read_bytes(), content_type="text/markdown")
        document_upload(tenant=tenant, actor=ACTOR, collection=collection, uploaded_file=upload, title=title)
        done.created.append(f"document {filename} (ingested by the ingestion worker)")
    return collection


def _agent(tenant: Tenant, collection: KnowledgeCollection, done: Seeded) -> Agent:
    agent = Agent.objects.filter(name=AGENT).first()
    if agent is None:
        agent = install_template(tenant=tenant, actor=ACTOR, user_id=None, key="customer_support", name=AGENT)
        done.created.append("agent")
    if not agent.collections.filter(pk=collection.pk).exists():
        agent = agents.agent_update(
            tenant=tenant,
            actor=ACTOR,
            agent=agent,
            collections=[*agent.collections.values_list("pk", flat=True), collection.pk],
        )
    return agent


def _workflow(tenant: Tenant, agent: Agent, done: Seeded) -> None:
    if WorkflowConfig.objects.filter(name=WORKFLOW).exists():
        return
    workflows.config_create(
        tenant=tenant,
        actor=ACTOR,
        data={
            "name": WORKFLOW,
            "template": "agent_run",
            "parameters": {
                "agent": agent.pk,
                "input": "A customer asks how to check that an outbound webhook is signed correctly. Answer from the "
                "product guide, and say which section you used.",
            },
            "schedule_cron": "",
            "timezone": "UTC",
        },
    )
    done.created.append("workflow configuration")
