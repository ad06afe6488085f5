"""Sign up, sessions kept in httpOnly cookies, silent renewal, log out, and the session guard."""

from __future__ import annotations

import pytest

from tests.portal.conftest import login, register, unique_slug

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_up_lands_on_the_dashboard_with_tokens_only_in_httponly_cookies(page, client):
    slug = unique_slug("signup")
    page.goto("/signup")
    page.steps.shot("sign up form")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Email").fill(f"ada@{slug}.example")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("Business name").fill(f"Ada {slug}")
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url("**/dashboard")
    page.get_by_role("heading", name="Welcome, Ada").wait_for()
    page.steps.shot("dashboard after sign up")
    assert page.get_by_test_id("user-role").inner_text() == "owner"

    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["bzs_access"]["httpOnly"] and cookies["bzs_refresh"]["httpOnly"]
    assert cookies["bzs_refresh"]["sameSite"] == "Strict"
    # the page's JavaScript sees no token anywhere
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("JSON.stringify(window.localStorage) + JSON.stringify(window.sessionStorage)") == "{}{}"


def test_sign_up_shows_the_api_field_errors_next_to_the_fields(page, client):
    taken = register(client, email="taken@example.com")
    page.goto("/signup")
    page.get_by_label("Email").fill("taken@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_label("Business name").fill("Another")
    page.get_by_label("Workspace address").fill(taken["slug"])
    page.get_by_role("button", name="Create workspace").click()
    password_error = page.locator(".field-invalid", has=page.get_by_label("Password")).locator(".field-error")
    password_error.wait_for()
    page.steps.shot("field errors")
    assert password_error.inner_text()
    assert page.url.endswith("/signup")


def test_wrong_password_is_refused_and_a_right_one_logs_in(page, client):
    person = register(client, email="grace@example.com")
    page.goto("/login")
    page.get_by_label("Email").fill(person["email"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").filter(has_text="Wrong email or password").wait_for()
    page.steps.shot("wrong password")
    login(page, email=person["email"], password=person["password"])
    page.get_by_test_id("user-email").wait_for()
    assert page.get_by_test_id("user-email").inner_text() == "grace@example.com"


def test_an_expired_access_token_is_renewed_silently(page, client):
    person = register(client, email="renew@example.com")
    login(page, email=person["email"], password=person["password"])
    # the access cookie lapses (as it does after 15 minutes); the refresh cookie is still there
    page.context.clear_cookies(name="bzs_access")
    page.goto("/dashboard")
    page.get_by_test_id("user-email").wait_for()
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies.get("bzs_access"), "the proxy set a new access cookie"
    assert cookies["bzs_refresh"] != person["refresh"]


def test_log_out_ends_the_session_and_the_guard_sends_back_to_login(page, client):
    person = register(client, email="bye@example.com")
    login(page, email=person["email"], password=person["password"])
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    assert not [c for c in page.context.cookies() if c["name"].startswith("bzs_") and c["value"]]
    page.goto("/dashboard")
    page.wait_for_url("**/login?next=%2Fdashboard")
    page.steps.shot("sent to login")


def test_the_proxy_refuses_cross_site_writes(page, portal_url, client):
    import httpx

    person = register(client, email="csrf@example.com")
    login(page, email=person["email"], password=person["password"])
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    response = httpx.post(
        f"{portal_url}/api/v1/webhooks/endpoints/",
        json={"name": "x"},
        cookies=cookies,
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    )
    assert response.status_code == 403
    assert "Cross-site" in response.json()["detail"]


def test_a_cross_site_get_does_not_log_out(page, portal_url, client):
    import httpx

    person = register(client, email="stay@example.com")
    login(page, email=person["email"], password=person["password"])
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}

    # what an <img src=".../api/v1/auth/logout/"> on another site makes the browser send
    response = httpx.get(
        f"{portal_url}/api/v1/auth/logout/", cookies=cookies, headers={"sec-fetch-site": "cross-site"}
    )

    assert response.status_code == 405
    page.goto("/dashboard")
    page.get_by_test_id("user-email").wait_for()  # still signed in


def test_the_gateway_records_the_persons_address_and_user_agent_not_the_portals(portal_url, client, settings):
    import httpx

    from apps.accounts.models import PlatformAuditEvent
    from tests.factories import make_user

    settings.TRUSTED_PROXY_COUNT = 1  # the portal, as `make run` configures the gateway
    settings.TRUSTED_PROXY_NETWORKS = ["127.0.0.0/8", "::1/128"]
    make_user(email="forgot@example.com")

    response = httpx.post(
        f"{portal_url}/api/v1/auth/password/reset/",
        json={"email": "forgot@example.com"},
        headers={"user-agent": "Person's browser/1.0", "x-forwarded-for": "6.6.6.6"},
    )

    assert response.status_code == 202
    event = PlatformAuditEvent.objects.get(action="user.password_reset_requested")
    # the address the portal saw this person connect from (the test runs on loopback), not what they claimed
    assert event.ip == "127.0.0.1"
    assert event.user_agent == "Person's browser/1.0"
