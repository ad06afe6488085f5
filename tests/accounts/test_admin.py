"""The super-admin console (Django admin on the public domain): superusers only, tenant creation and suspension
through the services, secrets never shown, every write audited, the platform audit log read-only."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client, RequestFactory
from django_tenants.utils import schema_context, schema_exists

from apps.accounts.audit.models import AuditEvent
from apps.accounts.audit.services import Actor
from apps.accounts.models import ApiKey, Domain, Invitation, Membership, PlatformAuditEvent, Tenant, User
from apps.accounts.services import api_key_create, invitation_create
from tests.factories import PASSWORD, make_member, make_tenant, make_user

pytestmark = pytest.mark.django_db

TENANTS = "/admin/accounts/tenant/"


@pytest.fixture
def superuser():
    return make_user(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def console(superuser):
    """A browser on the public domain, logged in as a super admin."""
    client = Client(HTTP_HOST="localhost")
    client.force_login(superuser)
    return client


def change_form_data(response) -> dict:
    """What the browser would post back for an unedited change form: the main form and every inline formset."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
        forms += inline.formset.forms
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
    return data


def tenant_events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.filter(action=action))


def make_key(tenant: Tenant, name: str = "Zapier") -> tuple[ApiKey, str]:
    return api_key_create(
        tenant=tenant,
        name=name,
        scopes=["tenant:read"],
        expires_at=None,
        created_by=None,
        actor=Actor.system("test"),
    )


# --- who may enter ---------------------------------------------------------------------------------------------


def test_a_superuser_sees_the_tenant_list_with_member_and_api_key_counts(console):
    acme = make_tenant(slug="acme", name="Acme Agency")
    make_member(acme, "owner")
    make_member(acme, "viewer")
    make_key(acme)
    make_tenant(slug="globex")

    response = console.get(TENANTS)

    assert response.status_code == 200
    assert b"Acme Agency" in response.content
    rows = {tenant.slug: tenant for tenant in response.context["cl"].result_list}
    assert set(rows) >= {"acme", "globex"}
    assert (rows["acme"]._member_count, rows["acme"]._api_key_count) == (2, 1)
    assert (rows["globex"]._member_count, rows["globex"]._api_key_count) == (0, 0)


def test_a_staff_member_who_is_not_a_superuser_is_sent_to_the_login_page_and_cannot_log_in():
    staff = make_user(email="staff@example.com", is_staff=True)
    client = Client(HTTP_HOST="localhost")
    client.force_login(staff)

    response = client.get(TENANTS)

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")

    fresh = Client(HTTP_HOST="localhost")
    login = fresh.post("/admin/login/", {"username": staff.email, "password": PASSWORD, "next": TENANTS})
    assert login.status_code == 200  # the form again, with an error
    assert b"super-admin account" in login.content
    assert "_auth_user_id" not in fresh.session
    assert fresh.get(TENANTS).status_code == 302


def test_a_superuser_logs_in_with_email_and_password():
    root = make_user(email="boss@example.com", is_superuser=True)  # is_staff is not what opens the console
    client = Client(HTTP_HOST="localhost")

    login = client.post("/admin/login/", {"username": root.email, "password": PASSWORD, "next": TENANTS})

    assert login.status_code == 302
    assert login.url == TENANTS
    assert client.get(TENANTS).status_code == 200


def test_the_console_home_lists_the_platform_models(console):
    response = console.get("/admin/")

    assert response.status_code == 200
    content = response.content.decode()
    for path in ("tenant", "user", "membership", "apikey", "invitation", "platformauditevent"):
        assert f'href="/admin/accounts/{path}/"' in content


def test_an_anonymous_visitor_is_sent_to_the_login_page():
    response = Client(HTTP_HOST="localhost").get(TENANTS)

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_the_console_is_not_served_on_a_tenant_domain(console):
    make_tenant(slug="acme")

    response = console.get(TENANTS, HTTP_HOST="acme.localhost")

    assert response.status_code == 404


# --- tenants ---------------------------------------------------------------------------------------------------


def test_adding_a_tenant_creates_its_schema_domain_and_a_tenant_created_audit_event(console, superuser):
    response = console.post(f"{TENANTS}add/", {"name": "Globex Corp", "slug": "globex-corp"})

    tenant = Tenant.objects.get(slug="globex-corp")
    assert response.status_code == 302
    assert response.url == TENANTS
    assert tenant.name == "Globex Corp"
    assert tenant.schema_name == "globex_corp"
    assert tenant.status == "active"
    assert schema_exists("globex_corp")
    assert Domain.objects.get(tenant=tenant).domain == "globex-corp.localhost"
    event = PlatformAuditEvent.objects.get(action="tenant.created", tenant_slug="globex-corp")
    assert (event.actor_type, event.actor_label) == ("user", superuser.email)
    assert not PlatformAuditEvent.objects.filter(action__startswith="admin.tenant").exists()  # not twice


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("acme", b"Tenant with this Slug already exists."),
        ("admin", b"This slug is reserved."),
        ("Bad_Slug!", b"lower-case letters, digits and hyphens"),
    ],
)
def test_adding_a_tenant_with_a_taken_reserved_or_malformed_slug_shows_why_and_creates_nothing(console, slug, message):
    make_tenant(slug="acme")
    tenants, events = Tenant.objects.count(), PlatformAuditEvent.objects.count()

    response = console.post(f"{TENANTS}add/", {"name": "Another", "slug": slug})

    assert response.status_code == 200
    assert message in response.content
    assert (Tenant.objects.count(), PlatformAuditEvent.objects.count()) == (tenants, events)


def test_adding_a_tenant_whose_schema_already_exists_without_a_tenant_is_refused(console):
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA leftover")
    tenants = Tenant.objects.count()

    response = console.post(f"{TENANTS}add/", {"name": "Leftover", "slug": "leftover"})

    assert response.status_code == 200
    assert b"A PostgreSQL schema named &#x27;leftover&#x27; already exists without a tenant" in response.content
    assert Tenant.objects.count() == tenants


def test_the_add_form_only_asks_for_name_and_slug(console):
    response = console.get(f"{TENANTS}add/")

    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields) == ["name", "slug"]


def test_slug_and_schema_are_read_only_on_the_change_page_which_shows_usage(console):
    acme = make_tenant(slug="acme")
    make_member(acme, "owner")
    make_key(acme)
    revoked, _ = make_key(acme, "Old")
    revoked.revoked_at = revoked.created_at
    revoked.save()
    invitation_create(
        tenant=acme,
        email="new@example.com",
        role="member",
        invited_by=None,
        actor=Actor.system("test"),
        inviter_role=None,
    )

    response = console.get(f"{TENANTS}{acme.pk}/change/")

    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {"name", "status"}
    content = response.content.decode()
    assert "<li>Members: 1</li>" in content
    assert "<li>API keys active: 1</li>" in content
    assert "<li>API keys revoked: 1</li>" in content
    assert "<li>Invitations pending: 1</li>" in content


def test_suspend_and_resume_actions_go_through_the_service_and_are_audited(console, superuser):
    acme, globex, initech = make_tenant(slug="acme"), make_tenant(slug="globex"), make_tenant(slug="initech")

    response = console.post(TENANTS, {"action": "suspend_tenants", "_selected_action": [acme.pk, globex.pk]})

    assert response.status_code == 302
    statuses = dict(Tenant.objects.filter(slug__in=["acme", "globex", "initech"]).values_list("slug", "status"))
    assert statuses == {"acme": "suspended", "globex": "suspended", "initech": "active"}
    events = PlatformAuditEvent.objects.filter(action="tenant.suspended")
    assert sorted(events.values_list("tenant_slug", flat=True)) == ["acme", "globex"]
    assert {event.actor_label for event in events} == {superuser.email}
    assert events.get(tenant_slug="acme").changes == {"status": ["active", "suspended"]}
    assert len(tenant_events(acme, "tenant.suspended")) == 1
    assert tenant_events(initech, "tenant.suspended") == []

    console.post(TENANTS, {"action": "resume_tenants", "_selected_action": [acme.pk]})

    acme.refresh_from_db()
    assert acme.status == "active"
    assert PlatformAuditEvent.objects.filter(action="tenant.resumed", tenant_slug="acme").count() == 1


def test_suspending_an_already_suspended_tenant_records_nothing_new(console):
    acme = make_tenant(slug="acme")
    console.post(TENANTS, {"action": "suspend_tenants", "_selected_action": [acme.pk]})

    response = console.post(TENANTS, {"action": "suspend_tenants", "_selected_action": [acme.pk]}, follow=True)

    assert "0 tenant(s) suspended. 1 already suspended." in response.content.decode()
    assert PlatformAuditEvent.objects.filter(action="tenant.suspended").count() == 1


def test_editing_a_tenant_renames_and_suspends_it_through_the_services_and_audits_a_new_domain(console, superuser):
    acme = make_tenant(slug="acme", name="Acme")
    data = change_form_data(console.get(f"{TENANTS}{acme.pk}/change/"))
    data.update(
        {
            "name": "Acme Worldwide",
            "status": "suspended",
            "domains-TOTAL_FORMS": "2",
            "domains-1-domain": "acme.example.com",
        }
    )

    response = console.post(f"{TENANTS}{acme.pk}/change/", data)

    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.name, acme.status, acme.slug) == ("Acme Worldwide", "suspended", "acme")
    assert tenant_events(acme, "tenant.updated")[0].changes == {"name": ["Acme", "Acme Worldwide"]}
    assert PlatformAuditEvent.objects.filter(action="tenant.suspended", tenant_slug="acme").count() == 1
    domain_event = PlatformAuditEvent.objects.get(action="admin.domain.created")
    assert domain_event.actor_label == superuser.email
    assert domain_event.tenant_slug == "acme"
    assert domain_event.changes["domain"] == "acme.example.com"
    assert Domain.objects.filter(tenant=acme, domain="acme.example.com").exists()


def test_tenants_cannot_be_deleted_from_the_console(console):
    acme = make_tenant(slug="acme")

    response = console.post(f"{TENANTS}{acme.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Tenant.objects.filter(pk=acme.pk).exists()


# --- users -----------------------------------------------------------------------------------------------------


def test_adding_a_user_takes_email_and_password_and_is_audited_without_the_password(console, superuser):
    response = console.post(
        "/admin/accounts/user/add/",
        {"email": "new.person@example.com", "password1": "long-enough-pass-42", "password2": "long-enough-pass-42"},
    )

    user = User.objects.get(email="new.person@example.com")
    assert response.status_code == 302
    assert user.check_password("long-enough-pass-42")
    assert not user.is_superuser
    event = PlatformAuditEvent.objects.get(action="admin.user.created")
    assert event.actor_label == superuser.email
    assert event.object_repr == "new.person@example.com"
    assert event.changes == {"email": "new.person@example.com", "password1": "[redacted]", "password2": "[redacted]"}
    assert "long-enough-pass-42" not in str(event.changes)


def test_adding_a_user_with_a_weak_password_or_a_taken_email_creates_nobody(console):
    make_user(email="taken@example.com")
    users = User.objects.count()

    weak = console.post(
        "/admin/accounts/user/add/", {"email": "weak@example.com", "password1": "12345", "password2": "12345"}
    )
    taken = console.post(
        "/admin/accounts/user/add/",
        {"email": "TAKEN@example.com", "password1": "long-enough-pass-42", "password2": "long-enough-pass-42"},
    )

    assert weak.status_code == taken.status_code == 200
    assert b"This password is too short" in weak.content
    assert b"An account with this email already exists." in taken.content
    assert User.objects.count() == users
    assert not PlatformAuditEvent.objects.filter(action="admin.user.created").exists()


def test_granting_superuser_through_the_change_page_is_audited(console, superuser):
    person = make_user(email="person@example.com")
    data = change_form_data(console.get(f"/admin/accounts/user/{person.pk}/change/"))
    data["is_superuser"] = "on"

    response = console.post(f"/admin/accounts/user/{person.pk}/change/", data)

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.is_superuser
    event = PlatformAuditEvent.objects.get(action="admin.user.changed")
    assert event.changes == {"is_superuser": True}
    assert event.object_id == str(person.pk)


def test_setting_a_password_from_the_console_is_audited_redacted(console):
    person = make_user(email="person@example.com")

    response = console.post(
        f"/admin/accounts/user/{person.pk}/password/",
        {"password1": "brand-new-pass-77", "password2": "brand-new-pass-77", "set_usable_password": "true"},
    )

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password("brand-new-pass-77")
    event = PlatformAuditEvent.objects.get(action="admin.user.password_changed")
    assert event.changes == {"password": "[redacted]"}


# --- memberships -----------------------------------------------------------------------------------------------


def test_adding_a_member_from_the_console_is_audited_on_the_platform_and_in_the_tenant(console, superuser):
    acme = make_tenant(slug="acme")
    person = make_user(email="person@example.com")

    response = console.post("/admin/accounts/membership/add/", {"user": person.pk, "tenant": acme.pk, "role": "admin"})
    duplicate = console.post(
        "/admin/accounts/membership/add/", {"user": person.pk, "tenant": acme.pk, "role": "viewer"}
    )

    assert response.status_code == 302
    assert Membership.objects.get(user=person, tenant=acme).role == "admin"
    event = PlatformAuditEvent.objects.get(action="admin.membership.created")
    assert (event.tenant_slug, event.actor_label) == ("acme", superuser.email)
    assert event.changes == {"user": "person@example.com", "tenant": str(acme), "role": "admin"}
    assert [e.changes for e in tenant_events(acme, "member.added")] == [
        {"email": "person@example.com", "role": "admin"}
    ]
    assert duplicate.status_code == 200
    assert Membership.objects.filter(user=person).count() == 1


def test_changing_a_role_goes_through_the_service_and_the_last_owner_stays_owner(console):
    acme = make_tenant(slug="acme")
    owner = make_member(acme, "owner")
    member = make_member(acme, "member")
    owner_membership = Membership.objects.get(user=owner)
    member_membership = Membership.objects.get(user=member)

    promoted = console.post(f"/admin/accounts/membership/{member_membership.pk}/change/", {"role": "admin"})
    demoted = console.post(f"/admin/accounts/membership/{owner_membership.pk}/change/", {"role": "viewer"})

    assert promoted.status_code == 302
    member_membership.refresh_from_db()
    assert member_membership.role == "admin"
    assert tenant_events(acme, "member.role_changed")[0].changes == {"role": ["member", "admin"]}
    assert demoted.status_code == 200
    assert b"A tenant keeps at least one owner." in demoted.content
    owner_membership.refresh_from_db()
    assert owner_membership.role == "owner"


def test_removing_a_member_is_audited_and_the_last_owner_cannot_be_removed(console, superuser):
    acme = make_tenant(slug="acme")
    owner = Membership.objects.get(user=make_member(acme, "owner"))
    viewer = Membership.objects.get(user=make_member(acme, "viewer"))

    removed = console.post(f"/admin/accounts/membership/{viewer.pk}/delete/", {"post": "yes"})
    refused = console.post(f"/admin/accounts/membership/{owner.pk}/delete/", {"post": "yes"})

    assert removed.status_code == 302
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    event = PlatformAuditEvent.objects.get(action="admin.membership.deleted")
    assert (event.tenant_slug, event.object_id, event.actor_label) == ("acme", str(viewer.pk), superuser.email)
    assert len(tenant_events(acme, "member.removed")) == 1
    assert refused.status_code == 403
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_the_membership_list_filters_by_role_and_searches_by_email(console):
    acme = make_tenant(slug="acme")
    make_member(acme, "owner", email="olivia@example.com")
    make_member(acme, "viewer", email="victor@example.com")

    by_role = console.get("/admin/accounts/membership/", {"role": "viewer"})
    by_email = console.get("/admin/accounts/membership/", {"q": "olivia"})

    assert [m.user.email for m in by_role.context["cl"].result_list] == ["victor@example.com"]
    assert [m.user.email for m in by_email.context["cl"].result_list] == ["olivia@example.com"]


# --- API keys --------------------------------------------------------------------------------------------------


def test_api_key_pages_show_the_prefix_but_never_the_secret_or_its_hash(console):
    acme = make_tenant(slug="acme")
    key, full = make_key(acme)

    listing = console.get("/admin/accounts/apikey/")
    change = console.get(f"/admin/accounts/apikey/{key.pk}/change/")

    assert listing.status_code == change.status_code == 200
    for response in (listing, change):
        content = response.content.decode()
        assert f"bzs_{key.prefix}" in content
        assert key.secret_hash not in content
        assert full not in content
        assert full.split("_", 2)[2] not in content  # the secret part alone
    assert "secret_hash" not in change.context["adminform"].form.fields


def test_api_keys_cannot_be_added_or_deleted_from_the_console(console):
    acme = make_tenant(slug="acme")
    key, _ = make_key(acme)

    assert console.get("/admin/accounts/apikey/add/").status_code == 403
    assert console.post(f"/admin/accounts/apikey/{key.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_the_revoke_action_revokes_through_the_service(console, superuser):
    acme = make_tenant(slug="acme")
    zapier, _ = make_key(acme, "Zapier")
    make_key(acme, "Kept")

    response = console.post("/admin/accounts/apikey/", {"action": "revoke_keys", "_selected_action": [zapier.pk]})

    assert response.status_code == 302
    assert {key.name: key.revoked_at is not None for key in ApiKey.objects.all()} == {"Zapier": True, "Kept": False}
    events = tenant_events(acme, "api_key.revoked")
    assert [(event.object_id, event.actor_label) for event in events] == [(str(zapier.pk), superuser.email)]


# --- invitations -----------------------------------------------------------------------------------------------


def test_invitations_are_listed_without_their_token_and_cannot_be_added(console):
    acme = make_tenant(slug="acme")
    invitation, token = invitation_create(
        tenant=acme,
        email="guest@example.com",
        role="member",
        invited_by=None,
        actor=Actor.system("test"),
        inviter_role=None,
    )

    listing = console.get("/admin/accounts/invitation/")
    change = console.get(f"/admin/accounts/invitation/{invitation.pk}/change/")

    assert listing.status_code == change.status_code == 200
    assert b"guest@example.com" in listing.content
    for response in (listing, change):
        assert invitation.token_hash.encode() not in response.content
        assert token.encode() not in response.content
    assert console.get("/admin/accounts/invitation/add/").status_code == 403


def test_the_revoke_invitations_action_revokes_pending_ones(console):
    acme = make_tenant(slug="acme")
    invitation, _ = invitation_create(
        tenant=acme,
        email="guest@example.com",
        role="member",
        invited_by=None,
        actor=Actor.system("test"),
        inviter_role=None,
    )

    console.post("/admin/accounts/invitation/", {"action": "revoke_invitations", "_selected_action": [invitation.pk]})

    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert len(tenant_events(acme, "invitation.revoked")) == 1
    assert Invitation.objects.count() == 1


# --- the platform audit log ------------------------------------------------------------------------------------


def test_the_platform_audit_log_can_be_read_filtered_and_searched(console):
    make_tenant(slug="acme")
    make_tenant(slug="globex")
    acme_created = PlatformAuditEvent.objects.get(action="tenant.created", tenant_slug="acme")

    by_tenant = console.get("/admin/accounts/platformauditevent/", {"tenant_slug": "acme"})
    by_search = console.get("/admin/accounts/platformauditevent/", {"q": "globex"})
    detail = console.get(f"/admin/accounts/platformauditevent/{acme_created.pk}/change/")

    assert [event.tenant_slug for event in by_tenant.context["cl"].result_list] == ["acme"]
    assert [event.tenant_slug for event in by_search.context["cl"].result_list] == ["globex"]
    assert detail.status_code == 200
    assert b"tenant.created" in detail.content


def test_the_platform_audit_log_cannot_be_added_to_changed_or_deleted(console, superuser):
    make_tenant(slug="acme")
    event = PlatformAuditEvent.objects.get(action="tenant.created")
    url = f"/admin/accounts/platformauditevent/{event.pk}"
    count = PlatformAuditEvent.objects.count()

    assert console.get("/admin/accounts/platformauditevent/add/").status_code == 403
    assert console.post(f"{url}/change/", {"action": "forged"}).status_code == 403
    assert console.post(f"{url}/delete/", {"post": "yes"}).status_code == 403
    event_admin = admin.site._registry[PlatformAuditEvent]
    request = RequestFactory().get("/")
    request.user = superuser
    assert not event_admin.has_add_permission(request)
    assert not event_admin.has_change_permission(request, event)
    assert not event_admin.has_delete_permission(request, event)
    assert event_admin.get_actions(request) == {}
    event.refresh_from_db()
    assert event.action == "tenant.created"
    assert PlatformAuditEvent.objects.count() == count


def test_token_blacklist_and_groups_are_not_editable_in_the_console():
    from django.contrib import admin
    from django.contrib.auth.models import Group
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    import bizosaas.urls_public  # noqa: F401  (the console is configured when the URLs load)

    for model in (Group, BlacklistedToken, OutstandingToken):
        assert not admin.site.is_registered(model)
