"""Recording audit events. Tenant events go to the tenant's schema, platform events to the public schema; both
carry who, what, which object, a diff with secrets redacted, and the request's IP, user agent and request id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django_tenants.utils import schema_context

from apps.accounts.audit.models import AuditEvent
from apps.accounts.models import ApiKey, PlatformAuditEvent, Tenant
from bizosaas.observability import client_var, request_id_var

REDACTED = "[redacted]"
_SECRET_MARKERS = ("password", "secret", "token", "hash", "credential", "api_key", "private")


@dataclass(frozen=True)
class Actor:
    type: str  # user | api_key | system
    id: str = ""
    label: str = ""

    @classmethod
    def for_user(cls, user) -> Actor:
        return cls("user", str(user.pk), user.email)

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls("system", "", label)

    @classmethod
    def from_request(cls, request) -> Actor:
        if isinstance(getattr(request, "auth", None), ApiKey):
            key = request.auth
            return cls("api_key", str(key.pk), f"{key.name} (bzs_{key.prefix})")
        return cls.for_user(request.user)


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if any(marker in str(key).lower() for marker in _SECRET_MARKERS) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _fields(*, actor: Actor, action: str, obj: Any, changes: dict | None) -> dict:
    ip, user_agent = client_var.get()
    request_id = request_id_var.get()
    return {
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": actor.label[:255],
        "action": action,
        "object_type": obj._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None else "",
        "object_repr": str(obj)[:255] if obj is not None else "",
        "changes": redact(changes or {}),
        "ip": ip,
        "user_agent": user_agent,
        "request_id": "" if request_id == "-" else request_id,
    }


def audit_record(*, tenant: Tenant, actor: Actor, action: str, obj: Any = None, changes: dict | None = None):
    """Appends one event to `tenant`'s own audit log (in its schema), whatever schema the caller is in."""
    with schema_context(tenant.schema_name):
        return AuditEvent.objects.create(**_fields(actor=actor, action=action, obj=obj, changes=changes))


def platform_audit_record(
    *, actor: Actor, action: str, tenant: Tenant | None = None, obj: Any = None, changes: dict | None = None
) -> PlatformAuditEvent:
    with schema_context(settings.PUBLIC_SCHEMA_NAME):
        return PlatformAuditEvent.objects.create(
            tenant_id_ref=tenant.pk if tenant else None,
            tenant_slug=tenant.slug if tenant else "",
            **_fields(actor=actor, action=action, obj=obj if obj is not None else tenant, changes=changes),
        )


def diff(before: dict, after: dict) -> dict:
    """{field: [old, new]} for the fields that changed."""
    return {key: [before.get(key), after.get(key)] for key in after if before.get(key) != after.get(key)}
