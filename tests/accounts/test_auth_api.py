"""Sign-up, login, tokens, tenants switching, passwords and invitations, as a person using the API sees them."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.audit.models import AuditEvent
from apps.accounts.audit.services import Actor
from apps.accounts.models import Invitation, Membership, PlatformAuditEvent, Tenant, User
from apps.accounts.services import api_key_create, invitation_create, tenant_set_status
from tests.factories import PASSWORD, bearer, make_member, make_tenant, make_user

pytestmark = pytest.mark.django_db

REGISTER = {
    "email": "Founder@Example.com",
    "password": "a-very-long-passphrase-42",
    "first_name": "Ada",
    "tenant_name": "Ada's Agency",
    "tenant_slug": "ada-agency",
}


def counts() -> tuple[int, int, int]:
    return User.objects.count(), Tenant.objects.count(), Membership.objects.count()


def login(api, email, password=PASSWORD, **extra):
    return api.post("/api/v1/auth/login/", {"email": email, "password": password, **extra})


# --- sign-up ---------------------------------------------------------------------------------------------------


def test_register_creates_the_owner_the_tenant_and_its_schema(api):
    response = api.post("/api/v1/auth/register/", REGISTER)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tenant"] == "ada-agency"
    assert AccessToken(body["access"])["tenant"] == "ada-agency"
    tenant = Tenant.objects.get(slug="ada-agency")
    assert schema_exists(tenant.schema_name)
    assert Membership.objects.get(tenant=tenant).role == "owner"
    assert Membership.objects.get(tenant=tenant).user.email == "Founder@example.com"
    assert PlatformAuditEvent.objects.filter(action="tenant.created", tenant_slug="ada-agency").count() == 1
    with schema_context(tenant.schema_name):
        assert list(AuditEvent.objects.values_list("action", flat=True)) == ["member.added"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "password"}, "password"),
        ({"password": "12345678901"}, "password"),
        ({"tenant_slug": "Bad Slug!"}, "tenant_slug"),
        ({"tenant_slug": "public"}, "tenant_slug"),
        ({"tenant_name": ""}, "tenant_name"),
    ],
)
def test_register_rejects_bad_input_field_by_field_and_creates_nothing(api, change, field):
    before = counts()

    response = api.post("/api/v1/auth/register/", {**REGISTER, **change})

    assert response.status_code == 400
    assert field in response.json()
    assert counts() == before


def test_register_rejects_a_taken_slug_and_a_taken_email(api):
    make_tenant(slug="ada-agency")
    make_user(email="founder@example.com")
    before = counts()

    response = api.post("/api/v1/auth/register/", REGISTER)

    assert response.status_code == 400
    assert set(response.json()) == {"email", "tenant_slug"}
    assert counts() == before


# --- login, refresh, logout -----------------------------------------------------------------------------------


def test_login_issues_a_pair_for_the_first_active_membership(api):
    tenant = make_tenant(slug="acme")
    user = make_member(tenant, "member", email="m@acme.test")

    response = login(api, "m@acme.test")

    assert response.status_code == 200
    body = response.json()
    assert body["tenant"] == "acme"
    assert AccessToken(body["access"])["user_id"] == str(user.pk)
    me = api.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}").json()
    assert me["tenant"] == {"slug": "acme", "name": "Acme", "role": "member"}
    assert me["memberships"] == [{"slug": "acme", "name": "Acme", "status": "active", "role": "member"}]


@pytest.mark.parametrize(("email", "password"), [("m@acme.test", "wrong-password-1"), ("nobody@acme.test", PASSWORD)])
def test_login_with_wrong_credentials_is_401_without_saying_which(api, email, password):
    make_member(make_tenant(slug="acme"), "member", email="m@acme.test")

    response = login(api, email, password)

    assert response.status_code == 401
    assert response.json()["detail"] == "Wrong email or password."


def test_login_is_throttled_after_ten_attempts(api):
    make_user(email="victim@example.com")

    statuses = [login(api, "victim@example.com", "guess-number-x").status_code for _ in range(11)]

    assert statuses == [401] * 10 + [429]
    assert login(api, "victim@example.com").status_code == 429  # even the right password waits


def test_login_into_a_tenant_one_does_not_belong_to_is_400(api):
    make_tenant(slug="other")
    make_member(make_tenant(slug="acme"), "member", email="m@acme.test")

    response = login(api, "m@acme.test", tenant="other")

    assert response.status_code == 400
    assert response.json() == {"tenant": ["You are not a member of this tenant."]}


def test_refresh_rotates_and_the_old_refresh_token_is_dead(api):
    make_member(make_tenant(slug="acme"), "member", email="m@acme.test")
    first = login(api, "m@acme.test").json()

    rotated = api.post("/api/v1/auth/refresh/", {"refresh": first["refresh"]})
    reused = api.post("/api/v1/auth/refresh/", {"refresh": first["refresh"]})

    assert rotated.status_code == 200
    assert AccessToken(rotated.json()["access"])["tenant"] == "acme"
    assert rotated.json()["refresh"] != first["refresh"]
    assert reused.status_code == 401


def test_logout_blacklists_the_refresh_token(api):
    make_member(make_tenant(slug="acme"), "member", email="m@acme.test")
    pair = login(api, "m@acme.test").json()

    assert api.post("/api/v1/auth/logout/", {"refresh": pair["refresh"]}).status_code == 204
    assert api.post("/api/v1/auth/refresh/", {"refresh": pair["refresh"]}).status_code == 401
    assert api.post("/api/v1/auth/logout/", {"refresh": "garbage"}).status_code == 400


@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Bearer ", "Token abc", "Bearer bzs_nope_nope"])
def test_malformed_or_unknown_credentials_are_401(api, header):
    make_tenant(slug="acme")

    response = api.get("/api/v1/members/", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401


def test_an_expired_access_token_is_401(api):
    tenant = make_tenant(slug="acme")
    user = make_member(tenant, "owner")
    token = AccessToken.for_user(user)
    token["tenant"] = "acme"
    token.set_exp(lifetime=-timedelta(seconds=1))

    response = api.get("/api/v1/members/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401


def test_a_token_that_worked_is_refused_once_it_expires(api):
    """The gateway keeps the tokens it verified (apps.accounts.access): their expiry is still checked on every
    request, against the time of that request."""
    tenant = make_tenant(slug="acme")
    user = make_member(tenant, "owner")
    token = AccessToken.for_user(user)
    token["tenant"] = "acme"
    token["tv"] = user.token_version
    token.set_exp(lifetime=timedelta(seconds=2))

    assert api.get("/api/v1/members/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    time.sleep(2.1)

    assert api.get("/api/v1/members/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


# --- switching tenants ----------------------------------------------------------------------------------------


def test_switch_tenant_issues_a_pair_for_another_membership_only(api):
    acme, globex = make_tenant(slug="acme"), make_tenant(slug="globex")
    make_tenant(slug="initech")
    user = make_member(acme, "viewer", email="two@hats.test")
    Membership.objects.create(user=user, tenant=globex, role="admin")

    switched = api.post("/api/v1/auth/switch-tenant/", {"tenant": "globex"}, **bearer(user, acme))
    refused = api.post("/api/v1/auth/switch-tenant/", {"tenant": "initech"}, **bearer(user, acme))

    assert switched.status_code == 200
    assert AccessToken(switched.json()["access"])["tenant"] == "globex"
    members = api.get("/api/v1/invitations/", HTTP_AUTHORIZATION=f"Bearer {switched.json()['access']}")
    assert members.status_code == 200  # admin in globex, while only a viewer in acme
    assert refused.status_code == 400


def test_a_suspended_tenant_refuses_its_members_and_keys(api):
    tenant = make_tenant(slug="acme")
    user = make_member(tenant, "owner")
    _key, secret = api_key_create(
        tenant=tenant, name="k", scopes=["members:read"], expires_at=None, created_by=None, actor=Actor.system("t")
    )
    auth = bearer(user, tenant)
    tenant_set_status(tenant=tenant, actor=Actor.system("test"), status="suspended")

    assert api.get("/api/v1/members/", **auth).status_code == 403
    assert api.get("/api/v1/members/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403
    assert api.post("/api/v1/auth/switch-tenant/", {"tenant": "acme"}, **auth).status_code == 403
    assert login(api, user.email, tenant="acme").status_code == 403


def test_removing_a_member_revokes_their_access_at_once(api):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner")
    leaver = make_member(tenant, "admin")
    leaver_auth = bearer(leaver, tenant)
    assert api.get("/api/v1/members/", **leaver_auth).status_code == 200
    membership = Membership.objects.get(user=leaver)

    assert api.delete(f"/api/v1/members/{membership.pk}/", **bearer(owner, tenant)).status_code == 204

    response = api.get("/api/v1/members/", **leaver_auth)
    assert response.status_code == 403
    assert response.json()["detail"] == "You are not a member of this tenant."


def test_the_last_owner_can_be_neither_removed_nor_demoted(api):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner")
    membership = Membership.objects.get(user=owner)

    demoted = api.patch(f"/api/v1/members/{membership.pk}/", {"role": "admin"}, **bearer(owner, tenant))
    removed = api.delete(f"/api/v1/members/{membership.pk}/", **bearer(owner, tenant))

    assert demoted.status_code == 400
    assert removed.status_code == 400
    assert Membership.objects.get(pk=membership.pk).role == "owner"


def test_an_unknown_role_is_a_field_error(api):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner")
    target = Membership.objects.get(user=make_member(tenant, "viewer"))

    response = api.patch(f"/api/v1/members/{target.pk}/", {"role": "emperor"}, **bearer(owner, tenant))

    assert response.status_code == 400
    assert "role" in response.json()
    assert Membership.objects.get(pk=target.pk).role == "viewer"


# --- passwords ------------------------------------------------------------------------------------------------


def test_password_change_checks_the_old_one_and_ends_other_sessions(api):
    tenant = make_tenant(slug="acme")
    user = make_member(tenant, "member", email="m@acme.test")
    other_session = login(api, "m@acme.test").json()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {other_session['access']}"}

    wrong = api.post(
        "/api/v1/auth/password/change/", {"old_password": "nope", "new_password": "brand-new-pass-77"}, **auth
    )
    weak = api.post("/api/v1/auth/password/change/", {"old_password": PASSWORD, "new_password": "short"}, **auth)
    changed = api.post(
        "/api/v1/auth/password/change/", {"old_password": PASSWORD, "new_password": "brand-new-pass-77"}, **auth
    )

    assert wrong.status_code == 400 and "old_password" in wrong.json()
    assert weak.status_code == 400 and "password" in weak.json()
    assert changed.status_code == 200
    assert api.post("/api/v1/auth/refresh/", {"refresh": other_session["refresh"]}).status_code == 401
    assert login(api, "m@acme.test", "brand-new-pass-77").status_code == 200
    user.refresh_from_db()
    assert user.check_password("brand-new-pass-77")


def test_password_reset_by_emailed_token_is_single_use(api):
    make_user(email="forgetful@example.com")

    unknown = api.post("/api/v1/auth/password/reset/", {"email": "nobody@example.com"})
    known = api.post("/api/v1/auth/password/reset/", {"email": "forgetful@example.com"})

    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()  # no account enumeration
    assert len(mail.outbox) == 1
    uid, token = re.search(r"uid=([\w-]+)&token=([\w-]+)", mail.outbox[0].body).groups()
    new = {"uid": uid, "token": token, "new_password": "fresh-secret-pass-5"}
    assert api.post("/api/v1/auth/password/reset/confirm/", new).status_code == 204
    reused = api.post("/api/v1/auth/password/reset/confirm/", {**new, "new_password": "another-pass-66x"})
    assert reused.status_code == 400
    assert "token" in reused.json()
    assert login(api, "forgetful@example.com", "fresh-secret-pass-5").status_code == 200


def test_password_reset_requests_are_throttled(api):
    statuses = [api.post("/api/v1/auth/password/reset/", {"email": f"x{i}@example.com"}).status_code for i in range(6)]

    assert statuses == [202] * 5 + [429]


# --- invitations ----------------------------------------------------------------------------------------------


def invite(api, tenant, inviter, email="new@acme.test", role="member"):
    return api.post("/api/v1/invitations/", {"email": email, "role": role}, **bearer(inviter, tenant))


def emailed_token() -> str:
    return re.search(r"token=([\w-]+)", mail.outbox[-1].body).group(1)


def test_an_invited_person_joins_with_the_role_once(api, django_capture_on_commit_callbacks):
    tenant = make_tenant(slug="acme")
    admin = make_member(tenant, "admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(api, tenant, admin, role="member")
    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert mail.outbox[-1].to == ["new@acme.test"]
    token = emailed_token()

    accepted = api.post("/api/v1/auth/invitations/accept/", {"token": token, "password": "joiner-pass-2026"})
    again = api.post("/api/v1/auth/invitations/accept/", {"token": token, "password": "joiner-pass-2026"})

    assert accepted.status_code == 200
    assert accepted.json()["tenant"] == "acme"
    assert Membership.objects.get(tenant=tenant, user__email="new@acme.test").role == "member"
    assert again.status_code == 400
    assert again.json() == {"token": ["This invitation was already used."]}


def test_expired_and_revoked_invitations_are_refused(api):
    tenant = make_tenant(slug="acme")
    system = Actor.system("test")
    expired, expired_token = invitation_create(
        tenant=tenant, email="late@acme.test", role="member", invited_by=None, actor=system, inviter_role=None
    )
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    revoked, revoked_token = invitation_create(
        tenant=tenant, email="gone@acme.test", role="member", invited_by=None, actor=system, inviter_role=None
    )
    owner = make_member(tenant, "owner")
    assert api.delete(f"/api/v1/invitations/{revoked.pk}/", **bearer(owner, tenant)).status_code == 204
    before = counts()

    late = api.post("/api/v1/auth/invitations/accept/", {"token": expired_token, "password": "joiner-pass-2026"})
    gone = api.post("/api/v1/auth/invitations/accept/", {"token": revoked_token, "password": "joiner-pass-2026"})
    forged = api.post("/api/v1/auth/invitations/accept/", {"token": "made-up", "password": "joiner-pass-2026"})

    assert (late.status_code, gone.status_code, forged.status_code) == (400, 400, 400)
    assert "expired" in late.json()["token"][0]
    assert "revoked" in gone.json()["token"][0]
    assert counts() == before


def test_only_an_owner_may_invite_an_owner(api):
    tenant = make_tenant(slug="acme")
    admin, owner = make_member(tenant, "admin"), make_member(tenant, "owner")

    by_admin = invite(api, tenant, admin, role="owner")
    by_owner = invite(api, tenant, owner, email="co-owner@acme.test", role="owner")
    bad_role = invite(api, tenant, owner, email="x@acme.test", role="overlord")
    bad_email = invite(api, tenant, owner, email="not-an-email", role="member")

    assert by_admin.status_code == 400 and by_admin.json() == {"role": ["Only an owner may invite an owner."]}
    assert by_owner.status_code == 201
    assert bad_role.status_code == 400 and "role" in bad_role.json()
    assert bad_email.status_code == 400 and "email" in bad_email.json()
    assert Invitation.objects.filter(tenant=tenant).count() == 1


def test_an_existing_account_accepts_with_its_own_password(api, django_capture_on_commit_callbacks):
    tenant = make_tenant(slug="acme")
    make_user(email="known@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        invite(api, tenant, make_member(tenant, "owner"), email="known@example.com")
    token = emailed_token()

    wrong = api.post("/api/v1/auth/invitations/accept/", {"token": token, "password": "not-my-password"})
    right = api.post("/api/v1/auth/invitations/accept/", {"token": token, "password": PASSWORD})

    assert wrong.status_code == 400 and "password" in wrong.json()
    assert right.status_code == 200
    assert User.objects.filter(email__iexact="known@example.com").count() == 1


# --- API keys -------------------------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_and_stored_hashed(api):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner")

    created = api.post("/api/v1/api-keys/", {"name": "crm sync", "scopes": ["members:read"]}, **bearer(owner, tenant))

    assert created.status_code == 201
    secret = created.json()["key"]
    assert secret.startswith("bzs_")
    listed = api.get("/api/v1/api-keys/", **bearer(owner, tenant)).json()["results"]
    assert "key" not in listed[0]
    assert secret not in str(listed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT prefix, secret_hash FROM accounts_apikey")
        prefix, stored = cursor.fetchone()
    assert secret not in stored and len(stored) == 64
    assert listed[0]["key_prefix"] == f"bzs_{prefix}"
    with schema_context(tenant.schema_name):
        assert secret not in str(list(AuditEvent.objects.values()))

    used = api.get("/api/v1/members/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert used.status_code == 200
    assert api.get("/api/v1/api-keys/", **bearer(owner, tenant)).json()["results"][0]["last_used_at"] is not None


def test_revoked_and_expired_keys_are_401(api):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner")
    system = Actor.system("test")
    revoked, revoked_secret = api_key_create(
        tenant=tenant, name="r", scopes=["members:read"], expires_at=None, created_by=None, actor=system
    )
    expiring, expiring_secret = api_key_create(
        tenant=tenant,
        name="e",
        scopes=["members:read"],
        expires_at=timezone.now() + timedelta(hours=1),
        created_by=None,
        actor=system,
    )
    assert api.delete(f"/api/v1/api-keys/{revoked.pk}/", **bearer(owner, tenant)).status_code == 204
    type(expiring).objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert api.get("/api/v1/members/", HTTP_AUTHORIZATION=f"Bearer {revoked_secret}").status_code == 401
    assert api.get("/api/v1/members/", HTTP_AUTHORIZATION=f"Bearer {expiring_secret}").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["root:all"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "", "scopes": ["members:read"]}, "name"),
        ({"name": "x", "scopes": ["members:read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["members:read"], "expires_at": "someday"}, "expires_at"),
    ],
)
def test_bad_api_key_requests_are_field_errors_and_create_nothing(api, body, field):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner")

    response = api.post("/api/v1/api-keys/", body, **bearer(owner, tenant))

    assert response.status_code == 400
    assert field in response.json()
    assert api.get("/api/v1/api-keys/", **bearer(owner, tenant)).json()["count"] == 0


def test_api_keys_cannot_use_account_endpoints(api):
    tenant = make_tenant(slug="acme")
    _key, secret = api_key_create(
        tenant=tenant, name="k", scopes=["members:read"], expires_at=None, created_by=None, actor=Actor.system("t")
    )

    for path in ("/api/v1/auth/me/",):
        assert api.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403
    assert (
        api.post("/api/v1/auth/switch-tenant/", {"tenant": "acme"}, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code
        == 403
    )


# --- audit log ------------------------------------------------------------------------------------------------


def test_audit_events_record_who_what_where_and_cannot_be_altered(api):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner", email="boss@acme.test")
    target = Membership.objects.get(user=make_member(tenant, "viewer"))

    api.patch(
        f"/api/v1/members/{target.pk}/",
        {"role": "member"},
        HTTP_USER_AGENT="pytest-agent/1",
        HTTP_X_REQUEST_ID="req-123",
        **bearer(owner, tenant),
    )

    events = api.get("/api/v1/audit-log/", {"action": "member."}, **bearer(owner, tenant)).json()["results"]
    assert len(events) == 1
    event = events[0]
    assert event["action"] == "member.role_changed"
    assert event["actor_type"] == "user" and event["actor_label"] == "boss@acme.test"
    assert event["changes"] == {"role": ["viewer", "member"]}
    assert (event["ip"], event["user_agent"], event["request_id"]) == ("127.0.0.1", "pytest-agent/1", "req-123")
    with schema_context(tenant.schema_name):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event["id"]).update(action="forged")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event["id"]).delete()
        assert AuditEvent.objects.get(pk=event["id"]).action == "member.role_changed"


def test_audit_log_filters_and_rejects_bad_dates(api):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner")
    auth = bearer(owner, tenant)
    api.post("/api/v1/api-keys/", {"name": "a", "scopes": ["members:read"]}, **auth)
    api.post("/api/v1/invitations/", {"email": "i@acme.test", "role": "viewer"}, **auth)

    keys = api.get("/api/v1/audit-log/", {"action": "api_key.created"}, **auth).json()
    future = api.get("/api/v1/audit-log/", {"since": "2999-01-01T00:00:00Z"}, **auth).json()
    bad = api.get("/api/v1/audit-log/", {"since": "yesterday"}, **auth)

    assert [e["action"] for e in keys["results"]] == ["api_key.created"]
    assert future["count"] == 0
    assert bad.status_code == 400 and "since" in bad.json()


def test_a_header_or_body_naming_another_tenant_is_ignored(api):
    acme, globex = make_tenant(slug="acme"), make_tenant(slug="globex")
    owner = make_member(acme, "owner")
    make_member(globex, "owner", email="secret@globex.test")

    response = api.get("/api/v1/members/", HTTP_X_TENANT="globex", **bearer(owner, acme))
    renamed = api.patch(
        "/api/v1/tenant/", {"name": "Mine", "slug": "globex", "tenant": "globex"}, **bearer(owner, acme)
    )

    assert "secret@globex.test" not in response.content.decode()
    assert renamed.json()["slug"] == "acme"
    assert Tenant.objects.get(slug="globex").name == "Globex"
