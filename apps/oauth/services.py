"""Writes of the OAuth app: consent, issuing and revoking, each audited in the tenant's log (the client's owner is a
person, so the actor is the user; revocations by the client itself name the client)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.audit.services import Actor, audit_record, platform_audit_record
from apps.accounts.models import Membership, Tenant, User
from apps.accounts.permissions import USE, role_allows
from apps.oauth.models import OAuthAuthorizationCode, OAuthClient, OAuthGrant, OAuthToken

RESOURCE = "oauth_grants"


def client_actor(client: OAuthClient) -> Actor:
    return Actor("oauth_client", client.client_id, (client.client_name or "OAuth client")[:200])


def role_in(*, user: User, tenant: Tenant) -> str | None:
    return Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True).first()


def may_use(*, user: User, tenant: Tenant) -> bool:
    """Whether a person may (still) let an MCP client act for them in `tenant`: an active account, an active
    tenant, and a membership whose role the permission matrix allows to connect clients. Read on every use."""
    if not user.is_active or tenant.status != Tenant.Status.ACTIVE:
        return False
    return role_allows(role_in(user=user, tenant=tenant), RESOURCE, USE)


def connectable_tenants(*, user: User) -> list[Tenant]:
    memberships = Membership.objects.filter(user=user, tenant__status=Tenant.Status.ACTIVE).select_related("tenant")
    return [m.tenant for m in memberships.order_by("tenant__name") if role_allows(m.role, RESOURCE, USE)]


def grant_for_consent(*, client: OAuthClient, user: User, tenant: Tenant, scope: str) -> OAuthGrant:
    """The grant a consent adds a code to: the person's live grant for this client and tenant, or a new one."""
    grant = OAuthGrant.objects.filter(client=client, user=user, tenant=tenant, revoked_at__isnull=True).first()
    created = grant is None
    if grant is None:
        grant = OAuthGrant.objects.create(client=client, user=user, tenant=tenant, scope=scope)
    elif grant.scope != scope:
        grant.scope = scope
        grant.save(update_fields=["scope"])
    audit_record(
        tenant=tenant,
        actor=Actor.for_user(user),
        action="oauth.consent",
        obj=grant,
        changes={"client_id": client.client_id, "client_name": client.client_name, "scope": scope, "new": created},
    )
    return grant


def token_issued(*, token: OAuthToken) -> None:
    """Audits the first pair issued from an authorization code (refreshes are not audited one by one)."""
    audit_record(
        tenant=token.tenant,
        actor=client_actor(token.client),
        action="oauth.token_issued",
        obj=token.grant,
        changes={"user": token.user.email, "scope": token.scope, "resource": token.resource},
    )


def _revoke(tokens) -> int:
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def tokens_revoke_for_code(*, code: OAuthAuthorizationCode, reason: str) -> int:
    count = _revoke(OAuthToken.objects.filter(authorization_code=code))
    audit_record(
        tenant=code.tenant,
        actor=client_actor(code.client),
        action="oauth.tokens_revoked",
        obj=code.grant,
        changes={"reason": reason, "revoked": count},
    )
    return count


def family_revoke(*, family_id: uuid.UUID, reason: str) -> int:
    first = OAuthToken.objects.select_related("tenant", "client", "grant").filter(family_id=family_id).first()
    count = _revoke(OAuthToken.objects.filter(family_id=family_id))
    if first is not None:
        audit_record(
            tenant=first.tenant,
            actor=client_actor(first.client),
            action="oauth.tokens_revoked",
            obj=first.grant,
            changes={"reason": reason, "revoked": count},
        )
    return count


def token_revoke(*, token: OAuthToken) -> None:
    """RFC 7009 from the client itself: the pair ends, and so does its refresh family (a revoked refresh token
    must not leave a newer sibling alive)."""
    count = _revoke(OAuthToken.objects.filter(family_id=token.family_id))
    audit_record(
        tenant=token.tenant,
        actor=client_actor(token.client),
        action="oauth.tokens_revoked",
        obj=token.grant,
        changes={"reason": "revoked by the client", "revoked": count},
    )


@transaction.atomic
def grant_revoke(*, grant: OAuthGrant, actor: Actor) -> int:
    """Disconnects a client from a tenant: the grant and every token under it end at once."""
    now = timezone.now()
    OAuthGrant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(revoked_at=now)
    count = _revoke(OAuthToken.objects.filter(grant=grant))
    OAuthAuthorizationCode.objects.filter(grant=grant, used_at__isnull=True).update(used_at=now)
    audit_record(
        tenant=grant.tenant,
        actor=actor,
        action="oauth.grant_revoked",
        obj=grant,
        changes={"client_id": grant.client.client_id, "user": grant.user.email, "revoked": count},
    )
    return count


def grants_visible(*, tenant: Tenant, user: User, see_all: bool):
    grants = OAuthGrant.objects.filter(tenant=tenant, revoked_at__isnull=True).select_related("client", "user")
    return grants if see_all else grants.filter(user=user)


def client_set_disabled(*, client: OAuthClient, disabled: bool, actor: Actor) -> None:
    """Super admins: a disabled client can no longer authorize, exchange or refresh, and its tokens stop working."""
    client.disabled_at = timezone.now() if disabled else None
    client.save(update_fields=["disabled_at"])
    if disabled:
        _revoke(OAuthToken.objects.filter(Q(client=client)))
    platform_audit_record(
        actor=actor,
        action="oauth.client_disabled" if disabled else "oauth.client_enabled",
        obj=client,
        changes={"client_id": client.client_id, "client_name": client.client_name},
    )
