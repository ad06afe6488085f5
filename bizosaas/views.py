"""The base every tenant API view builds on: who may call it (an authenticated principal standing in the tenant,
with the role or scope its `resource` needs), the tenant it acts in and the actor its audit records name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rest_framework.permissions import IsAuthenticated

from apps.accounts.access import tenant_access
from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant
from apps.accounts.permissions import TenantPermission

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass  # a name of the type stubs only


class TenantScoped:
    permission_classes: Sequence[_PermissionClass] = [IsAuthenticated, TenantPermission]
    request: Any  # the Request of the APIView this is mixed into (typed there; Any agrees with View and APIView)
    resource: str  # the permission matrix's resource (apps.accounts.permissions.MATRIX)
    lookup_value_regex = r"\d+"

    def schema_generation(self) -> bool:
        return getattr(self, "swagger_fake_view", False)

    @property
    def tenant(self) -> Tenant:
        return tenant_access(self.request).tenant

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)
