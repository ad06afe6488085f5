"""Operator commands: non-interactive, audited as the system, and a bad input stops with a clear message having
changed nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from apps.accounts.audit.models import AuditEvent
from apps.accounts.audit.services import Actor
from apps.accounts.models import Domain, Invitation, Membership, PlatformAuditEvent, Tenant, User
from apps.accounts.services import tenant_set_status
from apps.accounts.tokens import token_pair
from tests.factories import PASSWORD, make_member, make_tenant, make_user

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def counts() -> dict:
    return {
        "tenants": Tenant.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "invitations": Invitation.objects.count(),
        "platform_events": PlatformAuditEvent.objects.count(),
    }


def tenant_events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.filter(action=action))


# --- create_tenant ---------------------------------------------------------------------------------------------


def test_create_tenant_creates_the_schema_domain_and_owner_and_audits_as_the_command():
    owner = make_user(email="olivia@example.com")

    out = run("create_tenant", "--slug", "acme-co", "--name", "Acme Co", "--owner-email", "Olivia@Example.com")

    tenant = Tenant.objects.get(slug="acme-co")
    assert out.splitlines() == [
        "Created tenant 'acme-co' (Acme Co): schema acme_co, domain acme-co.localhost.",
        "Owner: olivia@example.com",
    ]
    assert tenant.name == "Acme Co"
    assert schema_exists("acme_co")
    assert Domain.objects.get(tenant=tenant, is_primary=True).domain == "acme-co.localhost"
    assert Membership.objects.get(tenant=tenant).user == owner
    assert Membership.objects.get(tenant=tenant).role == "owner"
    event = PlatformAuditEvent.objects.get(action="tenant.created", tenant_slug="acme-co")
    assert (event.actor_type, event.actor_label) == ("system", "create_tenant")
    added = tenant_events(tenant, "member.added")
    assert [(e.actor_label, e.changes) for e in added] == [
        ("create_tenant", {"email": "olivia@example.com", "role": "owner"})
    ]


def test_create_tenant_without_an_owner_creates_a_tenant_with_no_members():
    out = run("create_tenant", "--slug", "globex", "--name", "Globex")

    assert "Created tenant 'globex'" in out
    assert "Owner" not in out
    assert Membership.objects.filter(tenant__slug="globex").count() == 0


def test_create_tenant_is_what_manage_py_runs_rather_than_django_tenants_interactive_one():
    from django.core.management import get_commands, load_command_class

    command = load_command_class(get_commands()["create_tenant"], "create_tenant")

    assert "--owner-email" in command.create_parser("manage.py", "create_tenant").format_help()


def test_create_tenant_with_a_duplicate_slug_fails_and_changes_nothing():
    make_tenant(slug="acme", name="Acme")
    before = counts()

    with pytest.raises(CommandError) as error:
        run("create_tenant", "--slug", "acme", "--name", "Acme Again")

    assert "slug: Tenant with this Slug already exists." in str(error.value)
    assert counts() == before
    assert Tenant.objects.get(slug="acme").name == "Acme"


@pytest.mark.parametrize("slug", ["Bad_Slug!", "admin", "ab"])
def test_create_tenant_with_a_malformed_or_reserved_slug_fails_and_creates_no_schema(slug):
    before = counts()

    with pytest.raises(CommandError) as error:
        run("create_tenant", "--slug", slug, "--name", "Bad")

    assert str(error.value).startswith("slug: ")
    assert counts() == before
    assert not schema_exists(slug.replace("-", "_").lower())


def test_create_tenant_with_an_unknown_owner_fails_before_creating_anything():
    before = counts()

    with pytest.raises(CommandError) as error:
        run("create_tenant", "--slug", "initech", "--name", "Initech", "--owner-email", "nobody@example.com")

    assert "No user with email 'nobody@example.com'" in str(error.value)
    assert counts() == before
    assert not schema_exists("initech")


def test_create_tenant_refuses_a_slug_whose_schema_is_left_over_without_a_tenant():
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA leftover")
    before = counts()

    with pytest.raises(CommandError) as error:
        run("create_tenant", "--slug", "leftover", "--name", "Leftover")

    assert "A PostgreSQL schema named 'leftover' already exists without a tenant" in str(error.value)
    assert counts() == before


def test_create_tenant_requires_slug_and_name():
    with pytest.raises(CommandError) as error:
        run("create_tenant", "--slug", "acme")

    assert "the following arguments are required: --name" in str(error.value)


# --- create_superadmin -----------------------------------------------------------------------------------------


def test_create_superadmin_creates_a_superuser_who_can_log_in():
    out = run("create_superadmin", "--email", "Root@Example.com", "--password", "a-long-admin-pass-2026")

    user = User.objects.get(email="Root@example.com")
    assert out == "Created super admin Root@example.com; log in at http://localhost:8000/admin/\n"
    assert (user.is_superuser, user.is_staff, user.is_active) == (True, True, True)
    assert user.check_password("a-long-admin-pass-2026")
    event = PlatformAuditEvent.objects.get(action="superadmin.created")
    assert (event.actor_type, event.actor_label, event.object_id) == ("system", "create_superadmin", str(user.pk))


def test_create_superadmin_reads_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-admin-pass-2026")

    run("create_superadmin", "--email", "root@example.com")

    assert User.objects.get(email="root@example.com").check_password("a-long-admin-pass-2026")


def test_create_superadmin_promotes_an_existing_account_keeping_its_password_and_is_idempotent():
    person = make_user(email="person@example.com")

    first = run("create_superadmin", "--email", "person@example.com")
    second = run("create_superadmin", "--email", "PERSON@example.com")

    person.refresh_from_db()
    assert first == (
        "person@example.com already existed: promoted to super admin; log in at http://localhost:8000/admin/\n"
    )
    assert second == "person@example.com is already a super admin; nothing changed.\n"
    assert (person.is_superuser, person.is_staff) == (True, True)
    assert person.check_password(PASSWORD)
    assert User.objects.filter(email__iexact="person@example.com").count() == 1
    event = PlatformAuditEvent.objects.get(action="superadmin.promoted")
    assert event.changes == {"is_superuser": True, "is_staff": True}


def test_create_superadmin_with_a_password_for_an_existing_account_replaces_it_and_ends_its_sessions():
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    person = make_user(email="person@example.com", is_staff=True, is_superuser=True)
    token_pair(user=person, tenant=None)

    out = run("create_superadmin", "--email", "person@example.com", "--password", "a-new-admin-pass-2026")

    person.refresh_from_db()
    assert "password changed (its sessions were ended)" in out
    assert person.check_password("a-new-admin-pass-2026")
    assert BlacklistedToken.objects.filter(token__user=person).count() == 1
    assert PlatformAuditEvent.objects.get(action="user.password_set").changes == {"password": "[redacted]"}


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "This password is too short."), ("password1234", "This password is too common.")],
)
def test_create_superadmin_with_a_weak_password_fails_and_creates_nobody(password, message):
    before = counts()

    with pytest.raises(CommandError) as error:
        run("create_superadmin", "--email", "root@example.com", "--password", password)

    assert str(error.value).startswith("password: ")
    assert message in str(error.value)
    assert counts() == before


def test_create_superadmin_with_a_weak_password_for_an_existing_account_does_not_promote_it():
    person = make_user(email="person@example.com")
    before = counts()

    with pytest.raises(CommandError) as error:
        run("create_superadmin", "--email", "person@example.com", "--password", "12345")

    assert "This password is too short." in str(error.value)
    person.refresh_from_db()
    assert not person.is_superuser
    assert person.check_password(PASSWORD)
    assert counts() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email", "--password", "a-long-admin-pass-2026"], "email: Enter a valid email address."),
        (["--email", "root@example.com"], "password: required to create a new account"),
    ],
)
def test_create_superadmin_with_a_bad_email_or_no_password_fails(args, message, monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    before = counts()

    with pytest.raises(CommandError) as error:
        run("create_superadmin", *args)

    assert message in str(error.value)
    assert counts() == before


# --- invite_user -----------------------------------------------------------------------------------------------


def test_invite_user_emails_the_invitation_and_never_prints_the_token(mailoutbox, django_capture_on_commit_callbacks):
    acme = make_tenant(slug="acme", name="Acme")

    with django_capture_on_commit_callbacks(execute=True):
        out = run("invite_user", "--tenant", "acme", "--email", "Guest@Example.com", "--role", "admin")

    invitation = Invitation.objects.get(tenant=acme)
    assert (invitation.email, invitation.role, invitation.invited_by) == ("guest@example.com", "admin", None)
    assert out.startswith("Invitation emailed to guest@example.com: join 'acme' as admin, valid until ")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["guest@example.com"]
    assert mailoutbox[0].subject == "You are invited to Acme on BizOSaaS"
    token = mailoutbox[0].body.split("token=")[1].split()[0]
    assert token not in out
    events = tenant_events(acme, "invitation.created")
    assert [(e.actor_type, e.actor_label) for e in events] == [("system", "invite_user")]


def test_invite_user_may_invite_an_owner():
    make_tenant(slug="acme")

    run("invite_user", "--tenant", "acme", "--email", "boss@example.com", "--role", "owner")

    assert Invitation.objects.get(email="boss@example.com").role == "owner"


def test_invite_user_to_an_unknown_tenant_fails_and_sends_nothing(mailoutbox, django_capture_on_commit_callbacks):
    before = counts()

    with pytest.raises(CommandError) as error, django_capture_on_commit_callbacks(execute=True):
        run("invite_user", "--tenant", "nope", "--email", "guest@example.com", "--role", "admin")

    assert str(error.value) == "No tenant with slug 'nope' (manage.py list_tenants shows them)."
    assert counts() == before
    assert mailoutbox == []


def test_invite_user_with_an_unknown_role_fails_and_sends_nothing(mailoutbox, django_capture_on_commit_callbacks):
    acme = make_tenant(slug="acme")
    before = counts()

    with pytest.raises(CommandError) as error, django_capture_on_commit_callbacks(execute=True):
        run("invite_user", "--tenant", "acme", "--email", "guest@example.com", "--role", "boss")

    assert str(error.value) == "role: Unknown role 'boss': one of owner, admin, member, viewer."
    assert counts() == before
    assert mailoutbox == []
    assert tenant_events(acme, "invitation.created") == []


def test_invite_user_for_an_existing_member_fails():
    acme = make_tenant(slug="acme")
    make_member(acme, "viewer", email="member@example.com")
    before = counts()

    with pytest.raises(CommandError) as error:
        run("invite_user", "--tenant", "acme", "--email", "member@example.com", "--role", "admin")

    assert str(error.value) == "email: This person is already a member."
    assert counts() == before


# --- list_tenants ----------------------------------------------------------------------------------------------


def test_list_tenants_prints_a_table_of_every_tenant_with_its_member_count():
    acme = make_tenant(slug="acme", name="Acme Agency")
    make_member(acme, "owner")
    make_member(acme, "viewer")
    globex = make_tenant(slug="globex", name="Globex")
    tenant_set_status(tenant=globex, actor=Actor.system("test"), status="suspended")

    lines = run("list_tenants").splitlines()

    assert lines[0].split() == ["slug", "name", "schema", "status", "members", "created"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split()[:6] == ["acme", "Acme", "Agency", "acme", "active", "2"]
    assert lines[3].split()[:5] == ["globex", "Globex", "globex", "suspended", "0"]
    assert lines[2].index("active") == lines[3].index("suspended")  # aligned columns
    assert lines[-1] == "2 tenant(s)"
    assert "public" not in "\n".join(lines[2:])


def test_list_tenants_filters_by_status():
    make_tenant(slug="acme")
    tenant_set_status(tenant=make_tenant(slug="globex"), actor=Actor.system("test"), status="suspended")

    suspended = run("list_tenants", "--status", "suspended").splitlines()
    active = run("list_tenants", "--status", "active").splitlines()

    assert [line.split()[0] for line in suspended[2:-1]] == ["globex"]
    assert [line.split()[0] for line in active[2:-1]] == ["acme"]


def test_list_tenants_with_no_tenants_says_so():
    assert run("list_tenants") == "No tenants.\n"
    assert run("list_tenants", "--status", "suspended") == "No suspended tenants.\n"


def test_list_tenants_with_an_unknown_status_fails():
    with pytest.raises(CommandError) as error:
        run("list_tenants", "--status", "deleted")

    assert "argument --status: invalid choice: 'deleted'" in str(error.value)
    assert "active" in str(error.value)
    assert "suspended" in str(error.value)


# --- suspend_tenant / resume_tenant ----------------------------------------------------------------------------


def test_suspend_then_resume_a_tenant_through_the_service_audited_as_the_command():
    acme = make_tenant(slug="acme")

    suspended = run("suspend_tenant", "acme")
    acme.refresh_from_db()
    status_after_suspend = acme.status
    resumed = run("resume_tenant", "acme")
    acme.refresh_from_db()

    assert suspended == "Tenant 'acme' suspended: its members and API keys now get 403 on every API call.\n"
    assert status_after_suspend == "suspended"
    assert resumed == "Tenant 'acme' active: its members and API keys work again.\n"
    assert acme.status == "active"
    events = PlatformAuditEvent.objects.filter(tenant_slug="acme", action__in=["tenant.suspended", "tenant.resumed"])
    assert sorted((e.action, e.actor_type, e.actor_label) for e in events) == [
        ("tenant.resumed", "system", "resume_tenant"),
        ("tenant.suspended", "system", "suspend_tenant"),
    ]
    assert len(tenant_events(acme, "tenant.suspended")) == 1


def test_suspending_a_suspended_tenant_says_so_and_records_nothing():
    make_tenant(slug="acme")
    run("suspend_tenant", "acme")
    before = counts()

    out = run("suspend_tenant", "acme")

    assert out == "Tenant 'acme' is already suspended; nothing changed.\n"
    assert counts() == before


@pytest.mark.parametrize("command", ["suspend_tenant", "resume_tenant"])
def test_suspend_or_resume_an_unknown_or_the_public_tenant_fails(command):
    from apps.accounts.services import public_tenant_ensure

    public_tenant_ensure()
    before = counts()

    for slug in ("nope", "public"):
        with pytest.raises(CommandError) as error:
            run(command, slug)
        assert str(error.value) == f"No tenant with slug {slug!r} (manage.py list_tenants shows them)."
    assert counts() == before
    assert Tenant.objects.get(slug="public").status == "active"
