"""Agent runs through the real CrewAI pipeline. The model is a scripted CrewAI LLM (replies written in advance,
tool calls included, in CrewAI's Action / Action Input format); connectors are loopback fakes. Runs are started
through the API and executed the way the worker does, inside the tenant's schema."""

from __future__ import annotations

import json
import threading
import time
import uuid
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from apps.agents.models import Agent, AgentRun, LLMProvider, Message, RunStep, ToolGrant
from apps.agents.runtime.runner import execute_run, prepare_crewai
from apps.connectors.exceptions import AuthenticationError
from apps.connectors.models import Connection
from tests.connectors.providers.test_hubspot import PRIVATE_APP_TOKEN, FakeHubSpot
from tests.factories import bearer, make_member, make_tenant

ROLES = ("owner", "admin", "member", "viewer")
_scripted_class = None


def scripted_llm(replies, *, model="scripted-model", tokens=(120, 30), gate: threading.Event | None = None):
    """A CrewAI LLM answering `replies` in order (a string, an exception to raise, or a callable given the
    messages); it keeps every list of messages it received in `.received`. Built lazily: importing CrewAI takes
    seconds and must follow the runtime's environment set-up."""
    global _scripted_class
    if _scripted_class is None:
        prepare_crewai()
        from crewai.llms.base_llm import BaseLLM

        class ScriptedLLM(BaseLLM):
            replies: list = []
            received: list = []
            tokens: tuple = (0, 0)
            gate: object = None

            def call(self, messages, tools=None, callbacks=None, available_functions=None, **kwargs):
                self.received.append([dict(m) for m in messages])
                if self.gate is not None:
                    self.gate.wait(30)  # a model that does not answer in time
                reply = self.replies.pop(0)
                if isinstance(reply, BaseException):
                    raise reply
                if callable(reply):
                    reply = reply(messages)
                prompt, completion = self.tokens
                self._track_token_usage_internal(
                    {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
                )
                return reply

            def supports_function_calling(self) -> bool:
                return False

        _scripted_class = ScriptedLLM
    return _scripted_class(model=model, replies=list(replies), received=[], tokens=tokens, gate=gate)


def act(tool: str, **arguments) -> str:
    return f"Thought: I should use {tool}.\nAction: {tool}\nAction Input: {json.dumps(arguments)}"


def final(text: str) -> str:
    return f"Thought: I now know the final answer\nFinal Answer: {text}"


class Org:
    def __init__(self, slug: str):
        self.tenant = make_tenant(slug=slug)
        self.people = {role: make_member(self.tenant, role, email=f"{role}@{slug}.test") for role in ROLES}

    @property
    def schema(self) -> str:
        return self.tenant.schema_name

    def auth(self, role: str = "member") -> dict:
        return bearer(self.people[role], self.tenant)

    def provider(self, **fields) -> LLMProvider:
        values = {
            "name": "OpenAI",
            "kind": LLMProvider.Kind.OPENAI,
            "default_model": "gpt-4o-mini",
            "credentials": {"api_key": "sk-test-not-used"},
            **fields,
        }
        with schema_context(self.schema):
            return LLMProvider.objects.create(**values)

    def agent(self, *, provider: LLMProvider | None = None, grants=(), **fields) -> Agent:
        with schema_context(self.schema):
            agent = Agent.objects.create(
                name=fields.pop("name", "Sales assistant"),
                role=fields.pop("role", "Sales assistant"),
                goal=fields.pop("goal", "Keep the CRM up to date"),
                backstory=fields.pop("backstory", "You work for a small company."),
                provider=provider,
                **fields,
            )
            for connection, resources, actions in grants:
                ToolGrant.objects.create(agent=agent, connection=connection, resources=resources, actions=actions)
            return agent

    def hubspot(self, fake: FakeHubSpot, name: str = "HubSpot") -> Connection:
        with schema_context(self.schema):
            return Connection.objects.create(
                provider="hubspot",
                name=name,
                config={"api_base_url": fake.base_url},
                credentials={"private_app_token": PRIVATE_APP_TOKEN},
                status=Connection.Status.ACTIVE,
            )

    def execute(self, run_id: int, llm):
        """What the worker does with the queued run, in this tenant's schema."""
        with schema_context(self.schema):
            return execute_run(run_id, llm=llm)

    def steps(self, run_id: int) -> list[tuple]:
        with schema_context(self.schema):
            return list(
                RunStep.objects.filter(run_id=run_id).order_by("position").values_list("kind", "tool", "arguments")
            )


@pytest.fixture
def acme(db):
    return Org("acme")


@pytest.fixture
def globex(db):
    return Org("globex")


@pytest.fixture
def hubspot(httpserver):
    return FakeHubSpot(httpserver)


def start(api, org: Org, agent: Agent, text: str, *, role: str = "member") -> dict:
    response = api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": text}, **org.auth(role))
    assert response.status_code == 202, response.content
    return response.json()


# --- a run end to end ----------------------------------------------------------------------------------------


def test_a_run_performs_a_granted_action_and_records_steps_output_and_tokens(
    api, acme, hubspot, django_capture_on_commit_callbacks
):
    crm = acme.hubspot(hubspot)
    agent = acme.agent(provider=acme.provider(), grants=[(crm, ["contacts"], ["upsert_contact"])])
    llm = scripted_llm(
        [
            act(
                "perform_connector_action",
                connection=crm.pk,
                action="upsert_contact",
                input={"email": "ada@example.com", "first_name": "Ada"},
            ),
            final("Ada is now in HubSpot as contact 9001."),
        ],
        model="gpt-4o-mini",
    )

    with django_capture_on_commit_callbacks() as queued:
        run = start(api, acme, agent, "Add ada@example.com (Ada) to the CRM.")
    assert run["status"] == "queued" and run["input"] == "Add ada@example.com (Ada) to the CRM."
    assert len(queued) == 1  # handed to the worker once committed

    acme.execute(run["id"], llm)

    body = api.get(f"/api/v1/runs/{run['id']}/", **acme.auth("viewer")).json()
    assert body["status"] == "succeeded", body["error"]
    assert body["output"] == "Ada is now in HubSpot as contact 9001."
    assert body["error"] == ""
    assert (body["prompt_tokens"], body["completion_tokens"]) == (240, 60)  # two model calls
    assert Decimal(body["cost_usd"]) == Decimal("0.000072")  # at gpt-4o-mini's list price
    assert body["model"] == "gpt-4o-mini"
    assert body["duration_ms"] is not None and body["started_at"] and body["finished_at"]
    assert [(s["kind"], s["tool"]) for s in body["steps"]] == [
        ("llm", ""),
        ("tool_call", "perform_connector_action"),
        ("llm", ""),
        ("answer", ""),
    ]
    call = body["steps"][1]
    assert call["arguments"] == {
        "connection": crm.pk,
        "action": "upsert_contact",
        "input": {"email": "ada@example.com", "first_name": "Ada"},
    }
    assert '"id": "9001"' in call["result_summary"] and '"created": true' in call["result_summary"]
    assert body["steps"][0]["prompt_tokens"] == 120
    # the platform received exactly the upsert, and the model saw its result
    assert hubspot.upserts == [
        {
            "inputs": [
                {
                    "idProperty": "email",
                    "id": "ada@example.com",
                    "properties": {"email": "ada@example.com", "firstname": "Ada"},
                }
            ]
        }
    ]
    assert "Observation:" in llm.received[1][-2]["content"] and '"9001"' in llm.received[1][-2]["content"]
    # the model was told which connection it may use, and how
    system = llm.received[0][0]["content"]
    assert f"connection {crm.pk}: HubSpot (HubSpot); read: contacts; actions: upsert_contact(email" in system


def test_calls_outside_the_grants_are_denied_recorded_and_never_executed(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    readonly = acme.hubspot(hubspot, name="HubSpot (read only)")
    agent = acme.agent(
        provider=acme.provider(),
        grants=[(crm, ["contacts"], ["upsert_contact"]), (readonly, ["contacts"], [])],
    )
    llm = scripted_llm(
        [
            act("perform_connector_action", connection=readonly.pk, action="upsert_contact", input={"email": "a@b.co"}),
            act("perform_connector_action", connection=999, action="upsert_contact", input={"email": "a@b.co"}),
            act("read_connector_resource", connection=crm.pk, resource="deals"),
            final("I am not allowed to do that."),
        ]
    )
    run = start(api, acme, agent, "Write to the read-only CRM.")

    acme.execute(run["id"], llm)

    with schema_context(acme.schema):
        done = AgentRun.objects.get(pk=run["id"])
    assert (done.status, done.output) == ("succeeded", "I am not allowed to do that.")
    steps = acme.steps(run["id"])
    assert [kind for kind, _tool, _args in steps] == [
        "llm",
        "tool_denied",
        "llm",
        "tool_denied",
        "llm",
        "tool_denied",
        "llm",
        "answer",
    ]
    assert steps[1][2] == {"connection": readonly.pk, "action": "upsert_contact", "input": {"email": "a@b.co"}}
    with schema_context(acme.schema):
        reasons = list(
            RunStep.objects.filter(run_id=run["id"], kind="tool_denied").values_list("result_summary", flat=True)
        )
    assert reasons == [
        f"You may not perform 'upsert_contact' on connection {readonly.pk}.",
        "You have no access to connection 999.",
        f"You may not read 'deals' on connection {crm.pk}.",
    ]
    assert hubspot.server.log == []  # nothing reached the platform
    # the model was told, as an error it can read
    assert "permission denied" in llm.received[1][-2]["content"]


@pytest.mark.django_db(transaction=True)
def test_a_grant_revoked_after_the_run_started_is_denied_at_call_time(hubspot):
    org = Org(f"revoke-{uuid.uuid4().hex[:8]}")
    crm = org.hubspot(hubspot)
    agent = org.agent(provider=org.provider(), grants=[(crm, ["contacts"], ["upsert_contact"])])
    with schema_context(org.schema):
        run = AgentRun.objects.create(agent=agent, input="Add a@b.co")

    def revoke_then_call(messages):
        # an admin removes the grant while the agent is thinking (its tools were built with it)
        from django.db import connection

        with schema_context(org.schema):
            ToolGrant.objects.filter(agent=agent).delete()
        connection.close()
        return act("perform_connector_action", connection=crm.pk, action="upsert_contact", input={"email": "a@b.co"})

    llm = scripted_llm([revoke_then_call, final("Could not add it.")])

    org.execute(run.pk, llm)

    assert [kind for kind, _tool, _args in org.steps(run.pk)] == ["llm", "tool_denied", "llm", "answer"]
    assert "perform_connector_action" in llm.received[0][0]["content"]  # the tool existed when the run began
    assert hubspot.upserts == [] and hubspot.server.log == []


# --- failures ------------------------------------------------------------------------------------------------


def test_a_provider_error_fails_the_run_with_the_reason(api, acme):
    agent = acme.agent(provider=acme.provider())
    llm = scripted_llm([AuthenticationError("OpenAI rejected the API key (401): Incorrect API key provided.")])
    run = start(api, acme, agent, "Hello")

    acme.execute(run["id"], llm)

    body = api.get(f"/api/v1/runs/{run['id']}/", **acme.auth()).json()
    assert body["status"] == "failed"
    assert body["error"] == "The model provider failed: OpenAI rejected the API key (401): Incorrect API key provided."
    assert body["output"] == "" and body["finished_at"]
    assert len(llm.received) == 1  # not retried
    assert [s["kind"] for s in body["steps"]] == []


def test_max_execution_time_is_enforced_and_nothing_hangs(api, acme):
    agent = acme.agent(provider=acme.provider(), max_execution_time=5)
    gate = threading.Event()
    llm = scripted_llm([final("too late")], gate=gate)
    run = start(api, acme, agent, "Think for a long time.")

    began = time.monotonic()
    try:
        acme.execute(run["id"], llm)
        elapsed = time.monotonic() - began
    finally:
        gate.set()  # let the abandoned model call end

    assert 4.5 < elapsed < 8
    with schema_context(acme.schema):
        done = AgentRun.objects.get(pk=run["id"])
    assert done.status == "failed"
    assert done.error == "The run took longer than 5 seconds (the agent's maximum execution time) and was stopped."
    assert 5000 <= done.duration_ms < 8000
    time.sleep(0.3)
    assert acme.steps(run["id"]) == []  # the late answer is not recorded: the run was over


@pytest.mark.django_db(transaction=True)
def test_a_running_run_cancelled_through_the_api_stops_within_a_second(api):
    org = Org(f"cancel-{uuid.uuid4().hex[:8]}")
    agent = org.agent(provider=org.provider(), max_execution_time=60)
    with schema_context(org.schema):
        run = AgentRun.objects.create(agent=agent, input="Think for a long time.")
    gate = threading.Event()
    llm = scripted_llm([final("too late")], gate=gate)
    answers = []

    def cancel_soon():
        from django.db import connection

        time.sleep(0.5)
        try:
            answers.append(api.post(f"/api/v1/runs/{run.pk}/cancel/", **org.auth("member")))
        finally:
            connection.close()

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    began = time.monotonic()
    try:
        org.execute(run.pk, llm)
        elapsed = time.monotonic() - began
    finally:
        gate.set()
        canceller.join()

    assert answers[0].status_code == 200, answers[0].content
    assert elapsed < 3
    with schema_context(org.schema):
        done = AgentRun.objects.get(pk=run.pk)
    assert (done.status, done.output) == ("cancelled", "")
    assert done.error == f"Cancelled by member@{org.tenant.slug}.test."
    assert done.duration_ms is not None and done.duration_ms < 3000


# --- conversations -------------------------------------------------------------------------------------------


def test_a_conversation_feeds_its_history_to_the_next_run(api, acme):
    agent = acme.agent(provider=acme.provider())
    response = api.post("/api/v1/conversations/", {"agent": agent.pk}, **acme.auth())
    assert response.status_code == 201, response.content
    conversation = response.json()["id"]

    first = api.post(f"/api/v1/conversations/{conversation}/messages/", {"content": "My name is Ada."}, **acme.auth())
    assert first.status_code == 202, first.content
    acme.execute(first.json()["run"]["id"], scripted_llm([final("Nice to meet you, Ada.")]))
    second = api.post(f"/api/v1/conversations/{conversation}/messages/", {"content": "What is my name?"}, **acme.auth())
    llm = scripted_llm([final("Your name is Ada.")])
    acme.execute(second.json()["run"]["id"], llm)

    prompt = llm.received[0][-1]["content"]
    assert "User: My name is Ada.\n\nAssistant: Nice to meet you, Ada." in prompt
    assert prompt.index("Nice to meet you") < prompt.index("What is my name?")
    assert prompt.count("What is my name?") == 1
    detail = api.get(f"/api/v1/conversations/{conversation}/", **acme.auth("viewer")).json()
    assert detail["title"] == "My name is Ada."
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "What is my name?"),
        ("assistant", "Your name is Ada."),
    ]
    assert detail["messages"][3]["run"] == second.json()["run"]["id"]


# --- configuration, permissions, isolation -------------------------------------------------------------------


def test_an_agent_without_a_provider_answers_400_naming_what_to_configure(api, acme):
    bare = acme.agent()
    keyless = acme.agent(provider=acme.provider(name="Team OpenAI", credentials={}))

    no_provider = api.post(f"/api/v1/agents/{bare.pk}/runs/", {"input": "Hello"}, **acme.auth())
    no_key = api.post(f"/api/v1/agents/{keyless.pk}/runs/", {"input": "Hello"}, **acme.auth())

    assert no_provider.status_code == 400
    assert list(no_provider.json()) == ["provider"]
    assert "has no LLM provider. Add an LLM provider" in no_provider.json()["provider"][0]
    assert no_key.status_code == 400
    assert no_key.json()["provider"] == [
        "The LLM provider 'Team OpenAI' (OpenAI) has no API key. Set its API key in the provider's settings."
    ]
    with schema_context(acme.schema):
        assert AgentRun.objects.count() == 0


def test_a_viewer_cannot_run_an_agent_but_can_read_runs(api, acme, django_assert_max_num_queries):
    agent = acme.agent(provider=acme.provider())
    start(api, acme, agent, "one")
    start(api, acme, agent, "two")

    denied = api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": "Hello"}, **acme.auth("viewer"))
    cancel = api.post("/api/v1/runs/1/cancel/", **acme.auth("viewer"))
    with django_assert_max_num_queries(12):
        listed = api.get(f"/api/v1/runs/?agent={agent.pk}&status=queued", **acme.auth("viewer"))

    assert denied.status_code == 403 and cancel.status_code == 403
    assert listed.status_code == 200
    assert [r["input"] for r in listed.json()["results"]] == ["two", "one"]
    with schema_context(acme.schema):
        assert AgentRun.objects.count() == 2


def test_a_queued_run_can_be_cancelled_and_is_then_never_executed(api, acme):
    agent = acme.agent(provider=acme.provider())
    run = start(api, acme, agent, "Hello")

    cancelled = api.post(f"/api/v1/runs/{run['id']}/cancel/", **acme.auth())
    again = api.post(f"/api/v1/runs/{run['id']}/cancel/", **acme.auth())
    llm = scripted_llm([final("should not run")])
    acme.execute(run["id"], llm)

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 400
    assert llm.received == []


def test_another_tenant_can_neither_see_nor_run_the_agent(api, acme, globex):
    agent = acme.agent(provider=acme.provider())
    run = start(api, acme, agent, "secret plans")
    conversation = api.post("/api/v1/conversations/", {"agent": agent.pk}, **acme.auth()).json()

    as_globex = globex.auth("owner")
    assert api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": "Hi"}, **as_globex).status_code == 404
    assert api.get(f"/api/v1/runs/{run['id']}/", **as_globex).status_code == 404
    assert api.post(f"/api/v1/runs/{run['id']}/cancel/", **as_globex).status_code == 404
    assert api.get("/api/v1/runs/", **as_globex).json()["results"] == []
    assert api.get(f"/api/v1/conversations/{conversation['id']}/", **as_globex).status_code == 404
    posted = api.post(f"/api/v1/conversations/{conversation['id']}/messages/", {"content": "Hi"}, **as_globex)
    assert posted.status_code == 404
    assert api.post("/api/v1/conversations/", {"agent": agent.pk}, **as_globex).status_code == 400
    with schema_context(acme.schema):
        assert AgentRun.objects.count() == 1 and Message.objects.count() == 0


# --- the production model path -------------------------------------------------------------------------------


class FakeChatCompletions:
    """An OpenAI-compatible `POST /v1/chat/completions` (Bearer key, `choices[0].message`, `usage`)."""

    def __init__(self, httpserver, replies):
        self.replies = list(replies)
        self.bodies: list[dict] = []
        httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self.complete)
        self.base_url = httpserver.url_for("/v1")

    def complete(self, request):
        from werkzeug import Response

        if request.headers.get("Authorization") != "Bearer sk-compatible-key":
            body = {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}
            return Response(json.dumps(body), status=401, content_type="application/json")
        self.bodies.append(request.get_json())
        content = self.replies.pop(0)
        answer = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 410, "completion_tokens": 25, "total_tokens": 435},
        }
        return Response(json.dumps(answer), content_type="application/json")


def test_without_a_test_llm_the_run_calls_the_configured_provider(api, acme, hubspot, httpserver):
    crm = acme.hubspot(hubspot)
    # the model writes past its action, as models do: the stop word cuts the invented observation off
    invented = act("read_connector_resource", connection=crm.pk, resource="contacts", limit=2)
    fake = FakeChatCompletions(
        httpserver, [invented + "\nObservation: made up", final("Two contacts: First1, First2.")]
    )
    provider = acme.provider(
        kind=LLMProvider.Kind.OPENAI_COMPATIBLE,
        base_url=fake.base_url,
        default_model="gpt-4o-mini",
        credentials={"api_key": "sk-compatible-key"},
    )
    agent = acme.agent(provider=provider, temperature=Decimal("0.30"), grants=[(crm, ["contacts"], [])])
    run = start(api, acme, agent, "Who are our first two contacts?")

    acme.execute(run["id"], None)

    body = api.get(f"/api/v1/runs/{run['id']}/", **acme.auth()).json()
    assert body["status"] == "succeeded", body["error"]
    assert body["output"] == "Two contacts: First1, First2."
    assert (body["prompt_tokens"], body["completion_tokens"]) == (820, 50)
    assert Decimal(body["cost_usd"]) == Decimal("0.000153")
    assert [s["kind"] for s in body["steps"]] == ["llm", "tool_call", "llm", "answer"]
    assert '"email": "person1@example.com"' in body["steps"][1]["result_summary"]
    first, second = fake.bodies
    assert (first["model"], first["temperature"]) == ("gpt-4o-mini", 0.3)
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "Who are our first two contacts?" in first["messages"][1]["content"]
    assert "made up" not in json.dumps(second["messages"])
    assert "First1" in second["messages"][-2]["content"]  # the real observation


def test_a_provider_refusing_the_key_fails_the_run_with_its_message(api, acme, httpserver):
    fake = FakeChatCompletions(httpserver, [])
    provider = acme.provider(
        kind=LLMProvider.Kind.OPENAI_COMPATIBLE, base_url=fake.base_url, credentials={"api_key": "sk-wrong"}
    )
    run = start(api, acme, acme.agent(provider=provider), "Hello")

    acme.execute(run["id"], None)

    with schema_context(acme.schema):
        done = AgentRun.objects.get(pk=run["id"])
    assert done.status == "failed"
    assert done.error == (
        "The model provider failed: OpenAI-compatible endpoint rejected the credentials: Incorrect API key provided."
    )
    assert "sk-wrong" not in done.error
    assert len(httpserver.log) == 1  # not retried
