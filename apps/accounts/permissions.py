"""The one permission matrix: which role may do which action on which resource, and which API-key scope allows it.

Roles are ordered: viewer reads, member uses (runs, tests, triggers), admin configures, owner also manages
people and tenant-level settings. Every tenant API view names its `resource`; DRF actions map to matrix actions.
"""

from __future__ import annotations

from enum import IntEnum

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import BasePermission

from apps.accounts.access import tenant_access


class Role(IntEnum):
    VIEWER = 1
    MEMBER = 2
    ADMIN = 3
    OWNER = 4

    @classmethod
    def parse(cls, value: str) -> Role:
        return cls[value.upper()]


READ, USE, CONFIGURE, MANAGE = "read", "use", "configure", "manage"

# resource -> action -> (least role, API-key scope or None when keys may never do it)
MATRIX: dict[str, dict[str, tuple[Role, str | None]]] = {
    "tenant": {READ: (Role.VIEWER, "tenant:read"), MANAGE: (Role.OWNER, None)},
    "usage": {READ: (Role.ADMIN, "tenant:read")},  # the tenant's quotas and what it uses of them
    "members": {READ: (Role.VIEWER, "members:read"), MANAGE: (Role.OWNER, None)},
    "invitations": {READ: (Role.ADMIN, None), CONFIGURE: (Role.ADMIN, None)},
    "api_keys": {READ: (Role.ADMIN, None), CONFIGURE: (Role.ADMIN, None)},
    "audit_log": {READ: (Role.ADMIN, "audit:read")},
    # MCP clients connected over OAuth (apps.oauth): anyone sees and disconnects their own, members may connect
    # one (USE: consent, and every use of its tokens), admins see and disconnect everyone's (MANAGE)
    "oauth_grants": {READ: (Role.VIEWER, None), USE: (Role.MEMBER, None), MANAGE: (Role.ADMIN, None)},
    "connections": {
        READ: (Role.VIEWER, "connections:read"),
        USE: (Role.MEMBER, "connections:use"),
        CONFIGURE: (Role.ADMIN, "connections:write"),
    },
    "events": {READ: (Role.VIEWER, "events:read"), USE: (Role.MEMBER, "events:write")},
    "webhooks": {READ: (Role.VIEWER, "webhooks:read"), CONFIGURE: (Role.ADMIN, "webhooks:write")},
    "rules": {
        READ: (Role.VIEWER, "rules:read"),
        USE: (Role.MEMBER, "rules:run"),
        CONFIGURE: (Role.ADMIN, "rules:write"),
    },
    "agents": {
        READ: (Role.VIEWER, "agents:read"),
        USE: (Role.MEMBER, "agents:run"),
        CONFIGURE: (Role.ADMIN, "agents:write"),
    },
    "knowledge": {READ: (Role.VIEWER, "knowledge:read"), CONFIGURE: (Role.MEMBER, "knowledge:write")},
    "workflows": {
        READ: (Role.VIEWER, "workflows:read"),
        USE: (Role.MEMBER, "workflows:run"),
        CONFIGURE: (Role.ADMIN, "workflows:write"),
    },
    # the inbox of agent and workflow approvals: members decide (approve, edit and approve, reject)
    "approvals": {READ: (Role.VIEWER, "approvals:read"), USE: (Role.MEMBER, "approvals:decide")},
}

MCP_SCOPE = "mcp"  # calls /mcp/ (apps.mcp), which checks the key's own tool grants rather than this matrix
SCOPES: frozenset[str] = frozenset(
    scope for actions in MATRIX.values() for _role, scope in actions.values() if scope is not None
) | {MCP_SCOPE}

DEFAULT_ACTIONS = {
    "list": READ,
    "retrieve": READ,
    "create": CONFIGURE,
    "update": CONFIGURE,
    "partial_update": CONFIGURE,
    "destroy": CONFIGURE,
    "metadata": READ,  # OPTIONS: describes what the caller may send, nothing more
}


def requirement(resource: str, action: str) -> tuple[Role, str | None]:
    try:
        return MATRIX[resource][action]
    except KeyError:
        raise LookupError(f"no permission rule for {resource}:{action}") from None


def role_allows(role: str | None, resource: str, action: str) -> bool:
    least, _scope = requirement(resource, action)
    return role is not None and Role.parse(role) >= least


def scope_allows(scopes: list[str], resource: str, action: str) -> bool:
    _least, scope = requirement(resource, action)
    return scope is not None and scope in scopes


def view_action(view) -> str:
    """The matrix action of the request; a method the view does not serve (TRACE, PUT on a read-only view) ends
    here with 405, before any rule is looked up for it."""
    method = view.request.method
    if method.lower() not in view.http_method_names or not hasattr(view, method.lower()):
        raise MethodNotAllowed(method)
    if method == "OPTIONS":
        return READ
    action = getattr(view, "action", None) or {"GET": "retrieve", "HEAD": "retrieve"}.get(method, "update")
    actions = {**DEFAULT_ACTIONS, **getattr(view, "action_permissions", {})}
    return actions[action]


class TenantPermission(BasePermission):
    """Allows a request when its principal may perform the view's action on the view's resource in request.tenant.

    The tenant itself (resolved, member-checked and not suspended) is settled by `TenantAccess` before this runs.
    """

    def has_permission(self, request, view) -> bool:
        access = tenant_access(request)
        action = view_action(view)
        if access.api_key is not None:
            allowed = scope_allows(access.api_key.scopes, view.resource, action)
        else:
            allowed = access.is_superuser or role_allows(access.role, view.resource, action)
        if not allowed:
            _least, scope = requirement(view.resource, action)
            self.message = (
                f"This API key lacks the scope {scope!r}."
                if access.api_key is not None and scope
                else f"Your role may not {action} {view.resource.replace('_', ' ')}."
            )
        return allowed


def may(request, resource: str, action: str) -> bool:
    """Whether the request's principal may perform `action` on `resource`: for values only some roles see (a
    capability URL is shown to those who may configure it). No request (a serializer used outside a view) or
    no tenant standing: no."""
    from rest_framework.exceptions import APIException

    if request is None:
        return False
    try:
        access = tenant_access(request)
    except APIException:
        return False
    if access.api_key is not None:
        return scope_allows(access.api_key.scopes, resource, action)
    return access.is_superuser or role_allows(access.role, resource, action)
