"""Writes for tenants, people, invitations, API keys and passwords. Each validates, is atomic and audits."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from apps.accounts.api_keys import api_key_generate
from apps.accounts.audit.services import Actor, audit_record, diff, platform_audit_record
from apps.accounts.models import ApiKey, Domain, Invitation, Membership, Tenant, User
from apps.accounts.permissions import MCP_SCOPE, SCOPES, Role
from apps.accounts.tokens import tokens_revoke_all

ROLES = [choice.value for choice in Membership.Role]


def tenant_domain(slug: str) -> str:
    return f"{slug}.{settings.TENANT_BASE_DOMAIN}"


# --- tenants -------------------------------------------------------------------------------------------------


def tenant_create(*, name: str, slug: str, actor: Actor | None = None) -> Tenant:
    """Creates the tenant, its schema (cloned from the migrated template) and its primary domain; atomic."""
    with schema_context(get_public_schema_name()), transaction.atomic():
        tenant = Tenant(name=name, slug=slug, schema_name=slug.replace("-", "_"))
        tenant.full_clean()
        if schema_exists(tenant.schema_name):  # left by a deleted tenant: never hand its data to a new one
            raise ValidationError({"slug": ["A schema with this name already exists; choose another slug."]})
        tenant.save(verbosity=0)
        Domain.objects.create(domain=tenant_domain(slug), tenant=tenant, is_primary=True)
        platform_audit_record(
            actor=actor or Actor.system("platform"), action="tenant.created", tenant=tenant, changes={"name": name}
        )
    return tenant


@transaction.atomic
def tenant_update(*, tenant: Tenant, actor: Actor, name: str) -> Tenant:
    before = {"name": tenant.name}
    tenant.name = name
    tenant.full_clean(exclude=["slug", "schema_name"])
    tenant.save(update_fields=["name"])
    changes = diff(before, {"name": name})
    audit_record(tenant=tenant, actor=actor, action="tenant.updated", obj=tenant, changes=changes)
    platform_audit_record(actor=actor, action="tenant.updated", tenant=tenant, changes=changes)
    return tenant


# Called after a tenant's status change is committed, with the tenant: higher apps register here in ready() what
# must follow the status (the workflows app pauses or resumes the tenant's Temporal schedules).
TENANT_STATUS_HOOKS: list[Callable[[Tenant], None]] = []


def register_tenant_status_hook(hook: Callable[[Tenant], None]) -> None:
    if hook not in TENANT_STATUS_HOOKS:
        TENANT_STATUS_HOOKS.append(hook)


def _after_status_change(tenant: Tenant) -> None:
    for hook in TENANT_STATUS_HOOKS:
        hook(tenant)


@transaction.atomic
def tenant_set_status(*, tenant: Tenant, actor: Actor, status: str) -> Tenant:
    """Suspends or resumes a tenant: a suspended tenant's members and keys get 403 on every API call, its
    scheduled workflows are paused and its activities refuse to run (TENANT_STATUS_HOOKS, after commit)."""
    if status not in Tenant.Status.values:
        raise ValidationError({"status": f"must be one of {', '.join(Tenant.Status.values)}"})
    before = tenant.status
    if before == status:
        return tenant
    tenant.status = status
    tenant.save(update_fields=["status"])
    action = "tenant.suspended" if status == Tenant.Status.SUSPENDED else "tenant.resumed"
    platform_audit_record(actor=actor, action=action, tenant=tenant, changes={"status": [before, status]})
    audit_record(tenant=tenant, actor=actor, action=action, obj=tenant, changes={"status": [before, status]})
    transaction.on_commit(lambda: _after_status_change(tenant))
    return tenant


def active_tenant_page(*, after: str = "", limit: int = 100) -> tuple[list[str], int]:
    """The next `limit` active tenant schemas in name order after `after`, and how many come after them: how
    periodic work that must visit tenants (health checks) walks them in bounded pages, never all at once."""
    rest = Tenant.objects.filter(status=Tenant.Status.ACTIVE, schema_name__gt=after).exclude(
        schema_name=get_public_schema_name()
    )
    page = list(rest.order_by("schema_name").values_list("schema_name", flat=True)[:limit])
    remaining = rest.filter(schema_name__gt=page[-1]).count() if len(page) == limit else 0
    return page, remaining


def public_tenant_ensure() -> Tenant:
    """The public schema's tenant row and its domains; idempotent."""
    tenant, _ = Tenant.objects.get_or_create(
        schema_name=settings.PUBLIC_SCHEMA_NAME, defaults={"name": "BizOSaaS platform", "slug": "public"}
    )
    for index, domain in enumerate(settings.PUBLIC_DOMAINS):
        Domain.objects.get_or_create(domain=domain, defaults={"tenant": tenant, "is_primary": index == 0})
    return tenant


# --- people --------------------------------------------------------------------------------------------------


def _validate_new_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None


def user_create(*, email: str, password: str, first_name: str = "", last_name: str = "") -> User:
    email = User.objects.normalize_email(email).strip()
    errors = {}
    try:
        validate_email(email)
    except ValidationError as exc:
        errors["email"] = exc.messages
    if not errors and User.objects.filter(email__iexact=email).exists():
        errors["email"] = ["An account with this email already exists."]
    user = User(email=email, first_name=first_name, last_name=last_name)
    try:
        _validate_new_password(password, user)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    user.save()
    return user


def user_register(
    *, email: str, password: str, tenant_name: str, tenant_slug: str, first_name: str = "", last_name: str = ""
) -> tuple[User, Tenant]:
    """Sign-up: a new account that owns a new tenant. All or nothing."""
    errors: dict = {}
    if Tenant.objects.filter(slug=tenant_slug).exists():
        errors["tenant_slug"] = ["This slug is taken."]
    try:
        Tenant(name=tenant_name, slug=tenant_slug, schema_name=tenant_slug.replace("-", "_")).full_clean(
            exclude=["schema_name"], validate_unique=False
        )
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault({"name": "tenant_name", "slug": "tenant_slug"}.get(field, field), messages)
    with transaction.atomic():
        try:
            user = user_create(email=email, password=password, first_name=first_name, last_name=last_name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)
        actor = Actor.for_user(user)
        tenant = tenant_create(name=tenant_name, slug=tenant_slug, actor=actor)
        membership = Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.OWNER)
        audit_record(tenant=tenant, actor=actor, action="member.added", obj=membership, changes={"role": "owner"})
    return user, tenant


def _owners_left(tenant: Tenant, *, without: Membership) -> int:
    return Membership.objects.filter(tenant=tenant, role=Membership.Role.OWNER).exclude(pk=without.pk).count()


@transaction.atomic
def membership_update(*, membership: Membership, role: str, actor: Actor) -> Membership:
    if role not in ROLES:
        raise ValidationError({"role": [f"Unknown role {role!r}: one of {', '.join(ROLES)}."]})
    if (
        membership.role == Membership.Role.OWNER
        and role != Membership.Role.OWNER
        and not _owners_left(membership.tenant, without=membership)
    ):
        raise ValidationError({"role": ["A tenant keeps at least one owner."]})
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        tenant=membership.tenant,
        actor=actor,
        action="member.role_changed",
        obj=membership,
        changes={"role": [before, role]},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Actor) -> None:
    """Removes a person from the tenant; their tokens stop working for it on the next request."""
    if membership.role == Membership.Role.OWNER and not _owners_left(membership.tenant, without=membership):
        raise ValidationError({"role": ["The last owner cannot be removed."]})
    audit_record(
        tenant=membership.tenant,
        actor=actor,
        action="member.removed",
        obj=membership,
        changes={"email": membership.user.email, "role": membership.role},
    )
    membership.delete()


# --- invitations ---------------------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *, tenant: Tenant, email: str, role: str, invited_by: User | None, actor: Actor, inviter_role: str | None
) -> tuple[Invitation, str]:
    """Emails a single-use invitation link; only an owner may invite an owner. Returns (invitation, token)."""
    email = User.objects.normalize_email(email).strip().lower()
    errors: dict = {}
    try:
        validate_email(email)
    except ValidationError as exc:
        errors["email"] = exc.messages
    if role not in ROLES:
        errors["role"] = [f"Unknown role {role!r}: one of {', '.join(ROLES)}."]
    elif role == Membership.Role.OWNER and inviter_role != Membership.Role.OWNER and actor.type != "system":
        errors["role"] = ["Only an owner may invite an owner."]
    if "email" not in errors and Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        errors["email"] = ["This person is already a member."]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    Invitation.objects.filter(tenant=tenant, email=email, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=invited_by,
        expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit_record(
        tenant=tenant, actor=actor, action="invitation.created", obj=invitation, changes={"email": email, "role": role}
    )
    link = f"{settings.PORTAL_URL}/accept-invite?token={token}"
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {tenant.name} on BizOSaaS",
            message=(
                f"{actor.label or 'A teammate'} invited you to join {tenant.name} as {role}.\n\n"
                f"Accept within {settings.INVITATION_TTL_DAYS} days: {link}\n"
            ),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation, token


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: Actor) -> Invitation:
    if invitation.accepted_at is not None:
        raise ValidationError({"invitation": ["This invitation was already accepted."]})
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(tenant=invitation.tenant, actor=actor, action="invitation.revoked", obj=invitation)
    return invitation


@transaction.atomic
def invitation_accept(
    *, token: str, password: str, first_name: str = "", last_name: str = ""
) -> tuple[User, Membership]:
    """Joins the invited tenant: a new account is created, an existing one proves itself with its password."""
    invitation = (
        Invitation.objects.select_for_update().select_related("tenant").filter(token_hash=_token_hash(token)).first()
    )
    if invitation is None:
        raise ValidationError({"token": ["This invitation link is not valid."]})
    if invitation.accepted_at is not None:
        raise ValidationError({"token": ["This invitation was already used."]})
    if invitation.revoked_at is not None:
        raise ValidationError({"token": ["This invitation was revoked."]})
    if invitation.expires_at <= timezone.now():
        raise ValidationError({"token": ["This invitation has expired; ask for a new one."]})
    user = User.objects.filter(email__iexact=invitation.email).first()
    if user is None:
        user = user_create(email=invitation.email, password=password, first_name=first_name, last_name=last_name)
    elif not user.check_password(password):
        raise ValidationError({"password": ["This account exists: enter its current password to accept."]})
    membership, _ = Membership.objects.get_or_create(
        user=user, tenant=invitation.tenant, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(
        tenant=invitation.tenant,
        actor=Actor.for_user(user),
        action="member.added",
        obj=membership,
        changes={"role": membership.role, "invitation": invitation.pk},
    )
    return user, membership


# --- API keys ------------------------------------------------------------------------------------------------


McpToolsCleaner = Callable[[Tenant, object], list]
_mcp_tools_cleaners: list[McpToolsCleaner] = []


def register_mcp_tools_cleaner(fn: McpToolsCleaner) -> None:
    """How a key's MCP tool grants are validated: filled in by apps.mcp in ready() (it knows connections, agents
    and workflows; accounts does not). fn(tenant, value) returns the cleaned grants or raises ValidationError with
    field paths (`mcp_tools.0.connection`), and runs in the tenant's schema."""
    _mcp_tools_cleaners[:] = [fn]


def _clean_mcp_tools(tenant: Tenant, value: object) -> list:
    if value in (None, []):
        return []
    if not _mcp_tools_cleaners:
        raise ValidationError({"mcp_tools": ["MCP is not available on this platform."]})
    with schema_context(tenant.schema_name):
        return _mcp_tools_cleaners[0](tenant, value)


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    created_by: User | None,
    actor: Actor,
    mcp_tools: list | None = None,
) -> tuple[ApiKey, str]:
    """Returns (key, full secret). The secret is shown this once and never stored."""
    errors: dict = {}
    if not name.strip():
        errors["name"] = ["This field may not be blank."]
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        errors["scopes"] = [f"Unknown scope(s): {', '.join(unknown)}."]
    elif not scopes:
        errors["scopes"] = ["Choose at least one scope."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["Must be in the future."]
    tools: list = []
    if mcp_tools:
        if MCP_SCOPE not in scopes:
            errors["mcp_tools"] = [f"Only a key with the {MCP_SCOPE!r} scope has MCP tools."]
        else:
            try:
                tools = _clean_mcp_tools(tenant, mcp_tools)
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    full, prefix, secret_hash = api_key_generate()
    key = ApiKey.objects.create(
        tenant=tenant,
        name=name.strip(),
        prefix=prefix,
        secret_hash=secret_hash,
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        created_by=created_by,
        mcp_tools=tools,
    )
    changes = {"name": key.name, "scopes": key.scopes, "expires_at": expires_at}
    if tools:
        changes["mcp_tools"] = tools
    audit_record(tenant=tenant, actor=actor, action="api_key.created", obj=key, changes=changes)
    return key, full


_UNSET = object()


@transaction.atomic
def api_key_update(*, key: ApiKey, actor: Actor, name: str | None = None, mcp_tools: object = _UNSET) -> ApiKey:
    """Renames a key or replaces its MCP tool grants (the secret, scopes and expiry never change: make a new key).
    A revoked key cannot be edited."""
    errors: dict = {}
    if key.revoked_at is not None:
        raise ValidationError({"detail": ["This key is revoked."]})
    before = {"name": key.name, "mcp_tools": key.mcp_tools}
    if name is not None:
        if not name.strip():
            errors["name"] = ["This field may not be blank."]
        else:
            key.name = name.strip()
    if mcp_tools is not _UNSET:
        if mcp_tools and MCP_SCOPE not in (key.scopes or []):
            errors["mcp_tools"] = [f"Only a key with the {MCP_SCOPE!r} scope has MCP tools."]
        else:
            try:
                key.mcp_tools = _clean_mcp_tools(key.tenant, mcp_tools)
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    after = {"name": key.name, "mcp_tools": key.mcp_tools}
    if before != after:
        key.save(update_fields=["name", "mcp_tools"])
        audit_record(tenant=key.tenant, actor=actor, action="api_key.updated", obj=key, changes=diff(before, after))
    return key


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(tenant=key.tenant, actor=actor, action="api_key.revoked", obj=key)
    return key


# --- passwords -----------------------------------------------------------------------------------------------


@transaction.atomic
def password_change(*, user: User, old_password: str, new_password: str) -> None:
    if not user.check_password(old_password):
        raise ValidationError({"old_password": ["Wrong password."]})
    _validate_new_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    tokens_revoke_all(user=user)
    platform_audit_record(actor=Actor.for_user(user), action="user.password_changed", obj=user)


def password_reset_request(*, email: str) -> None:
    """Emails a reset link when the account exists; says nothing either way (no account enumeration)."""
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    send_mail(
        subject="Reset your BizOSaaS password",
        message=f"Choose a new password: {settings.PORTAL_URL}/reset-password?uid={uid}&token={token}\n",
        from_email=None,
        recipient_list=[user.email],
    )
    platform_audit_record(actor=Actor.for_user(user), action="user.password_reset_requested", obj=user)


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uid))), is_active=True)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationError({"token": ["This reset link is invalid or has expired."]})
    _validate_new_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    tokens_revoke_all(user=user)
    platform_audit_record(actor=Actor.for_user(user), action="user.password_reset", obj=user)
    return user


# --- demo ----------------------------------------------------------------------------------------------------


@transaction.atomic
def demo_seed(*, email: str, password: str) -> tuple[Tenant, User, bool]:
    """The demo tenant with an owner account; idempotent (returns created=False when it already existed)."""
    public_tenant_ensure()
    slug = settings.DEMO_TENANT_SLUG
    tenant = Tenant.objects.filter(slug=slug).first()
    created = tenant is None
    if created:
        tenant = tenant_create(name="Demo Agency", slug=slug, actor=Actor.system("seed_demo"))
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, first_name="Demo", last_name="Owner")
    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Membership.Role.OWNER})
    return tenant, user, created


def role_of(*, user: User, tenant: Tenant) -> str | None:
    return Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True).first()


def role_at_least(role: str | None, least: Role) -> bool:
    return role is not None and Role.parse(role) >= least
