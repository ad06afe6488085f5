from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponseRedirect
from django_tenants.utils import schema_context
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Tenant
from apps.accounts.permissions import USE
from apps.connectors import services
from apps.connectors.api import serializers as s
from apps.connectors.api.catalogue_serializers import ConnectorSerializer
from apps.connectors.api.slow_calls import slow_provider_call
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from bizosaas.api import page_limit
from bizosaas.views import TenantScoped


@extend_schema(tags=["connectors"])
class ConnectorViewSet(TenantScoped, viewsets.ViewSet):
    """The catalogue: every connector with its config schema, auth type, resources and actions."""

    resource = "connections"
    lookup_field = "key"
    lookup_value_regex = r"[a-z0-9_]+"

    def _counts(self) -> dict[str, int]:
        return dict(Connection.objects.values_list("provider").annotate(n=Count("id")))

    @extend_schema(responses={200: ConnectorSerializer(many=True)})
    def list(self, request):
        counts = self._counts()
        return Response([{**p.describe(), "connected_count": counts.get(p.key, 0)} for p in registry.all()])

    @extend_schema(responses={200: ConnectorSerializer})
    def retrieve(self, request, key=None):
        provider = registry.get(key)
        if provider is None:
            raise NotFound("No such connector.")
        return Response({**provider.describe(), "connected_count": self._counts().get(key, 0)})


@extend_schema(tags=["connections"])
class ConnectionViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "connections"
    serializer_class = s.ConnectionSerializer
    action_permissions = {
        "test": USE,
        "read_resource": "read",
        "perform_action": USE,
        "health": "read",
        "oauth_start": "configure",
        "oauth_complete": "configure",
    }

    def get_queryset(self):
        if self.schema_generation():
            return Connection.objects.none()
        self.tenant  # noqa: B018  (settles tenant access before touching the tenant's schema)
        return Connection.objects.all()

    @extend_schema(request=s.ConnectionCreateSerializer, responses={201: s.ConnectionSerializer})
    def create(self, request):
        data = s.ConnectionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = services.connection_create(
            tenant=self.tenant, actor=self.actor, user_id=getattr(request.user, "pk", None), **data.validated_data
        )
        return Response(s.ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ConnectionUpdateSerializer, responses={200: s.ConnectionSerializer})
    def partial_update(self, request, pk=None):
        connection = self.get_object()
        data = s.ConnectionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = services.connection_update(
            tenant=self.tenant, actor=self.actor, connection=connection, **data.validated_data
        )
        return Response(s.ConnectionSerializer(connection).data)

    def destroy(self, request, pk=None):
        services.connection_delete(tenant=self.tenant, actor=self.actor, connection=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: s.ConnectionCheckSerializer})
    @action(detail=True, methods=["post"])
    @slow_provider_call
    def test(self, request, pk=None):
        check = services.connection_test(connection=self.get_object(), tenant=self.tenant)
        return Response(s.ConnectionCheckSerializer(check).data)

    @extend_schema(responses={200: s.ConnectionCheckSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def health(self, request, pk=None):
        checks = self.get_object().checks.all()
        page = self.paginate_queryset(checks)
        return self.get_paginated_response(s.ConnectionCheckSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("fresh", bool, description="bypass the cache"),
            OpenApiParameter("since", str, description="first day, YYYY-MM-DD (resources with a date window)"),
            OpenApiParameter("until", str, description="last day, YYYY-MM-DD, inclusive"),
        ],
        responses={200: s.PageSerializer},
    )
    @action(detail=True, methods=["get"], url_path=r"resources/(?P<resource_name>[a-z0-9_]+)")
    @slow_provider_call
    def read_resource(self, request, pk=None, resource_name=None):
        connection = self.get_object()
        limit = page_limit(request.query_params.get("limit"), default=50)
        window, errors = {}, {}
        for name in ("since", "until"):
            raw = request.query_params.get(name)
            if raw:
                try:
                    window[name] = date.fromisoformat(raw) if len(raw) == 10 else None
                except ValueError:
                    window[name] = None
                if window[name] is None:
                    errors[name] = ["A date as YYYY-MM-DD."]
        if errors:
            raise ValidationError(errors)
        page, cached = services.connection_read(
            connection=connection,
            resource=resource_name,
            cursor=request.query_params.get("cursor") or None,
            limit=limit,
            fresh=request.query_params.get("fresh") in ("1", "true"),
            tenant=self.tenant,
            **window,
        )
        spec = registry.get(connection.provider).resource(resource_name)  # type: ignore[union-attr]
        return Response(
            {
                "resource": resource_name,
                "model": spec.model,  # type: ignore[union-attr]
                "next_cursor": page.next_cursor,
                "cached": cached,
                "records": [{"id": r.id, "data": r.data, "raw": r.raw} for r in page.records],
            }
        )

    @extend_schema(request=s.ActionSerializer, responses={200: dict})
    @action(detail=True, methods=["post"], url_path=r"actions/(?P<action_name>[a-z0-9_]+)")
    @slow_provider_call
    def perform_action(self, request, pk=None, action_name=None):
        data = s.ActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.connection_perform(
            tenant=self.tenant,
            actor=self.actor,
            connection=self.get_object(),
            action=action_name,
            payload=data.validated_data["input"],
        )
        return Response({"action": action_name, "result": result})

    @extend_schema(request=None, responses={200: s.OAuthStartSerializer})
    @action(detail=True, methods=["post"], url_path="oauth/start")
    def oauth_start(self, request, pk=None):
        url = services.oauth_start(tenant=self.tenant, connection=self.get_object(), user_id=request.user.pk)
        return Response({"authorization_url": url})

    @extend_schema(
        request=s.OAuthCompleteSerializer,
        responses={200: s.ConnectionSerializer},
        description="Exchanges the code the provider sent back, for the person who started the flow only.",
    )
    @action(detail=True, methods=["post"], url_path="oauth/complete")
    @slow_provider_call
    def oauth_complete(self, request, pk=None):
        connection = self.get_object()
        data = s.OAuthCompleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        slug, payload = services.oauth_state_tenant(data.validated_data["state"])
        if slug != self.tenant.slug or payload.get("c") != connection.pk:
            raise ValidationError({"state": ["Invalid authorisation state."]})
        connection = services.oauth_complete(tenant=self.tenant, payload=payload, user_id=request.user.pk)
        return Response(s.ConnectionSerializer(connection).data)


class OAuthCallbackView(APIView):
    """Where the provider sends the browser back. The signed state names the tenant; the code is only kept here,
    and exchanged when the person who started the flow confirms it, signed in (`connections/{id}/oauth/complete/`,
    which the portal's connection page calls on arrival)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        tags=["connections"],
        parameters=[OpenApiParameter("code", str), OpenApiParameter("state", str)],
        responses={302: None, 200: s.OAuthCallbackSerializer, 400: dict},
    )
    def get(self, request):
        if request.query_params.get("error"):
            raise ValidationError(
                {"error": [request.query_params.get("error_description") or request.query_params["error"]]}
            )
        code, state = request.query_params.get("code"), request.query_params.get("state")
        if not code or not state:
            raise ValidationError({"code": ["Missing code or state."]})
        slug, payload = services.oauth_state_tenant(state)
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise ValidationError({"state": ["Invalid authorisation state."]})
        with schema_context(tenant.schema_name):
            connection = services.oauth_code_receive(payload=payload, code=code)
        target = f"{settings.PORTAL_URL}/dashboard/connectors/{connection.pk}?{urlencode({'authorise': state})}"
        if "application/json" in request.headers.get("Accept", ""):
            return Response({"connection": connection.pk, "status": connection.status, "redirect": target})
        return HttpResponseRedirect(target)
