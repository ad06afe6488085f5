"""Which tenant a request acts on, and as whom. Resolution order: the JWT `tenant` claim, an API key's tenant,
the request's domain. Anything else the client says about tenants (headers, bodies) is ignored."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.urls import set_urlconf
from rest_framework.exceptions import NotAuthenticated, PermissionDenied

from apps.accounts import access_cache
from apps.accounts.api_keys import api_key_lookup
from apps.accounts.audit.services import Actor, platform_audit_record
from apps.accounts.models import ApiKey, Domain, Membership, Tenant


@dataclass(frozen=True)
class Access:
    tenant: Tenant
    role: str | None = None
    api_key: ApiKey | None = None
    is_superuser: bool = False


def _bearer(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


# Access tokens this process has verified, by their exact text: a caller sends the same token with every request
# for its lifetime, so its signature and claims are checked once and only its expiry again. Bounded: emptied when
# full. (Whether its session or user still stands is checked per request: apps.accounts.tokens.)
_verified: dict[str, object] = {}
VERIFIED_MAX = 4096


def _jwt_of(request, raw: str):
    """The validated access token in the Bearer header, or None (authentication answers 401 later). Kept on the
    request for TenantJWTAuthentication: validated once per request."""
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import AccessToken
    from rest_framework_simplejwt.utils import aware_utcnow

    token = _verified.get(raw)
    try:
        if token is None:
            token = AccessToken(raw)  # type: ignore[arg-type]
            if len(_verified) >= VERIFIED_MAX:
                _verified.clear()
            _verified[raw] = token
        else:
            token.check_exp(current_time=aware_utcnow())  # type: ignore[attr-defined]  # not its own `current_time`: when it was verified
    except TokenError:
        _verified.pop(raw, None)
        return None
    request._access_token = (raw, token)
    return token


def _tenant_from_jwt(token) -> Tenant | None:
    slug = token.get("tenant")
    if not slug or not isinstance(slug, str):
        return None
    tenants = Tenant.objects.select_related("quota")  # its quota overrides come along (apps.accounts.quotas)
    return access_cache.lookup(
        ("tenant_by_slug", slug),
        lambda: tenants.filter(slug=slug).exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).first(),
    )


def _tenant_from_domain(hostname: str) -> Tenant | None:
    def load() -> Tenant | None:
        domain = Domain.objects.select_related("tenant", "tenant__quota").filter(domain=hostname).first()
        if domain is None or domain.tenant.schema_name == settings.PUBLIC_SCHEMA_NAME:
            return None
        return domain.tenant

    return access_cache.lookup(("tenant_by_domain", hostname), load)


class TenantResolutionMiddleware:
    """Sets request.tenant (None on the platform), the connection's schema, and the URL conf of the host."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        if request.path_info.startswith("/hooks/"):
            # inbound webhooks: routed by their token alone, whatever the host
            request.tenant, request.api_key = None, None
            request.urlconf = settings.HOOKS_URLCONF
            set_urlconf(request.urlconf)
            try:
                return self.get_response(request)
            finally:
                connection.set_schema_to_public()  # type: ignore[attr-defined]
        token = _bearer(request)
        jwt = _jwt_of(request, token) if token and not token.startswith("bzs_") else None
        access_cache.request_begins()
        try:
            return self._resolve(request, token, jwt)
        finally:
            access_cache.request_ends()

    def _resolve(self, request, token: str, jwt):
        hostname = request.get_host().split(":")[0].lower()
        domain_tenant = _tenant_from_domain(hostname)
        tenant, request.api_key = None, None
        if token.startswith("bzs_"):
            request.api_key = api_key_lookup(token)
            tenant = request.api_key.tenant if request.api_key else None
        elif jwt is not None:
            tenant = _tenant_from_jwt(jwt)
        tenant = tenant or domain_tenant
        request.tenant = tenant
        if tenant is not None:
            connection.set_tenant(tenant)  # type: ignore[attr-defined]
        request.urlconf = settings.ROOT_URLCONF if domain_tenant else settings.PUBLIC_SCHEMA_URLCONF
        set_urlconf(request.urlconf)
        try:
            return self.get_response(request)
        finally:
            connection.set_schema_to_public()  # type: ignore[attr-defined]


def tenant_access(request) -> Access:
    """The caller's standing in request.tenant, or the DRF error that ends the request (401/403)."""
    cached = getattr(request, "_tenant_access", None)
    if cached is not None:
        return cached
    tenant: Tenant | None = getattr(request, "tenant", None)
    user = request.user
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated()
    if tenant is None:
        raise PermissionDenied(
            "No tenant selected: use a token issued for a tenant (login or switch-tenant), an API key, "
            "or the tenant's own domain.",
            code="no_tenant",
        )
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    if tenant.status == Tenant.Status.SUSPENDED and not (api_key is None and user.is_superuser):
        raise PermissionDenied("This tenant is suspended.", code="tenant_suspended")
    if api_key is not None:
        access = Access(tenant=tenant, api_key=api_key)
    else:
        role = access_cache.lookup(
            ("role", user.pk, tenant.pk),
            lambda: Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True).first(),
        )
        if role is None and not user.is_superuser:
            raise PermissionDenied("You are not a member of this tenant.", code="not_a_member")
        access = Access(tenant=tenant, role=role, is_superuser=role is None and user.is_superuser)
        if access.is_superuser:
            platform_audit_record(
                actor=Actor.for_user(user),
                action="superadmin.tenant_access",
                tenant=tenant,
                changes={"method": request.method, "path": request.path},
            )
    request._tenant_access = access
    return access
