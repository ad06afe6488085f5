"""The whole published API, fuzzed: every operation of the OpenAPI schema, as an owner and as a viewer of a seeded
tenant. No input may get a 5xx, and every response must match the schema the portal's generated types are built
from.

The requests go through the real WSGI application (every middleware, the tenant from the JWT, the real database).
The tenant and one object of each kind are made once for the module inside a transaction that is rolled back at
its end; each operation's test runs inside a savepoint of it that is rolled back too, so what the fuzzer creates or
deletes is gone before the next operation, nothing it would queue on commit reaches Celery or Temporal, and
nothing is left for later tests. In a fresh tenant schema every table's first row
has id 1, and path ids are drawn mostly from the seeded ones, so detail, update and action operations reach real
objects and not only 404s.

Bounded for CI: the examples and fuzzing phases with a few derandomized examples per operation. Set
BIZOSAAS_FUZZ=deep for schemathesis' coverage phase too (boundary values, every wrong type, undeclared methods)
and more examples: minutes instead of seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant, User
from apps.accounts.tokens import token_pair
from tests.factories import make_member, make_tenant

SLUG = "fuzzed"
ACTOR = Actor.system("api_fuzz")
DEEP = os.environ.get("BIZOSAAS_FUZZ") == "deep"
EXAMPLES = 25 if DEEP else 3
CHECKS = [not_a_server_error, response_schema_conformance]
CONFIG = {
    "seed": 17,
    "generation": {"max-examples": EXAMPLES, "deterministic": True},
    "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": DEEP}},
}
SEEDED_ID = 1  # the first row of each table of the fresh tenant schema


@dataclass
class World:
    tenant: Tenant
    users: dict[str, User]


def _seed() -> World:
    """One object of each kind the API shows, made through the services where they exist (as the API makes them)
    and as rows where only workers make them (runs, deliveries)."""
    from apps.accounts.services import api_key_create, invitation_create
    from apps.agents import services as agents
    from apps.agents.agent_templates import install_template
    from apps.agents.knowledge.ingest import collection_create
    from apps.agents.models import AgentRun, Conversation, Message, RunStep
    from apps.connectors.models import Connection
    from apps.integrations import inbound, outbound, rules
    from apps.integrations.models import ActionRun, Delivery, DeliveryAttempt, Event, RuleRun
    from apps.workflows import services as workflows
    from apps.workflows.models import WorkflowApproval, WorkflowRun

    tenant = make_tenant(slug=SLUG)
    users = {role: make_member(tenant, role, email=f"{role}@{SLUG}.test") for role in ("owner", "viewer")}
    api_key_create(tenant=tenant, name="fuzz", scopes=["events:read"], expires_at=None, created_by=None, actor=ACTOR)
    invitation_create(
        tenant=tenant, email=f"invited@{SLUG}.test", role="member", invited_by=None, actor=ACTOR, inviter_role=None
    )
    with schema_context(tenant.schema_name):
        shop = Connection.objects.create(
            provider="shopify",
            name="Shop",
            config={"shop": "fuzzed"},
            credentials={"client_secret": "fuzz-secret"},
            status=Connection.Status.ACTIVE,
        )
        endpoint, _ = inbound.endpoint_create(
            tenant=tenant, actor=ACTOR, user_id=None, name="Plain", connection=None, scheme="standard_webhooks"
        )
        inbound.endpoint_create(
            tenant=tenant, actor=ACTOR, user_id=None, name="Shop hooks", connection=shop, scheme="provider"
        )
        subscription, _ = outbound.subscription_create(
            tenant=tenant, actor=ACTOR, user_id=None, url="http://127.0.0.1:9/hook", event_types=["custom.*"]
        )
        rule = rules.rule_create(
            tenant=tenant,
            actor=ACTOR,
            user_id=None,
            data={
                "name": "Large orders",
                "trigger_event": "custom.order.created",
                "conditions": [{"field": "payload.total", "op": "gte", "value": 100}],
                "actions": [{"type": "send_to_subscription", "subscription": subscription.pk}],
            },
        )
        event = Event.objects.create(
            source=Event.Source.WEBHOOK,
            endpoint=endpoint,
            type="custom.order.created",
            raw_type="order.created",
            external_id="msg_fuzz_1",
            payload={"total": 120},
        )
        rule_run = RuleRun.objects.create(rule=rule, event=event, matched=True, status=RuleRun.Status.SUCCEEDED)
        ActionRun.objects.create(
            rule_run=rule_run, position=0, type="send_to_subscription", idempotency_key="fuzz-1", status="succeeded"
        )
        delivery = Delivery.objects.create(event=event, subscription=subscription, status=Delivery.Status.FAILED)
        DeliveryAttempt.objects.create(delivery=delivery, number=1, status_code=500, error="refused")
        agents.provider_create(
            tenant=tenant,
            actor=ACTOR,
            user_id=None,
            name="Claude",
            kind="anthropic",
            default_model="claude-sonnet-4-5",
            api_key="fuzz-key",
        )
        agent = install_template(tenant=tenant, actor=ACTOR, user_id=None, key="customer_support", name="Support")
        conversation = Conversation.objects.create(agent=agent, title="Hello")
        run = AgentRun.objects.create(agent=agent, conversation=conversation, input="Hello", status="succeeded")
        RunStep.objects.create(run=run, position=0, kind=RunStep.Kind.ANSWER)
        Message.objects.create(conversation=conversation, role=Message.Role.USER, content="Hello", run=run)
        collection_create(tenant=tenant, actor=ACTOR, name="Guide", description="")
        config = workflows.config_create(
            tenant=tenant,
            actor=ACTOR,
            data={
                "name": "Answer",
                "template": "agent_run",
                "parameters": {"agent": agent.pk, "input": "Hello"},
                "schedule_cron": "",
                "timezone": "UTC",
            },
        )
        workflow_run = WorkflowRun.objects.create(
            config=config, template="agent_run", workflow_id="fuzz-run-1", status="waiting_approval"
        )
        WorkflowRun.objects.create(config=None, template="agent_run", workflow_id="fuzz-run-2", status="completed")
        WorkflowApproval.objects.create(run=workflow_run, step="publish", expires_at=timezone.now() + timedelta(days=1))
    return World(tenant=tenant, users=users)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The seeded tenant, inside a transaction the module rolls back at its end: nothing of it (its schema, its
    platform audit events, which no one may delete) outlives the module."""
    # Django's test client does the same around each request: the end of a request must not close the connection
    # that holds the transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            connection.set_schema_to_public()
            yield _seed()
            connection.set_schema_to_public()
            transaction.set_rollback(True)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _api_schema():
    """Generated from the code (not from the committed portal/openapi.json), so that the test follows the API."""
    from drf_spectacular.generators import SchemaGenerator

    from bizosaas.wsgi import application

    raw = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(raw, config=schemathesis.config.SchemathesisConfig.from_dict(CONFIG))
    loaded.app = application
    return loaded


schema = _api_schema()


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Mostly the seeded objects, sometimes whatever the schema allows."""
    known = {name: SEEDED_ID for name in path_parameters or () if name in ("id", "agent_id")}
    if not known:
        return st.just(path_parameters)
    return st.sampled_from([{**path_parameters, **known}, path_parameters])


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _auth(world: World, role: str) -> dict:
    return {"Authorization": f"Bearer {token_pair(user=world.users[role], tenant=world.tenant)['access']}"}


@schema.parametrize()
@FUZZ
def test_an_owner_gets_no_server_error_and_only_responses_the_schema_describes(case, world, db):
    case.call_and_validate(headers=_auth(world, "owner"), checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_a_viewer_gets_no_server_error_and_only_responses_the_schema_describes(case, world, db):
    case.call_and_validate(headers=_auth(world, "viewer"), checks=CHECKS)
