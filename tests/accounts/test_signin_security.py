"""Sign-in and sessions against an attacker: throttles that rotating headers, addresses or hosts do not reset, the
console's login form limited too, and tokens that stop working the moment their session ends."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.client import client_ip
from apps.accounts.models import PlatformAuditEvent
from tests.factories import PASSWORD, make_member, make_tenant, make_user

pytestmark = pytest.mark.django_db


def login(api, email, password="guess-number-x", **extra):
    return api.post("/api/v1/auth/login/", {"email": email, "password": password}, **extra)


def me(api, access):
    return api.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Bearer {access}")


# --- the client's address -------------------------------------------------------------------------------------


def test_rotating_x_forwarded_for_gives_no_fresh_bucket(api):
    # by default no proxy is trusted: the header is the sender's own words
    statuses = [
        api.post(
            "/api/v1/auth/password/reset/", {"email": f"p{i}@example.com"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"
        ).status_code
        for i in range(6)
    ]

    assert statuses == [202] * 5 + [429]


def test_behind_one_trusted_proxy_only_its_entry_counts(api, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_NETWORKS = ["127.0.0.0/8"]

    # a browser prepending addresses of its own: the portal appends (sets) the real peer, which is what counts
    statuses = [
        api.post(
            "/api/v1/auth/password/reset/",
            {"email": f"p{i}@example.com"},
            HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, 198.51.100.7",
            REMOTE_ADDR="127.0.0.1",
        ).status_code
        for i in range(6)
    ]
    other_person = api.post(
        "/api/v1/auth/password/reset/", {"email": "q@example.com"}, HTTP_X_FORWARDED_FOR="198.51.100.8"
    )
    # a peer that is not the trusted proxy cannot claim an address
    spoofed = api.post(
        "/api/v1/auth/password/reset/",
        {"email": "r@example.com"},
        HTTP_X_FORWARDED_FOR="198.51.100.9",
        REMOTE_ADDR="192.0.2.50",
    )

    assert statuses == [202] * 5 + [429]
    assert other_person.status_code == 202
    assert spoofed.status_code == 202
    make_user(email="real@example.com")
    api.post(
        "/api/v1/auth/password/reset/",
        {"email": "real@example.com"},
        HTTP_X_FORWARDED_FOR="198.51.100.20",
        HTTP_USER_AGENT="Person's browser/1.0",
        REMOTE_ADDR="127.0.0.1",
    )
    event = PlatformAuditEvent.objects.get(action="user.password_reset_requested")
    assert (event.ip, event.user_agent) == ("198.51.100.20", "Person's browser/1.0")


@pytest.mark.parametrize(
    ("count", "networks", "peer", "forwarded", "expected"),
    [
        (0, [], "192.0.2.1", "203.0.113.5", "192.0.2.1"),  # no proxy trusted: the header is ignored
        (1, [], "10.0.0.2", "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # only what our proxy appended
        (2, [], "10.0.0.2", "6.6.6.6, 203.0.113.5, 10.0.0.9", "203.0.113.5"),
        (2, [], "10.0.0.2", "203.0.113.5", "203.0.113.5"),  # fewer entries than proxies: the outermost one's
        (1, [], "10.0.0.2", "", "10.0.0.2"),
        (1, [], "10.0.0.2", "not-an-address", "10.0.0.2"),
        (1, ["127.0.0.0/8"], "192.0.2.1", "203.0.113.5", "192.0.2.1"),  # a peer that is not our proxy
        (1, ["127.0.0.0/8"], "127.0.0.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_comes_from_the_trusted_proxies_only(settings, count, networks, peer, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXY_NETWORKS = count, networks

    assert client_ip({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}) == expected


# --- per account ----------------------------------------------------------------------------------------------


def test_the_same_email_on_two_tenants_hosts_shares_one_bucket(api):
    make_member(make_tenant(slug="acme"), "member", email="victim@example.com")
    make_tenant(slug="beta")

    statuses = [
        login(
            api,
            "victim@example.com",
            HTTP_HOST=("acme.localhost", "beta.localhost", "localhost")[i % 3],
            REMOTE_ADDR=f"192.0.2.{i + 1}",
        ).status_code
        for i in range(11)
    ]

    assert statuses == [401] * 10 + [429]
    assert login(api, "Victim@Example.com", PASSWORD, REMOTE_ADDR="192.0.2.99").status_code == 429


def test_password_reset_mails_to_one_account_are_limited_whatever_the_address(api):
    make_user(email="inbox@example.com")

    statuses = [
        api.post(
            "/api/v1/auth/password/reset/", {"email": "inbox@example.com"}, REMOTE_ADDR=f"192.0.2.{i + 1}"
        ).status_code
        for i in range(5)
    ]

    assert statuses == [202] * 3 + [429] * 2
    assert len(mail.outbox) == 3


def test_a_json_array_body_is_no_account_and_no_error(api):
    response = api.client.post("/api/v1/auth/password/reset/", "[1, 2]", content_type="application/json")

    assert response.status_code == 400


def test_password_guesses_against_one_invitation_are_limited_whatever_the_address(api):
    body = {"token": "a-guessed-or-stolen-invitation-token", "password": "guess-number-x"}

    statuses = [
        api.post("/api/v1/auth/invitations/accept/", body, REMOTE_ADDR=f"192.0.2.{i + 1}").status_code
        for i in range(11)
    ]

    assert statuses[-1] == 429
    assert 429 not in statuses[:10]


# --- the super-admin console ----------------------------------------------------------------------------------


def test_wrong_console_passwords_are_refused_after_the_limit_without_being_checked():
    root = make_user(email="root@example.com", is_staff=True, is_superuser=True)

    statuses = [
        Client(HTTP_HOST="localhost", REMOTE_ADDR=f"192.0.2.{i + 1}")
        .post("/admin/login/", {"username": root.email, "password": f"wrong-{i}"})
        .status_code
        for i in range(25)
    ]
    right = Client(HTTP_HOST="localhost", REMOTE_ADDR="192.0.2.200").post(
        "/admin/login/", {"username": root.email, "password": PASSWORD}
    )

    assert statuses == [200] * 10 + [429] * 15  # 200: the form again, with its error
    assert right.status_code == 429
    root.refresh_from_db()
    assert root.last_login is None  # the right password, refused unchecked, signed nobody in


def test_one_address_trying_many_console_accounts_is_refused_after_the_limit():
    client = Client(HTTP_HOST="localhost")

    statuses = [
        client.post("/admin/login/", {"username": f"admin{i}@example.com", "password": "x"}).status_code
        for i in range(11)
    ]

    assert statuses == [200] * 10 + [429]
    assert client.get("/admin/login/").status_code == 200  # the form itself still shows


# --- sessions end at once -------------------------------------------------------------------------------------


def test_after_logout_the_access_token_is_refused(api):
    make_member(make_tenant(slug="acme"), "member", email="m@acme.test")
    pair = login(api, "m@acme.test", PASSWORD).json()
    other = login(api, "m@acme.test", PASSWORD).json()
    rotated = api.post("/api/v1/auth/refresh/", {"refresh": pair["refresh"]}).json()
    assert me(api, pair["access"]).status_code == 200

    assert api.post("/api/v1/auth/logout/", {"refresh": rotated["refresh"]}).status_code == 204

    assert me(api, pair["access"]).status_code == 401
    assert me(api, rotated["access"]).status_code == 401  # the same session, renewed before
    assert me(api, other["access"]).status_code == 200  # another device stays signed in


def test_after_a_password_change_other_sessions_access_tokens_are_refused(api):
    make_member(make_tenant(slug="acme"), "member", email="m@acme.test")
    other = login(api, "m@acme.test", PASSWORD).json()
    this = login(api, "m@acme.test", PASSWORD).json()

    changed = api.post(
        "/api/v1/auth/password/change/",
        {"old_password": PASSWORD, "new_password": "brand-new-pass-77"},
        HTTP_AUTHORIZATION=f"Bearer {this['access']}",
    )

    assert changed.status_code == 200
    assert me(api, other["access"]).status_code == 401
    assert me(api, this["access"]).status_code == 401
    assert me(api, changed.json()["access"]).status_code == 200


def test_after_a_password_reset_access_tokens_are_refused(api):
    make_member(make_tenant(slug="acme"), "member", email="m@acme.test")
    stolen = login(api, "m@acme.test", PASSWORD).json()
    api.post("/api/v1/auth/password/reset/", {"email": "m@acme.test"})
    uid, token = re.search(r"uid=([\w-]+)&token=([\w-]+)", mail.outbox[0].body).groups()

    confirmed = api.post(
        "/api/v1/auth/password/reset/confirm/", {"uid": uid, "token": token, "new_password": "fresh-secret-pass-5"}
    )

    assert confirmed.status_code == 204
    assert me(api, stolen["access"]).status_code == 401
    fresh = login(api, "m@acme.test", "fresh-secret-pass-5").json()
    assert me(api, fresh["access"]).status_code == 200
    assert AccessToken(fresh["access"])["tv"] == 1
