"""An agent searching its knowledge base during a run: only the collections it was given, in its own tenant,
with citations (document and page) handed back to the model."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.accounts.audit.services import Actor
from apps.agents.knowledge.ingest import collection_create, ingest_document
from apps.agents.models import Document, DocumentFile, KnowledgeCollection, RunStep
from tests.agents.test_runtime import Org, act, final, scripted_llm, start

pytestmark = pytest.mark.django_db

POLICY = (
    b"# Returns policy\n\n"
    b"Customers may return any unworn item within 45 days of delivery for a full refund.\n\n"
    b"Gift cards cannot be refunded."
)


def ingested_collection(org: Org, name: str, text: bytes) -> KnowledgeCollection:
    with schema_context(org.schema):
        collection = collection_create(tenant=org.tenant, actor=Actor.system("test"), name=name)
        document = Document.objects.create(
            collection=collection,
            title=f"{name} handbook",
            filename="policy.md",
            content_type="text/markdown",
            size=len(text),
            sha256="-",
        )
        DocumentFile.objects.create(document=document, data=text)
        assert ingest_document(document.pk) == Document.Status.READY
        return collection


@pytest.fixture
def acme(db):
    return Org("acme")


@pytest.fixture
def globex(db):
    return Org("globex")


def test_an_agent_cites_its_own_knowledge_in_a_run(api, acme):
    policies = ingested_collection(acme, "Policies", POLICY)
    agent = acme.agent(provider=acme.provider())
    with schema_context(acme.schema):
        agent.collections.add(policies)
    llm = scripted_llm([act("search_knowledge", query="how long can customers return items"), final("45 days.")])

    run = start(api, acme, agent, "How long do customers have to return an item?")
    acme.execute(run["id"], llm)

    detail = api.get(f"/api/v1/runs/{run['id']}/", **acme.auth("viewer")).json()
    assert detail["status"] == "succeeded" and detail["output"] == "45 days."
    with schema_context(acme.schema):
        step = RunStep.objects.get(run_id=run["id"], kind=RunStep.Kind.TOOL_CALL)
    assert step.tool == "search_knowledge"
    assert "45 days" in step.result_summary and "Policies handbook" in step.result_summary
    observation = " ".join(str(m.get("content")) for m in llm.received[-1])
    assert "45 days of delivery" in observation  # the passage reached the model


def test_an_agent_without_collections_is_refused_the_search(api, acme):
    ingested_collection(acme, "Policies", POLICY)
    agent = acme.agent(provider=acme.provider())  # no collection granted
    llm = scripted_llm([act("search_knowledge", query="returns"), final("I could not look it up.")])

    run = start(api, acme, agent, "What is the returns policy?")
    acme.execute(run["id"], llm)

    with schema_context(acme.schema):
        kinds = list(RunStep.objects.filter(run_id=run["id"]).values_list("kind", flat=True))
    assert RunStep.Kind.TOOL_CALL not in kinds
    observation = " ".join(str(m.get("content")) for m in llm.received[-1])
    assert "45 days" not in observation


def test_another_tenant_can_neither_grant_nor_search_the_collection(api, acme, globex):
    policies = ingested_collection(acme, "Policies", POLICY)
    theirs = globex.agent(provider=globex.provider())

    granted = api.patch(f"/api/v1/agents/{theirs.pk}/", {"collections": [policies.pk]}, **globex.auth("admin"))
    searched = api.get("/api/v1/knowledge/search/", {"q": "return items within days"}, **globex.auth("viewer"))

    assert granted.status_code == 400 and "collections" in granted.json()
    assert searched.status_code == 200 and searched.json()["results"] == []
