from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenRefreshView

from apps.accounts import quotas, services
from apps.accounts.access import tenant_access
from apps.accounts.api import serializers as s
from apps.accounts.api_keys import ApiKeyPrincipal
from apps.accounts.audit.models import AuditEvent
from apps.accounts.models import ApiKey, Invitation, Membership, Tenant
from apps.accounts.permissions import MANAGE, MATRIX, role_allows
from apps.accounts.throttles import (
    ClientScopedThrottle,
    InvitationTokenThrottle,
    LoginEmailThrottle,
    PasswordResetEmailThrottle,
)
from apps.accounts.tokens import session_end, token_pair
from bizosaas.filters import time_filters
from bizosaas.views import TenantScoped


class IsPerson(BasePermission):
    """A signed-in person (not an API key): account endpoints belong to people."""

    message = "This endpoint needs a user's token, not an API key."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and not isinstance(request.user, ApiKeyPrincipal))


def _usable_tenant(user, slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).exclude(slug="public").first()
    if tenant is None or (services.role_of(user=user, tenant=tenant) is None and not user.is_superuser):
        raise ValidationError({"tenant": ["You are not a member of this tenant."]})
    if tenant.status == Tenant.Status.SUSPENDED and not user.is_superuser:
        raise PermissionDenied("This tenant is suspended.", code="tenant_suspended")
    return tenant


# --- auth ----------------------------------------------------------------------------------------------------


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ClientScopedThrottle]
    throttle_scope = "register"

    @extend_schema(request=s.RegisterSerializer, responses={201: s.TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        data = s.RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, tenant = services.user_register(**data.validated_data)
        return Response(token_pair(user=user, tenant=tenant), status=status.HTTP_201_CREATED)


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get_authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'  # so that wrong credentials answer 401, not 403

    throttle_classes = [ClientScopedThrottle, LoginEmailThrottle]
    throttle_scope = "login"

    @extend_schema(request=s.LoginSerializer, responses={200: s.TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        data = s.LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, email=data.validated_data["email"], password=data.validated_data["password"])
        if user is None:
            raise AuthenticationFailed("Wrong email or password.", code="invalid_credentials")
        slug = data.validated_data.get("tenant")
        tenant: Tenant | None
        if slug:
            tenant = _usable_tenant(user, slug)
        else:
            first = (
                Membership.objects.filter(user=user, tenant__status=Tenant.Status.ACTIVE)
                .select_related("tenant")
                .order_by("created_at")
                .first()
            )
            tenant = first.tenant if first else None
        return Response(token_pair(user=user, tenant=tenant))


class RefreshView(TokenRefreshView):
    """Rotates the refresh token; the one presented is blacklisted and cannot be used again."""

    @extend_schema(tags=["auth"])
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=s.RefreshSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        data = s.RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            session_end(refresh=RefreshToken(data.validated_data["refresh"]))
        except TokenError as exc:
            raise ValidationError({"refresh": [str(exc)]}) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class SwitchTenantView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(request=s.SwitchTenantSerializer, responses={200: s.TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        data = s.SwitchTenantSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = _usable_tenant(request.user, data.validated_data["tenant"])
        return Response(token_pair(user=request.user, tenant=tenant))


class MeView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses={200: s.MeResponseSerializer}, tags=["auth"])
    def get(self, request):
        body = s.MeSerializer(request.user).data
        tenant = getattr(request, "tenant", None)
        role = services.role_of(user=request.user, tenant=tenant) if tenant else None
        body["tenant"] = {"slug": tenant.slug, "name": tenant.name, "role": role} if tenant else None
        # what the role may do, so that clients hide or disable what the API would refuse
        body["permissions"] = (
            {
                resource: sorted(a for a in actions if role_allows(role, resource, a))
                for resource, actions in MATRIX.items()
            }
            if role
            else {}
        )
        return Response(body)


class PasswordChangeView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(request=s.PasswordChangeSerializer, responses={200: s.TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        data = s.PasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_change(user=request.user, **data.validated_data)
        # every other session ends; this one continues with a fresh pair
        return Response(token_pair(user=request.user, tenant=getattr(request, "tenant", None)))


class PasswordResetView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ClientScopedThrottle, PasswordResetEmailThrottle]
    throttle_scope = "password_reset"

    @extend_schema(request=s.PasswordResetSerializer, responses={202: None}, tags=["auth"])
    def post(self, request):
        data = s.PasswordResetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return Response({"detail": "If the account exists, a reset link was emailed."}, status=202)


class PasswordResetConfirmView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ClientScopedThrottle]
    throttle_scope = "password_reset"

    @extend_schema(request=s.PasswordResetConfirmSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        data = s.PasswordResetConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ClientScopedThrottle, InvitationTokenThrottle]
    throttle_scope = "login"

    @extend_schema(request=s.InvitationAcceptSerializer, responses={200: s.TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        data = s.InvitationAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, membership = services.invitation_accept(**data.validated_data)
        return Response(token_pair(user=user, tenant=membership.tenant))


# --- the tenant's own resources ------------------------------------------------------------------------------


class CurrentTenantView(TenantScoped, APIView):
    resource = "tenant"

    @property
    def action(self) -> str:
        return "retrieve" if self.request.method == "GET" else "manage"

    action_permissions = {"manage": MANAGE}

    @extend_schema(responses={200: s.TenantSerializer}, tags=["tenant"])
    def get(self, request):
        return Response(s.TenantSerializer(self.tenant).data)

    @extend_schema(request=s.TenantSerializer, responses={200: s.TenantSerializer}, tags=["tenant"])
    def patch(self, request):
        data = s.TenantSerializer(self.tenant, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_update(
            tenant=self.tenant,
            actor=self.actor,
            name=data.validated_data.get("name", self.tenant.name),
            approver_must_differ=data.validated_data.get("approver_must_differ"),
        )
        return Response(s.TenantSerializer(tenant).data)


class UsageView(TenantScoped, APIView):
    resource = "usage"  # GET only: owners and admins; API keys with tenant:read

    @extend_schema(responses={200: s.UsageSerializer}, tags=["tenant"], operation_id="usage")
    def get(self, request):
        return Response(s.UsageSerializer({"limits": quotas.usage_for(self.tenant)}).data)


@extend_schema(tags=["members"])
class MemberViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "members"
    serializer_class = s.MemberSerializer
    action_permissions = {"partial_update": MANAGE, "destroy": MANAGE}
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return Membership.objects.none()
        return Membership.objects.filter(tenant=self.tenant).select_related("user", "tenant").order_by("created_at")

    @extend_schema(request=s.MemberUpdateSerializer, responses={200: s.MemberSerializer})
    def partial_update(self, request, pk=None):
        membership = self.get_object()
        data = s.MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_update(
            membership=membership, role=data.validated_data["role"], actor=self.actor
        )
        return Response(s.MemberSerializer(membership).data)

    def destroy(self, request, pk=None):
        services.membership_remove(membership=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["members"])
class InvitationViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "invitations"
    serializer_class = s.InvitationSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return Invitation.objects.none()
        return Invitation.objects.filter(tenant=self.tenant).select_related("invited_by")

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationSerializer})
    def create(self, request):
        data = s.InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _token = services.invitation_create(
            tenant=self.tenant,
            invited_by=request.user,
            actor=self.actor,
            inviter_role=tenant_access(request).role if not tenant_access(request).is_superuser else "owner",
            **data.validated_data,
        )
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None}, description="Revokes a pending invitation.")
    def destroy(self, request, pk=None):
        services.invitation_revoke(invitation=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["api keys"])
class ApiKeyViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "api_keys"
    serializer_class = s.ApiKeySerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return ApiKey.objects.none()
        return ApiKey.objects.filter(tenant=self.tenant)

    @extend_schema(request=s.ApiKeyCreateSerializer, responses={201: s.ApiKeyCreatedSerializer})
    def create(self, request):
        data = s.ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, full = services.api_key_create(
            tenant=self.tenant, created_by=request.user, actor=self.actor, **data.validated_data
        )
        body = s.ApiKeySerializer(key).data
        body["key"] = full
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ApiKeyUpdateSerializer,
        responses={200: s.ApiKeySerializer},
        description="Renames the key or replaces its MCP tools (grants checked against this tenant's connections).",
    )
    def partial_update(self, request, pk=None):
        data = s.ApiKeyUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = services.api_key_update(key=self.get_object(), actor=self.actor, **data.validated_data)
        return Response(s.ApiKeySerializer(key).data)

    @extend_schema(responses={204: None}, description="Revokes the key at once; the row stays for the record.")
    def destroy(self, request, pk=None):
        services.api_key_revoke(key=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=["audit log"],
    parameters=[
        OpenApiParameter("action", str, description="exact action, or a prefix ending in '.' (e.g. 'member.')"),
        OpenApiParameter("actor_type", str, enum=["user", "api_key", "system"]),
        OpenApiParameter("actor_id", str),
        OpenApiParameter("object_type", str),
        OpenApiParameter("object_id", str),
        OpenApiParameter("since", str, description="ISO 8601 date-time"),
        OpenApiParameter("until", str, description="ISO 8601 date-time"),
    ],
)
class AuditLogViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "audit_log"
    serializer_class = s.AuditEventSerializer

    def get_queryset(self):
        if self.schema_generation():
            return AuditEvent.objects.none()
        tenant_access(self.request)  # the schema is the caller's tenant's; nothing else to filter on
        queryset = AuditEvent.objects.all()
        params = self.request.query_params
        action = params.get("action")
        if action:
            queryset = (
                queryset.filter(action__startswith=action) if action.endswith(".") else queryset.filter(action=action)
            )
        for field in ("actor_type", "actor_id", "object_type", "object_id"):
            if params.get(field):
                queryset = queryset.filter(**{field: params[field]})
        return time_filters(params, queryset, "created_at")
