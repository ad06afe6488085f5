"""The permission matrix, walked: every tenant endpoint x every kind of caller, with the exact status, and proof
that a denied call changed nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django_tenants.utils import schema_context

from apps.accounts.audit.models import AuditEvent
from apps.accounts.audit.services import Actor
from apps.accounts.models import ApiKey, Invitation, Membership, PlatformAuditEvent, User
from apps.accounts.services import api_key_create, invitation_create
from tests.factories import bearer, make_member, make_tenant

pytestmark = pytest.mark.django_db

ALL = {"viewer", "member", "admin", "owner"}
ADMINS = {"admin", "owner"}
OWNER = {"owner"}


@dataclass
class World:
    tenant: object
    other: object
    users: dict[str, User]
    target_member: Membership
    invitation: Invitation
    key: ApiKey
    event: AuditEvent


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: Callable[[World], str]
    allowed: set[str]
    success: int
    scope: str | None = None
    body: dict = field(default_factory=dict)

    @property
    def detail(self) -> bool:
        return self.name.split("-")[-1] in ("read", "role", "remove", "revoke", "rename") and not self.name.startswith(
            "tenant"
        )


ENDPOINTS = [
    Endpoint("tenant-read", "get", lambda w: "/api/v1/tenant/", ALL, 200, "tenant:read"),
    Endpoint("tenant-rename", "patch", lambda w: "/api/v1/tenant/", OWNER, 200, body={"name": "Renamed"}),
    Endpoint("usage", "get", lambda w: "/api/v1/usage/", ADMINS, 200, "tenant:read"),
    Endpoint("members-list", "get", lambda w: "/api/v1/members/", ALL, 200, "members:read"),
    Endpoint("member-read", "get", lambda w: f"/api/v1/members/{w.target_member.pk}/", ALL, 200, "members:read"),
    Endpoint(
        "member-role", "patch", lambda w: f"/api/v1/members/{w.target_member.pk}/", OWNER, 200, body={"role": "admin"}
    ),
    Endpoint("member-remove", "delete", lambda w: f"/api/v1/members/{w.target_member.pk}/", OWNER, 204),
    Endpoint("invitations-list", "get", lambda w: "/api/v1/invitations/", ADMINS, 200),
    Endpoint("invitation-read", "get", lambda w: f"/api/v1/invitations/{w.invitation.pk}/", ADMINS, 200),
    Endpoint(
        "invitation-create",
        "post",
        lambda w: "/api/v1/invitations/",
        ADMINS,
        201,
        body={"email": "newcomer@example.com", "role": "member"},
    ),
    Endpoint("invitation-revoke", "delete", lambda w: f"/api/v1/invitations/{w.invitation.pk}/", ADMINS, 204),
    Endpoint("api-keys-list", "get", lambda w: "/api/v1/api-keys/", ADMINS, 200),
    Endpoint("api-key-read", "get", lambda w: f"/api/v1/api-keys/{w.key.pk}/", ADMINS, 200),
    Endpoint(
        "api-key-create",
        "post",
        lambda w: "/api/v1/api-keys/",
        ADMINS,
        201,
        body={"name": "zapier", "scopes": ["connections:read"]},
    ),
    Endpoint(
        "api-key-rename", "patch", lambda w: f"/api/v1/api-keys/{w.key.pk}/", ADMINS, 200, body={"name": "renamed"}
    ),
    Endpoint("mcp-overview", "get", lambda w: "/api/v1/mcp/", ADMINS, 200),
    Endpoint("api-key-revoke", "delete", lambda w: f"/api/v1/api-keys/{w.key.pk}/", ADMINS, 204),
    Endpoint("audit-list", "get", lambda w: "/api/v1/audit-log/", ADMINS, 200, "audit:read"),
    Endpoint("audit-read", "get", lambda w: f"/api/v1/audit-log/{w.event.pk}/", ADMINS, 200, "audit:read"),
    Endpoint("approvals-list", "get", lambda w: "/api/v1/approvals/", ALL, 200, "approvals:read"),
    Endpoint("approvals-count", "get", lambda w: "/api/v1/approvals/count/", ALL, 200, "approvals:read"),
    Endpoint("oauth-grants-list", "get", lambda w: "/api/v1/oauth-grants/", ALL, 200),  # each sees their own
]

CALLERS = [
    "anonymous",
    "viewer",
    "member",
    "admin",
    "owner",
    "superadmin",
    "key-with-scope",
    "key-without-scope",
    "other-tenant-owner",
]


@pytest.fixture
def world() -> World:
    tenant = make_tenant(slug="acme")
    other = make_tenant(slug="globex")
    users = {role: make_member(tenant, role, email=f"{role}@acme.test") for role in sorted(ALL)}
    users["other-tenant-owner"] = make_member(other, "owner", email="owner@globex.test")
    users["superadmin"] = User.objects.create_superuser(email="staff@platform.test", password="x-long-pass-77")
    target = make_member(tenant, "viewer", email="target@acme.test")
    system = Actor.system("test")
    invitation, _ = invitation_create(
        tenant=tenant, email="pending@acme.test", role="member", invited_by=None, actor=system, inviter_role=None
    )
    key, _ = api_key_create(
        tenant=tenant, name="existing", scopes=["members:read"], expires_at=None, created_by=None, actor=system
    )
    with schema_context(tenant.schema_name):
        event = AuditEvent.objects.order_by("id").first()
    return World(tenant, other, users, Membership.objects.get(user=target), invitation, key, event)


def credentials(world: World, caller: str, endpoint: Endpoint) -> dict:
    if caller == "anonymous":
        return {}
    if caller.startswith("key-"):
        scope = endpoint.scope if caller == "key-with-scope" and endpoint.scope else "connections:read"
        _key, secret = api_key_create(
            tenant=world.tenant,
            name=caller,
            scopes=[scope],
            expires_at=None,
            created_by=None,
            actor=Actor.system("test"),
        )
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    if caller == "other-tenant-owner":
        return bearer(world.users[caller], world.other)
    return bearer(world.users[caller], world.tenant)


def expected_status(endpoint: Endpoint, caller: str) -> int:
    if caller == "anonymous":
        return 401
    if caller == "superadmin":
        return endpoint.success
    if caller == "key-with-scope":
        return endpoint.success if endpoint.scope else 403
    if caller == "key-without-scope":
        return 403
    if caller == "other-tenant-owner":
        # they act in their own tenant, where they are owner: the other tenant's ids simply do not exist
        return 404 if endpoint.detail else endpoint.success
    return endpoint.success if caller in endpoint.allowed else 403


def snapshot(world: World) -> dict:
    tenant = type(world.tenant).objects.get(pk=world.tenant.pk)
    with schema_context(tenant.schema_name):
        audit = AuditEvent.objects.count()
    return {
        "tenant": (tenant.name, tenant.status),
        "members": sorted(Membership.objects.filter(tenant=tenant).values_list("id", "role")),
        "invitations": sorted(Invitation.objects.filter(tenant=tenant).values_list("id", "revoked_at")),
        "keys": sorted(ApiKey.objects.filter(tenant=tenant).values_list("name", "revoked_at")),
        "audit": audit,
    }


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_permission_matrix(api, world, endpoint, caller):
    # given a caller's credentials (creating a key is part of the setup, so it is in the "before" state)
    auth = credentials(world, caller, endpoint)
    before = snapshot(world)
    platform_events_before = PlatformAuditEvent.objects.filter(action="superadmin.tenant_access").count()

    # when the caller calls the endpoint
    call = getattr(api, endpoint.method)
    response = (
        call(endpoint.path(world), endpoint.body, **auth)
        if endpoint.method in ("post", "patch")
        else call(endpoint.path(world), **auth)
    )

    # then the status is exactly the matrix's
    expected = expected_status(endpoint, caller)
    assert response.status_code == expected, response.content
    after = snapshot(world)
    if expected >= 400 or caller == "other-tenant-owner":
        assert after == before, "a denied (or other tenant's) call changed this tenant"
    elif endpoint.method != "get" and caller != "other-tenant-owner":
        assert after != before, "an allowed mutation changed nothing"
        assert after["audit"] == before["audit"] + 1, "an allowed mutation was not audited exactly once"
    if caller == "superadmin":
        assert PlatformAuditEvent.objects.filter(action="superadmin.tenant_access").count() == (
            platform_events_before + 1
        )
