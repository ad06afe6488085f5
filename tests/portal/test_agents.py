"""The AI agents pages in a real browser against the real gateway: settings with the temperature slider, tool
checkboxes, a knowledge upload ingested by the worker, and a run whose steps appear as the agent works. The model
is a loopback OpenAI-compatible server answering in CrewAI's ReAct text format; HubSpot is a loopback fake."""

from __future__ import annotations

import json
import re

import pytest

from apps.accounts.models import Tenant
from tests.connectors.providers.test_hubspot import PRIVATE_APP_TOKEN, FakeHubSpot
from tests.factories import PASSWORD, make_member
from tests.portal.conftest import login, register, unique_slug

pytestmark = pytest.mark.django_db(transaction=True)

LLM_KEY = "sk-scripted-llm-key"
PHONE = {"width": 390, "height": 844}
BRAND_VOICE = (
    "# Brand voice\n\n"
    "We write like a friendly baker: warm, short sentences, no jargon.\n\n"
    "## Prices\n\nA sourdough loaf costs four euros fifty. Croissants are sold in boxes of six.\n"
)


class ScriptedChatCompletions:
    """An OpenAI-compatible `POST /v1/chat/completions` (Bearer key, `choices[0].message`, `usage`) answering the
    scripted replies in order, then the last one again."""

    def __init__(self, httpserver, replies: list[str]):
        self.replies = list(replies)
        self.bodies: list[dict] = []
        httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self.complete)
        self.base_url = httpserver.url_for("/v1")

    def complete(self, request):
        from werkzeug import Response

        if request.headers.get("Authorization") != f"Bearer {LLM_KEY}":
            body = {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}
            return Response(json.dumps(body), status=401, content_type="application/json")
        self.bodies.append(request.get_json())
        content = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        answer = {
            "id": f"chatcmpl-{len(self.bodies)}",
            "object": "chat.completion",
            "model": "scripted-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320},
        }
        return Response(json.dumps(answer), content_type="application/json")


def act(tool: str, **arguments) -> str:
    return f"Thought: I should use {tool}.\nAction: {tool}\nAction Input: {json.dumps(arguments)}"


def final(text: str) -> str:
    return f"Thought: I now know the final answer\nFinal Answer: {text}"


def post(client, person: dict, path: str, body: dict) -> dict:
    response = client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {person['access']}")
    assert response.status_code == 201, response.content
    return response.json()


def get(client, person: dict, path: str) -> dict:
    response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {person['access']}")
    assert response.status_code == 200, response.content
    return response.json()


def seed(client, httpserver, replies_for) -> dict:
    """A workspace with a HubSpot connection, an OpenAI-compatible provider, an agent and a collection."""
    hubspot = FakeHubSpot(httpserver, contacts=5)
    person = register(client, email=f"owner@{unique_slug('agents')}.example")
    crm = post(
        client,
        person,
        "/api/v1/connections/",
        {
            "provider": "hubspot",
            "name": "CRM",
            "config": {"private_app_token": PRIVATE_APP_TOKEN, "api_base_url": hubspot.base_url},
        },
    )
    llm = ScriptedChatCompletions(httpserver, replies_for(crm["id"]))
    provider = post(
        client,
        person,
        "/api/v1/llm-providers/",
        {
            "name": "Scripted",
            "kind": "openai_compatible",
            "base_url": llm.base_url,
            "default_model": "scripted-model",
            "api_key": LLM_KEY,
        },
    )
    agent = post(
        client,
        person,
        "/api/v1/agents/",
        {"name": "Scout", "role": "Assistant", "goal": "Help", "provider": provider["id"]},
    )
    collection = post(client, person, "/api/v1/knowledge/collections/", {"name": "Brand"})
    return {"person": person, "crm": crm, "llm": llm, "agent": agent, "collection": collection, "hubspot": hubspot}


def test_configure_an_agent_upload_knowledge_and_watch_a_run_use_its_tool(
    page, client, httpserver, celery_worker_thread
):
    world = seed(
        client,
        httpserver,
        lambda crm_id: [
            act("read_connector_resource", connection=crm_id, resource="contacts", limit=2),
            final("Our first two contacts are First1 and First2."),
        ],
    )
    person, agent = world["person"], world["agent"]
    login(page, email=person["email"], password=person["password"])

    # the list shows the agent and the templates
    page.goto("/dashboard/agents")
    page.get_by_role("link", name="Scout").wait_for()
    row = page.locator("tr", has=page.get_by_role("link", name="Scout"))
    assert "Scripted" in row.inner_text() and "scripted-model" in row.inner_text()
    row.get_by_text("never").wait_for()
    page.get_by_role("button", name="Install Marketing strategist").wait_for()
    page.steps.shot("agents list")

    # settings: role, goal, backstory and the temperature slider (by keyboard), then Save
    page.get_by_role("link", name="Scout").click()
    page.wait_for_url(f"**/dashboard/agents/{agent['id']}")
    save = page.get_by_role("button", name="Save", exact=True)
    save.wait_for()
    assert save.is_disabled()
    page.get_by_label("Role").fill("Sales assistant")
    page.get_by_label("Goal").fill("Keep the CRM tidy and answer questions about customers.")
    page.get_by_label("Backstory").fill("You work for a small bakery and speak plainly.")
    slider = page.get_by_role("slider", name="Temperature")
    assert slider.input_value() == "0.7"
    slider.focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    assert page.get_by_test_id("temperature-value").inner_text() == "0.3"
    assert save.is_enabled()
    page.steps.shot("agent settings", full_page=False)
    save.click()
    page.get_by_role("button", name="Saved", exact=True).wait_for()
    assert page.get_by_role("button", name="Saved", exact=True).is_disabled()

    # tools: tick HubSpot contacts, save
    page.get_by_role("tab", name=re.compile("^Tools")).click()
    contacts = page.get_by_test_id(f"tools-{world['crm']['id']}").get_by_role("checkbox", name=re.compile("^contacts"))
    contacts.check()
    page.steps.shot("tools ticked")
    page.get_by_role("button", name="Save tools").click()
    page.get_by_role("button", name="Tools saved").wait_for()

    # reload: everything was written to the API
    page.reload()
    page.get_by_label("Role").wait_for()
    assert page.get_by_label("Role").input_value() == "Sales assistant"
    assert page.get_by_label("Backstory").input_value() == "You work for a small bakery and speak plainly."
    assert page.get_by_role("slider", name="Temperature").input_value() == "0.3"
    assert page.get_by_test_id("temperature-value").inner_text() == "0.3"
    page.get_by_role("tab", name="Tools (1)").click()
    assert (
        page.get_by_test_id(f"tools-{world['crm']['id']}")
        .get_by_role("checkbox", name=re.compile("^contacts"))
        .is_checked()
    )
    saved = get(client, person, f"/api/v1/agents/{agent['id']}/")
    assert (saved["role"], saved["temperature"]) == ("Sales assistant", 0.3)
    assert [(g["connection"], g["resources"], g["actions"]) for g in saved["grants"]] == [
        (world["crm"]["id"], ["contacts"], [])
    ]

    # knowledge: give it the collection, upload a Markdown file with progress and watch it become ready
    page.get_by_role("tab", name=re.compile("^Knowledge")).click()
    page.get_by_role("checkbox", name=re.compile("^Brand")).check()
    page.get_by_role("button", name="Save collections").click()
    page.get_by_role("button", name="Collections saved").wait_for()
    page.get_by_label("Document", exact=True).set_input_files(
        {"name": "brand-voice.md", "mimeType": "text/markdown", "buffer": BRAND_VOICE.encode()}
    )
    page.get_by_role("button", name="Upload").click()
    page.get_by_test_id("upload-percent").filter(has_text="100%").wait_for()
    page.steps.shot("uploaded")
    document_row = page.locator("tr", has_text="brand-voice.md")
    document_row.locator(".badge", has_text="ready").wait_for(timeout=90_000)
    chunks = document_row.get_by_test_id("document-chunks").inner_text()
    assert re.fullmatch(r"[1-9]\d* chunks?", chunks), chunks
    page.get_by_label("Search the knowledge").fill("How much is a sourdough loaf?")
    page.get_by_role("button", name="Search").click()
    results = page.get_by_role("list", name="Search results")
    results.wait_for()
    assert "four euros fifty" in results.inner_text()
    page.get_by_role("checkbox", name="Brand (1 document)").wait_for()
    page.steps.shot("knowledge ready and searched")
    document_row.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete document")
    dialog.wait_for()
    assert "brand-voice" in dialog.inner_text()
    dialog.get_by_role("button", name="Delete document").click()
    page.get_by_text("No documents in this collection").wait_for()
    assert get(client, person, "/api/v1/knowledge/documents/")["count"] == 0

    # run: the scripted model reads the granted contacts once, then answers; the steps appear in the panel
    page.get_by_role("tab", name="Run").click()
    page.get_by_label("Prompt").fill("Who are our first two contacts?")
    page.get_by_role("button", name="Run", exact=True).click()
    tool_step = page.get_by_test_id("step-tool_call")
    tool_step.wait_for(timeout=60_000)
    page.get_by_test_id("step-answer").wait_for(timeout=60_000)
    assert "read_connector_resource" in tool_step.inner_text()
    assert '"resource": "contacts"' in tool_step.get_by_test_id("step-input").inner_text()
    assert "person1@example.com" in tool_step.get_by_test_id("step-output").inner_text()
    assert "Our first two contacts are First1 and First2." in page.get_by_test_id("step-answer").inner_text()
    page.get_by_test_id("run-view").locator(".badge", has_text="succeeded").wait_for()
    assert "600 in · 40 out" in page.get_by_test_id("run-usage").inner_text()
    page.get_by_role("region", name="Run history").locator(".badge", has_text="succeeded").wait_for()
    page.steps.shot("run with tool call and answer")
    assert len(world["hubspot"].requests_to("contacts")) == 1
    assert world["llm"].bodies[0]["temperature"] == 0.3
    assert "You work for a small bakery" in json.dumps(world["llm"].bodies[0]["messages"])

    # a template installs as an ordinary agent, opened for editing
    page.goto("/dashboard/agents")
    page.get_by_role("button", name="Install Sales assistant").click()
    page.wait_for_url(lambda url: re.search(r"/dashboard/agents/\d+$", url) and not url.endswith(f"/{agent['id']}"))
    page.get_by_role("heading", name="Sales assistant").wait_for()
    assert page.get_by_label("Role").input_value() == "Sales assistant"
    assert get(client, person, "/api/v1/agents/")["count"] == 2

    # at phone width the page still fits
    page.set_viewport_size(PHONE)
    page.reload()
    page.get_by_role("tab", name="Run").click()
    page.get_by_role("region", name="Run history").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.steps.shot("run panel at phone width")


def test_a_viewer_reads_the_agent_but_cannot_save_run_or_upload(page, client, httpserver):
    world = seed(client, httpserver, lambda crm_id: [final("unused")])
    owner = world["person"]
    viewer = make_member(Tenant.objects.get(slug=owner["slug"]), "viewer", email=f"viewer@{owner['slug']}.example")
    login(page, email=viewer.email, password=PASSWORD, tenant=owner["slug"])

    page.goto("/dashboard/agents")
    page.get_by_role("link", name="Scout").wait_for()
    assert page.get_by_role("button", name="New agent").count() == 0
    assert page.get_by_role("button", name=re.compile("^Install ")).count() == 0
    page.get_by_role("link", name="Scout").click()
    page.get_by_label("Role").wait_for()
    assert page.get_by_label("Role").is_disabled()
    assert page.get_by_role("slider", name="Temperature").is_disabled()
    assert page.get_by_role("button", name="Save", exact=True).count() == 0
    assert page.get_by_role("button", name="Delete agent").count() == 0
    page.get_by_text("an admin can change it").wait_for()
    page.steps.shot("viewer settings")

    page.get_by_role("tab", name=re.compile("^Tools")).click()
    checkbox = page.get_by_role("checkbox", name=re.compile("^contacts"))
    checkbox.wait_for()
    assert checkbox.is_disabled()
    assert page.get_by_role("button", name="Save tools").count() == 0

    page.get_by_role("tab", name=re.compile("^Knowledge")).click()
    page.get_by_text("No documents in this collection").wait_for()
    assert page.get_by_role("button", name="Upload").count() == 0
    assert page.get_by_role("checkbox", name=re.compile("^Brand")).is_disabled()

    page.get_by_role("tab", name="Run").click()
    page.get_by_text("a member can run agents").wait_for()
    assert page.get_by_label("Prompt").count() == 0
    page.steps.shot("viewer run panel")
    assert world["llm"].bodies == []
