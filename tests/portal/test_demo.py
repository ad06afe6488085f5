"""A newcomer's first minute: on a freshly seeded demo workspace the demo owner sees non-empty charts and events,
the test receiver with verified deliveries, and a knowledge search answering with its citation; every page, at
desktop and phone width, is photographed, fits the phone's width and shows names, never a raw key, where a name
exists."""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.accounts.models import Tenant
from apps.agents.models import Agent, Document
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from apps.integrations.models import Delivery, ReceivedRequest
from apps.workflows.models import WorkflowConfig
from bizosaas import demo as demo_workspace
from tests.portal.conftest import ARTEFACTS, login

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
ACTION_TYPES = ("send_to_subscription", "connector_action", "run_agent", "start_workflow")


def wait_for(condition, *, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def demo(live_server, celery_worker_thread, settings):
    """`seed_demo --reset` with the workers running, as `make run` does, then everything it set off finished: the
    orders fanned out, the matching ones delivered to the test receiver over HTTP, the guide ingested."""
    settings.GATEWAY_URL = live_server.url  # where the test receiver (and every webhook URL) lives
    call_command("seed_demo", reset=True)
    tenant = Tenant.objects.get(slug=settings.DEMO_TENANT_SLUG)

    def settled():
        with schema_context(tenant.schema_name):
            delivered = Delivery.objects.filter(status="succeeded").count() == 3
            received = ReceivedRequest.objects.filter(verdict="verified").count() == 3
            ready = Document.objects.filter(status="ready").count() == 1
            return delivered and received and ready

    wait_for(settled, what="the demo's deliveries and ingestion")
    yield tenant
    demo_workspace.reset()  # the flush after a transactional test leaves schemas behind: later tests seed afresh


def visible_words(page) -> str:
    """The page's text as a reader sees it, without code, JSON and form values (identifiers shown on purpose)."""
    return page.evaluate(
        """() => {
          const copy = document.body.cloneNode(true);
          copy.querySelectorAll('pre, code, script, style, textarea, input, select, [aria-hidden="true"]')
            .forEach((node) => node.remove());
          return copy.innerText;
        }"""
    )


def raw_keys_in(text: str) -> list[str]:
    keys = [key for key in registry.keys() if "_" in key or key.islower()]
    found = [key for key in keys if re.search(rf"(?<![\w.@/-]){re.escape(key)}(?![\w.@/-])", text)]
    found += [word for word in ACTION_TYPES if word in text]
    found += re.findall(r"\b[a-z0-9]+_[a-z0-9_]+\b", text)  # any other snake_case key
    found += re.findall(r"(?<![\w&])#\d+\b", text)  # an object's id where its name belongs
    return sorted(set(found))


def test_the_demo_owner_sees_the_workspace_work_in_the_first_minute(page, demo):
    login(page, email=settings.DEMO_OWNER_EMAIL, password=settings.DEMO_OWNER_PASSWORD)

    # the dashboard: the five orders and the three deliveries, drawn
    page.get_by_test_id("total-events").wait_for()
    assert page.get_by_test_id("total-events").inner_text() == "5"
    assert page.get_by_test_id("total-deliveries").inner_text() == "3"
    deliveries = page.get_by_role("group", name="Webhook deliveries")
    deliveries.locator(".recharts-bar-rectangle path").first.wait_for()  # today's bar is drawn
    assert page.get_by_test_id("empty").filter(has_text="Nothing to show yet").count() == 0
    page.steps.shot("dashboard of the demo")

    # the events, as the shop sent them
    page.goto("/dashboard/integrations#events")
    page.get_by_role("button", name=re.compile("^View event")).first.wait_for()
    events = page.get_by_test_id("events-table") if page.get_by_test_id("events-table").count() else page
    assert events.get_by_text("custom.order.created").count() == 4
    page.steps.shot("events")

    # the test receiver: the large orders and the refund, each verified
    page.get_by_role("tab", name="Test receiver").click()
    requests = page.get_by_test_id("received-request")
    requests.first.wait_for()
    assert requests.count() == 3
    assert requests.filter(has_text="Signature verified").count() == 3
    assert page.get_by_test_id("receiver-url").inner_text().startswith(f"{settings.GATEWAY_URL}/receiver/demo/")
    page.steps.shot("test receiver")

    # a test event sent from the subscription reaches the receiver too
    page.get_by_role("tab", name="Outbound webhooks").click()
    page.get_by_role("button", name="Send a test event").click()
    page.get_by_role("tab", name="Test receiver").click()
    page.get_by_test_id("received-request").filter(has_text="bizosaas.subscription.test").wait_for(timeout=30_000)
    assert page.get_by_test_id("received-request").first.filter(has_text="Signature verified").count() == 1

    # the knowledge search answers with its citation
    with schema_context(demo.schema_name):
        agent = Agent.objects.get()
    page.goto(f"/dashboard/agents/{agent.id}")
    page.get_by_test_id("needs-llm").filter(has_text="Settings → LLM providers").wait_for()
    page.get_by_role("tab", name=re.compile("^Knowledge")).click()
    page.get_by_label("Search the knowledge").fill("How does the test receiver check signatures?")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.get_by_role("list", name="Search results").locator("li").first
    first.wait_for()
    assert "BizOSaaS user guide" in first.inner_text()
    page.steps.shot("knowledge search with its citation")


def pages_of(tenant) -> list[tuple[str, str]]:
    with schema_context(tenant.schema_name):
        agent = Agent.objects.get().id
        workflow = WorkflowConfig.objects.get().id
        connection = Connection.objects.order_by("id").first().id
    integrations = ("overview", "inbound", "events", "outbound", "receiver", "rules", "api-keys")
    settings_tabs = ("members", "invitations", "llm", "audit", "usage", "workspace", "password")
    return [
        ("overview", "/dashboard"),
        ("connectors", "/dashboard/connectors"),
        ("new connection", "/dashboard/connectors/new?connector=woocommerce"),
        ("connection", f"/dashboard/connectors/{connection}"),
        *[(f"integrations {tab}", f"/dashboard/integrations#{tab}") for tab in integrations],
        ("agents", "/dashboard/agents"),
        ("agent", f"/dashboard/agents/{agent}"),
        ("workflows", "/dashboard/workflows"),
        ("workflow runs", "/dashboard/workflows?tab=runs"),
        ("workflow approvals", "/dashboard/workflows?tab=approvals"),
        ("workflow", f"/dashboard/workflows/{workflow}"),
        ("new workflow", "/dashboard/workflows/new?template=agent_run"),
        ("crm", "/dashboard/crm"),
        *[(f"settings {tab}", f"/dashboard/settings?tab={tab}") for tab in settings_tabs],
    ]


def test_every_page_at_desktop_and_phone_width_shows_names_not_keys(browser, portal_url, demo):
    with schema_context(demo.schema_name):  # platform accounts the demo lacks, so that their names are shown
        Connection.objects.create(provider="zoho_crm", name="Sales CRM", status="pending")
        Connection.objects.create(provider="woocommerce", name="Web shop", status="active")
    problems: list[str] = []
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(base_url=portal_url, viewport=viewport)
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        login(page, email=settings.DEMO_OWNER_EMAIL, password=settings.DEMO_OWNER_PASSWORD)
        folder = ARTEFACTS / f"pages-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for number, (name, path) in enumerate(pages_of(demo), start=1):
            page.goto(path)
            page.locator("main h1").first.wait_for()
            page.wait_for_function("!document.querySelector('[data-testid=loading], .spinner')", timeout=15_000)
            page.wait_for_timeout(300)  # charts draw after their data
            page.screenshot(path=str(folder / f"{number:02d}-{name.replace(' ', '-')}.png"), full_page=True)
            keys = raw_keys_in(visible_words(page))
            if keys:
                problems.append(f"{label} {path}: {', '.join(keys)}")
            if label == "phone" and page.evaluate("document.documentElement.scrollWidth") > PHONE["width"]:
                problems.append(f"{label} {path}: wider than the phone")
        context.close()
        assert not errors, f"uncaught errors in the page: {errors}"
    assert not problems, "\n".join(problems)
