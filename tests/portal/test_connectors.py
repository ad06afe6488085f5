"""The connectors catalogue, a connection's generated form, test, health and live preview, and the CRM page,
in a real browser against the real gateway and loopback provider fakes."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from werkzeug import Response

from apps.accounts.models import Tenant
from apps.connectors.registry import registry
from tests.connectors.providers.test_hubspot import PRIVATE_APP_TOKEN, FakeHubSpot
from tests.connectors.providers.test_wordpress import APP_PASSWORD, USER, FakeWordPress
from tests.connectors.test_oauth import CLIENT_ID, CLIENT_SECRET, FakeAuthorizationServer
from tests.factories import PASSWORD, make_member
from tests.portal.conftest import login, register, unique_slug

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def card_names(page) -> list[str]:
    return sorted(page.get_by_test_id("connector-card").locator("h2").all_inner_texts())


def fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def post_titles(page) -> list[str]:
    preview = page.get_by_role("table", name=re.compile("posts of"))
    return preview.locator("tbody tr td:nth-child(2)").all_inner_texts()  # id, then title


def api_connection(client, person: dict, provider: str, name: str, config: dict) -> dict:
    response = client.post(
        "/api/v1/connections/",
        {"provider": provider, "name": name, "config": config},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {person['access']}",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_connect_wordpress_through_the_generated_form_test_it_and_page_through_its_posts(page, client, httpserver):
    wordpress = FakeWordPress(httpserver, posts=25)
    person = register(client, email=f"owner@{unique_slug('conn')}.example")
    login(page, email=person["email"], password=person["password"])

    # the catalogue: all 14, narrowed by search and by category
    page.goto("/dashboard/connectors")
    page.get_by_test_id("connector-count").filter(has_text="Showing 14 of 14 connectors").wait_for()
    assert len(card_names(page)) == 14 == len(registry.all())
    page.steps.shot("catalogue")
    page.get_by_label("Search connectors").fill("hubspot")
    page.get_by_test_id("connector-count").filter(has_text="Showing 1 of 14").wait_for()
    assert card_names(page) == ["HubSpot"]
    page.get_by_label("Search connectors").fill("")
    page.get_by_label("Category").select_option(label="CRM")
    crm = sorted(p.name for p in registry.all() if p.category == "crm")
    page.get_by_test_id("connector-count").filter(has_text=f"Showing {len(crm)} of 14").wait_for()
    assert card_names(page) == crm
    page.steps.shot("catalogue filtered to CRM")
    page.get_by_label("Category").select_option(label="All categories")

    # the generated form: a bad URL is refused next to its field
    page.get_by_role("link", name="Connect WordPress").click()
    page.wait_for_url("**/dashboard/connectors/new?connector=wordpress")
    assert "application password" in page.get_by_test_id("auth-description").inner_text()  # what to have at hand
    page.get_by_label("Connection name").fill("Company blog")
    page.get_by_label("Site URL").fill("not a url")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Application password").fill(APP_PASSWORD)
    assert page.get_by_label("Application password").get_attribute("type") == "password"
    page.get_by_role("button", name="Save connection").click()
    site_error = page.locator(".field-invalid", has=page.get_by_label("Site URL")).locator(".field-error")
    site_error.wait_for()
    assert "valid URL" in site_error.inner_text()
    assert page.locator(".field-invalid").count() == 1
    page.steps.shot("field error next to the site URL")

    page.get_by_label("Site URL").fill(wordpress.site_url)
    page.get_by_role("button", name="Save connection").click()
    page.wait_for_url(re.compile(r"/dashboard/connectors/\d+\?created=1$"))
    page.get_by_test_id("created-notice").wait_for()
    # the stored secret is not sent back to the page
    assert page.get_by_label("Application password").input_value() == ""
    assert APP_PASSWORD not in page.content()

    # test the connection: the result, the status and the health history
    page.get_by_role("button", name="Test connection").click()
    page.get_by_test_id("test-result").filter(has_text="Connection works").wait_for()
    page.get_by_test_id("connection-status").filter(has_text="Healthy").wait_for()
    history = page.get_by_role("table", name="Health checks")
    history.locator("tbody tr").filter(has_text="OK").wait_for()
    assert history.locator("tbody tr").count() == 1
    page.steps.shot("connection tested")

    # live preview of the posts, ten a page, with paging
    page.get_by_label("Rows per page").select_option("10")
    page.get_by_test_id("preview-summary").filter(has_text="10 records on page 1").wait_for()
    assert post_titles(page) == [f"Post {n}" for n in range(1, 11)]
    page.get_by_role("button", name="Next page").click()
    page.get_by_test_id("preview-summary").filter(has_text="on page 2").wait_for()
    assert post_titles(page) == [f"Post {n}" for n in range(11, 21)]
    page.get_by_role("button", name="Next page").click()
    page.get_by_test_id("preview-summary").filter(has_text="5 records on page 3").wait_for()
    assert post_titles(page) == [f"Post {n}" for n in range(21, 26)]
    assert page.get_by_role("button", name="Next page").is_disabled()
    page.steps.shot("posts page 3")
    page.get_by_role("button", name="Previous page").click()
    page.get_by_test_id("preview-summary").filter(has_text="on page 2").wait_for()

    # a date window goes to WordPress (modified_after): every fake post was modified on 2026-11-01
    page.get_by_label("Since").fill("2026-11-02")
    page.get_by_text("Nothing on this page in this date range").wait_for()
    page.get_by_label("Since").fill("2026-10-01")
    page.get_by_test_id("preview-summary").filter(has_text="10 records on page 1").wait_for()
    assert any(r.args.get("modified_after") == "2026-11-02T00:00:00Z" for r, _ in httpserver.log)

    # phone width: the detail page and the catalogue fit, tables scroll inside their cards
    detail_url = page.url
    page.set_viewport_size(PHONE)
    page.reload()
    page.get_by_role("button", name="Test connection").wait_for()
    page.get_by_test_id("preview-summary").wait_for()
    assert fits_the_width(page)
    page.steps.shot("detail at phone width")
    page.goto("/dashboard/connectors")
    page.get_by_test_id("connector-count").filter(has_text="Showing 14 of 14").wait_for()
    assert fits_the_width(page)
    page.steps.shot("catalogue at phone width", full_page=False)

    # back on a laptop: the catalogue shows the connection and its health
    page.set_viewport_size({"width": 1280, "height": 860})
    wordpress_card = page.locator("[data-connector=wordpress]")
    wordpress_card.get_by_role("link", name="Company blog").wait_for()
    assert "Connected" in wordpress_card.inner_text()
    page.get_by_role("table").get_by_text("Healthy").wait_for()
    page.steps.shot("catalogue with a connection", full_page=False)

    # delete, after confirming
    page.goto(detail_url)
    page.get_by_role("button", name="Delete connection").click()
    dialog = page.get_by_role("dialog", name="Delete Company blog?")
    dialog.get_by_role("button", name="Delete").click()
    page.wait_for_url("**/dashboard/connectors")
    page.get_by_test_id("connector-count").wait_for()
    assert page.locator("[data-connector=wordpress]").get_by_role("link", name="Connect WordPress").is_visible()


def test_crm_lists_hubspot_contacts_live_with_paging_search_and_a_provider_error(page, client, httpserver):
    FakeHubSpot(httpserver, contacts=30)
    person = register(client, email=f"crm@{unique_slug('crm')}.example")
    base = httpserver.url_for("/").rstrip("/")
    api_connection(
        client, person, "hubspot", "Sales HubSpot", {"private_app_token": PRIVATE_APP_TOKEN, "api_base_url": base}
    )
    api_connection(client, person, "hubspot", "Old HubSpot", {"private_app_token": "pat-wrong", "api_base_url": base})
    login(page, email=person["email"], password=person["password"])

    page.goto("/dashboard/crm")
    page.get_by_label("CRM connection").select_option(label="Sales HubSpot (HubSpot)")
    table = page.get_by_test_id("contacts-table")
    page.get_by_test_id("contacts-summary").filter(has_text="25 contacts on page 1").wait_for()
    first = table.locator("tbody tr").first
    assert first.locator("td").all_inner_texts()[:4] == [
        "First1 Last1",
        "person1@example.com",
        "+44 20 7946 0001",
        "Company 1",
    ]
    page.steps.shot("hubspot contacts")

    page.get_by_label("Search contacts on this page").fill("person7@")
    page.get_by_test_id("contacts-summary").filter(has_text="1 of 25 contacts on page 1 match").wait_for()
    assert table.locator("tbody tr").count() == 1
    page.get_by_label("Search contacts on this page").fill("")

    page.get_by_role("button", name="Next page").click()
    page.get_by_test_id("contacts-summary").filter(has_text="5 contacts on page 2").wait_for()
    assert table.locator("tbody tr td:nth-child(2)").all_inner_texts() == [
        f"person{n}@example.com" for n in range(26, 31)
    ]
    assert page.get_by_role("button", name="Next page").is_disabled()
    page.steps.shot("hubspot contacts page 2")

    # a connection HubSpot refuses: the API's message, not a blank table
    page.get_by_label("CRM connection").select_option(label="Old HubSpot (HubSpot)")
    alert = page.get_by_test_id("error")
    alert.wait_for()
    assert "rejected the credentials: Authentication credentials not found" in alert.inner_text()
    page.steps.shot("provider refuses the token")
    page.set_viewport_size(PHONE)
    page.get_by_label("CRM connection").select_option(label="Sales HubSpot (HubSpot)")
    page.get_by_test_id("contacts-summary").wait_for()
    assert fits_the_width(page)
    page.steps.shot("crm at phone width")


def test_without_a_crm_the_page_links_to_the_crm_connectors(page, client):
    person = register(client, email=f"nocrm@{unique_slug('nocrm')}.example")
    login(page, email=person["email"], password=person["password"])
    page.goto("/dashboard/crm")
    page.get_by_role("heading", name="No CRM connected").wait_for()
    page.steps.shot("no crm")
    page.get_by_role("link", name="Connect a CRM").click()
    page.wait_for_url("**/dashboard/connectors?category=crm")
    crm = sorted(p.name for p in registry.all() if p.category == "crm")
    page.get_by_test_id("connector-count").filter(has_text=f"Showing {len(crm)} of 14").wait_for()
    assert card_names(page) == crm


def test_a_viewer_sees_the_connection_read_only(page, client, httpserver):
    wordpress = FakeWordPress(httpserver, posts=3)
    owner = register(client, email=f"boss@{unique_slug('view')}.example")
    connection = api_connection(
        client,
        owner,
        "wordpress",
        "Blog",
        {"site_url": wordpress.site_url, "username": USER, "application_password": APP_PASSWORD},
    )
    viewer = make_member(Tenant.objects.get(slug=owner["slug"]), "viewer", email=f"viewer@{owner['slug']}.example")
    login(page, email=viewer.email, password=PASSWORD, tenant=owner["slug"])

    page.goto("/dashboard/connectors")
    page.get_by_test_id("connector-count").filter(has_text="Showing 14 of 14").wait_for()
    assert page.get_by_role("link", name=re.compile(r"^Connect ")).count() == 0
    page.goto(f"/dashboard/connectors/{connection['id']}")
    page.get_by_test_id("preview-summary").filter(has_text="3 records").wait_for()  # viewers may read
    assert page.get_by_label("Site URL").is_disabled()
    for name in ("Save changes", "Test connection", "Delete connection"):
        assert page.get_by_role("button", name=name).count() == 0
    page.steps.shot("viewer read only")


def test_connect_with_oauth_goes_to_the_provider_and_comes_back_connected(
    page, client, httpserver, settings, live_server, portal_url
):
    hubspot = FakeHubSpot(httpserver, contacts=3, tokens=())
    auth_server = FakeAuthorizationServer(httpserver, hubspot)

    def authorize(request):
        """The provider's consent screen, already accepted: back to the redirect URI with a code and the state."""
        code, state = auth_server.user_consents(request.url)
        return Response(
            status=302,
            headers={"Location": f"{request.args['redirect_uri']}?{urlencode({'code': code, 'state': state})}"},
        )

    httpserver.expect_request("/oauth/authorize").respond_with_handler(authorize)
    settings.OAUTH_ENDPOINT_OVERRIDES = {
        "hubspot": {
            "authorize_url": httpserver.url_for("/oauth/authorize"),
            "token_url": httpserver.url_for("/oauth/v1/token"),
        }
    }
    settings.GATEWAY_URL, settings.PORTAL_URL = live_server.url, portal_url
    person = register(client, email=f"oauth@{unique_slug('oauth')}.example")
    login(page, email=person["email"], password=person["password"])

    page.goto("/dashboard/connectors/new?connector=hubspot")
    page.get_by_label("OAuth client ID").fill(CLIENT_ID)
    page.get_by_label("Client secret").fill(CLIENT_SECRET)
    page.get_by_label("API base URL").fill(hubspot.base_url)
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_test_id("created-notice").filter(has_text="connect with HubSpot").wait_for()
    page.steps.shot("oauth connection saved")

    page.get_by_role("button", name="Connect with HubSpot").click()
    page.wait_for_url(re.compile(r"/dashboard/connectors/\d+\?connected=1$"))
    page.get_by_test_id("connected-notice").wait_for()
    page.get_by_text("Authorised", exact=True).wait_for()
    page.get_by_test_id("preview-summary").filter(has_text="3 records").wait_for()  # read with the issued token
    page.steps.shot("connected with oauth")
    assert auth_server.issued == 1
