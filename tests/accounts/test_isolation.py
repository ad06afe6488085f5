"""Two tenants side by side: whatever ids, hosts, headers or credentials tenant B's people try, they never read
or change tenant A's data."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.accounts.audit.models import AuditEvent
from apps.accounts.audit.services import Actor
from apps.accounts.models import ApiKey, Invitation, Membership
from apps.accounts.services import api_key_create, invitation_create
from tests.factories import bearer, make_member, make_tenant

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["members:read", "audit:read", "tenant:read"]


@pytest.fixture
def two_tenants():
    def populate(slug):
        tenant = make_tenant(slug=slug)
        owner = make_member(tenant, "owner", email=f"owner@{slug}.test")
        make_member(tenant, "viewer", email=f"viewer@{slug}.test")
        system = Actor.system("test")
        invitation_create(
            tenant=tenant, email=f"invitee@{slug}.test", role="member", invited_by=None, actor=system, inviter_role=None
        )
        _key, secret = api_key_create(
            tenant=tenant, name=f"{slug}-key", scopes=ALL_SCOPES, expires_at=None, created_by=None, actor=system
        )
        return tenant, owner, secret

    return populate("alpha"), populate("beta")


def ids_of(tenant) -> dict[str, list[int]]:
    with schema_context(tenant.schema_name):
        events = list(AuditEvent.objects.values_list("id", flat=True))
    return {
        "members": list(Membership.objects.filter(tenant=tenant).values_list("id", flat=True)),
        "invitations": list(Invitation.objects.filter(tenant=tenant).values_list("id", flat=True)),
        "api-keys": list(ApiKey.objects.filter(tenant=tenant).values_list("id", flat=True)),
        "audit-log": events,
    }


def state(tenant) -> dict:
    with schema_context(tenant.schema_name):
        audit = AuditEvent.objects.count()
    return {
        "name": type(tenant).objects.get(pk=tenant.pk).name,
        "members": sorted(Membership.objects.filter(tenant=tenant).values_list("id", "role")),
        "invitations": sorted(Invitation.objects.filter(tenant=tenant).values_list("id", "revoked_at")),
        "keys": sorted(ApiKey.objects.filter(tenant=tenant).values_list("id", "revoked_at")),
        "audit": audit,
    }


def b_credentials(beta, beta_owner, beta_secret):
    return {
        "beta owner JWT": bearer(beta_owner, beta),
        "beta owner JWT + X-Tenant: alpha": {**bearer(beta_owner, beta), "HTTP_X_TENANT": "alpha"},
        "beta owner JWT on alpha's domain": {**bearer(beta_owner, beta), "HTTP_HOST": "alpha.localhost"},
        "beta API key": {"HTTP_AUTHORIZATION": f"Bearer {beta_secret}"},
        "beta API key on alpha's domain": {
            "HTTP_AUTHORIZATION": f"Bearer {beta_secret}",
            "HTTP_HOST": "alpha.localhost",
        },
    }


def test_no_route_reads_the_other_tenants_objects(api, two_tenants):
    (alpha, _alpha_owner, _), (beta, beta_owner, beta_secret) = two_tenants
    alpha_ids, alpha_before = ids_of(alpha), state(alpha)
    alpha_text = ["alpha.test", "alpha-key", "Alpha"]

    for label, auth in b_credentials(beta, beta_owner, beta_secret).items():
        for collection, ids in alpha_ids.items():
            listing = api.get(f"/api/v1/{collection}/", **auth)
            assert listing.status_code in (200, 403), (label, collection)
            assert not any(text in listing.content.decode() for text in alpha_text), (label, collection)
            for object_id in ids:
                detail = api.get(f"/api/v1/{collection}/{object_id}/", **auth)
                # audit events live in each tenant's own schema, so beta may have an event with the same id
                allowed = (200, 403, 404) if collection == "audit-log" else (403, 404)
                assert detail.status_code in allowed, (label, collection, object_id)
                assert not any(text in detail.content.decode() for text in alpha_text)
        tenant = api.get("/api/v1/tenant/", **auth)
        assert tenant.json()["slug"] == "beta", label

    assert state(alpha) == alpha_before


def test_no_route_changes_the_other_tenants_objects(api, two_tenants):
    (alpha, _alpha_owner, _), (beta, beta_owner, beta_secret) = two_tenants
    alpha_ids, alpha_before = ids_of(alpha), state(alpha)

    for label, auth in b_credentials(beta, beta_owner, beta_secret).items():
        for member_id in alpha_ids["members"]:
            assert api.patch(f"/api/v1/members/{member_id}/", {"role": "viewer"}, **auth).status_code in (403, 404)
            assert api.delete(f"/api/v1/members/{member_id}/", **auth).status_code in (403, 404), label
        for invitation_id in alpha_ids["invitations"]:
            assert api.delete(f"/api/v1/invitations/{invitation_id}/", **auth).status_code in (403, 404), label
        for key_id in alpha_ids["api-keys"]:
            assert api.delete(f"/api/v1/api-keys/{key_id}/", **auth).status_code in (403, 404), label
        api.patch("/api/v1/tenant/", {"name": "Pwned"}, **auth)

    assert state(alpha) == alpha_before
    assert type(alpha).objects.get(pk=alpha.pk).name == "Alpha"


def test_a_token_for_a_tenant_one_has_left_reads_nothing(api, two_tenants):
    (alpha, _alpha_owner, _), _beta = two_tenants
    leaver = make_member(alpha, "admin", email="leaver@elsewhere.test")
    auth = bearer(leaver, alpha)
    Membership.objects.filter(user=leaver).delete()

    for collection in ("members", "invitations", "api-keys", "audit-log"):
        response = api.get(f"/api/v1/{collection}/", **auth)
        assert response.status_code == 403
        assert "alpha.test" not in response.content.decode()


def test_anonymous_callers_on_a_tenant_domain_get_401(api, two_tenants):
    for collection in ("members", "invitations", "api-keys", "audit-log"):
        assert api.get(f"/api/v1/{collection}/", HTTP_HOST="alpha.localhost").status_code == 401


def test_a_user_token_without_a_tenant_selects_none(api, two_tenants):
    (_alpha, owner, _), _beta = two_tenants

    response = api.get("/api/v1/members/", **bearer(owner, None))

    assert response.status_code == 403
    assert response.json()["detail"].startswith("No tenant selected")
