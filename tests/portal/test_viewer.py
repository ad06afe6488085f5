"""A viewer, invited by an owner, accepts in the browser and can look at everything but change nothing: the pages
show no enabled control that writes, and the gateway still refuses a write sent through the portal's proxy."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context

from apps.accounts.models import Tenant
from apps.connectors.models import Connection
from tests.portal.conftest import register, unique_slug

pytestmark = pytest.mark.django_db(transaction=True)

# accessible names of controls that change something (a button whose name starts with one of these words)
WRITES = re.compile(
    r"^(save|delete|create|invite|send|remove|revoke|add|edit|new|test|connect|disconnect|reconnect|start|"
    r"run(?! history| log| details)|install|upload|approve|reject|replay|rotate|update|enable|disable|pause|"
    r"resume|cancel run|rename|change role)\b",
    re.IGNORECASE,
)
# a viewer may still change their own password: it is the person's, not the workspace's
PERSONAL = {"change password"}


def auth(person: dict) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {person['access']}"}


def enabled_writes(page) -> list[str]:
    """Names of enabled buttons (and button-like links) in the page's main area that would change something."""
    names = page.locator("main").evaluate(
        """(main) => [...main.querySelectorAll('button, [role=button], input[type=submit]')]
            .filter((el) => !el.disabled && el.getAttribute('aria-disabled') !== 'true' && el.offsetParent !== null)
            .filter((el) => el.getAttribute('role') !== 'tab')  // a tab shows a section, it changes nothing
            .map((el) => (el.getAttribute('aria-label') || el.textContent || el.value || '').trim())"""
    )
    return [name for name in names if WRITES.match(name) and name.lower() not in PERSONAL]


def enabled_fields(page) -> list[str]:
    """Editable inputs outside search and filter forms (a viewer has nothing to type into elsewhere)."""
    return page.locator("main").evaluate(
        """(main) => [...main.querySelectorAll('input, select, textarea')]
            .filter((el) => !el.disabled && !el.readOnly && el.type !== 'hidden' && el.offsetParent !== null)
            .filter((el) => !el.closest('[role=search], form.filters, .segmented, [data-readonly-ok]'))
            .filter((el) => !['search', 'checkbox'].includes(el.type) || !el.closest('form'))
            .map((el) => el.getAttribute('aria-label') || el.labels?.[0]?.textContent || el.name || el.type)"""
    )


def page_exists(page, path: str) -> bool:
    response = page.goto(path)
    if response is not None and response.status == 404:
        return False
    page.locator("main h1").first.wait_for()
    page.wait_for_load_state("networkidle")
    return page.get_by_text("This page could not be found").count() == 0


def settle(page) -> None:
    """Waits until no loading state is left in the main area."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => !document.querySelector('main [data-testid=loading]')")


def test_a_viewer_sees_read_only_pages_and_the_api_refuses_writes(page, client, mailoutbox):
    owner = register(client, email=f"owner@{unique_slug('mail')}.example")
    slug = owner["slug"]
    provider = client.post(
        "/api/v1/llm-providers/",
        {"name": "House model", "kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1", "default_model": "m"},
        content_type="application/json",
        **auth(owner),
    )
    assert provider.status_code == 201, provider.content
    with schema_context(Tenant.objects.get(slug=slug).schema_name):
        connection = Connection.objects.create(provider="wordpress", name="Blog", status="active")
    viewer_email = f"viewer@{unique_slug('mail')}.example"
    body = {"email": viewer_email, "role": "viewer"}
    invited = client.post("/api/v1/invitations/", body, content_type="application/json", **auth(owner))
    assert invited.status_code == 201, invited.content
    link = re.search(r"/accept-invite\?token=(\S+)", mailoutbox[-1].body)
    assert link and mailoutbox[-1].to == [viewer_email]

    # the viewer accepts in the browser and lands on the dashboard
    page.goto(f"/accept-invite?token={link.group(1)}")
    page.get_by_label("First name").fill("Vera")
    page.get_by_label("Password").fill("a viewer's long password")
    page.steps.shot("accept invitation")
    page.get_by_role("button", name="Join the workspace").click()
    page.wait_for_url("**/dashboard")
    page.get_by_test_id("user-role").filter(has_text="viewer").wait_for()
    settle(page)
    page.steps.shot("viewer dashboard")
    assert enabled_writes(page) == []

    # settings: only the tabs a viewer may read, each without write controls
    page.goto("/dashboard/settings")
    tabs = page.get_by_role("tablist", name="Settings sections").get_by_role("tab")
    tabs.first.wait_for()
    # Connected apps: each person sees and disconnects the MCP clients they connected themselves
    assert tabs.all_inner_texts() == ["Members", "LLM providers", "Connected apps", "Workspace", "Password"]
    for tab in ("Members", "LLM providers", "Workspace"):
        page.get_by_role("tab", name=tab).click()
        settle(page)
        page.steps.shot(f"settings {tab}")
        assert enabled_writes(page) == [], tab
        assert enabled_fields(page) == [], tab
    page.get_by_role("tab", name="LLM providers").click()
    page.get_by_test_id("provider-row").filter(has_text="House model").wait_for()
    assert page.get_by_test_id("provider-row").count() == 1
    page.get_by_role("tab", name="Members").click()
    rows = page.get_by_test_id("member-row")
    rows.nth(1).wait_for()
    assert rows.count() == 2 and page.locator("main select").count() == 0
    # sections a viewer may not read are not offered, even when asked for by address
    page.goto("/dashboard/settings?tab=audit")
    page.get_by_role("tab", name="Members", selected=True).wait_for()

    # the other pages, as far as they exist: nothing enabled that writes
    checked, offenders = [], {}
    for path in (
        "/dashboard/connectors",
        f"/dashboard/connectors/{connection.pk}",
        "/dashboard/integrations",
        "/dashboard/agents",
        "/dashboard/workflows",
        "/dashboard/crm",
    ):
        if not page_exists(page, path):
            continue
        settle(page)
        page.steps.shot(f"viewer {path}")
        checked.append(path)
        found = enabled_writes(page)
        if found:
            offenders[path] = found
    assert offenders == {}, f"write controls enabled for a viewer: {offenders}"
    assert "/dashboard/connectors" in checked

    # the gateway refuses a write sent through the proxy, and nothing changed
    results = page.evaluate(
        """async () => {
            const send = (method, path, body) => fetch(path, {method, headers: {'content-type': 'application/json'},
                body: JSON.stringify(body)}).then((r) => r.status);
            return [
                await send('POST', '/api/v1/invitations/', {email: 'x@example.com', role: 'viewer'}),
                await send('POST', '/api/v1/llm-providers/', {name: 'x', kind: 'openai', default_model: 'm'}),
                await send('PATCH', '/api/v1/tenant/', {name: 'Taken over'}),
            ];
        }"""
    )
    assert results == [403, 403, 403]
    providers = client.get("/api/v1/llm-providers/", **auth(owner)).json()
    assert [p["name"] for p in providers["results"]] == ["House model"]
    assert client.get("/api/v1/tenant/", **auth(owner)).json()["name"] == slug.title()
    assert client.get("/api/v1/invitations/", **auth(owner)).json()["count"] == 1
