"""Agent configuration API: LLM providers, agents, their tool grants and the agent templates. Viewers read;
admins configure (the "agents" row of the permission matrix). API keys are never returned."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from apps.accounts.permissions import CONFIGURE, READ
from apps.agents import agent_templates, services
from apps.agents.api import config_serializers as s
from apps.agents.models import Agent, AgentRun, LLMProvider, ToolGrant
from apps.connectors.api.slow_calls import slow_provider_call
from bizosaas.last_run import with_last_run
from bizosaas.views import TenantScoped


def agents_with_details():
    """Agents with their provider, grants (and the granted connections, without their secrets), collections and
    latest run, in a fixed number of queries whatever the number of agents."""
    grants = ToolGrant.objects.select_related("connection").defer("connection__config", "connection__credentials")
    agents = Agent.objects.select_related("provider").prefetch_related(
        Prefetch("tool_grants", queryset=grants), "collections"
    )
    return with_last_run(agents, AgentRun.objects.all(), owner="agent", at="created_at")


@extend_schema(tags=["agents"])
class LLMProviderViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "agents"
    serializer_class = s.LLMProviderSerializer
    action_permissions = {"test": CONFIGURE}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return LLMProvider.objects.none()
        self.tenant  # noqa: B018  (settles tenant access before touching the tenant's schema)
        return LLMProvider.objects.all()

    @extend_schema(request=s.LLMProviderCreateSerializer, responses={201: s.LLMProviderSerializer})
    def create(self, request):
        data = s.LLMProviderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        provider = services.provider_create(
            tenant=self.tenant, actor=self.actor, user_id=getattr(request.user, "pk", None), **data.validated_data
        )
        return Response(s.LLMProviderSerializer(provider).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.LLMProviderUpdateSerializer, responses={200: s.LLMProviderSerializer})
    def partial_update(self, request, pk=None):
        provider = self.get_object()
        data = s.LLMProviderUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        provider = services.provider_update(
            tenant=self.tenant, actor=self.actor, provider=provider, **data.validated_data
        )
        return Response(s.LLMProviderSerializer(provider).data)

    def destroy(self, request, pk=None):
        services.provider_delete(tenant=self.tenant, actor=self.actor, provider=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: s.ProviderTestSerializer})
    @action(detail=True, methods=["post"])
    @slow_provider_call
    def test(self, request, pk=None):
        result = services.provider_test(provider=self.get_object())
        return Response(s.ProviderTestSerializer(result).data)


@extend_schema(tags=["agents"])
class AgentViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "agents"
    serializer_class = s.AgentSerializer
    action_permissions = {"tools": READ, "set_tools": CONFIGURE, "available_tools": READ}
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return Agent.objects.none()
        self.tenant  # noqa: B018
        return agents_with_details()

    def _fresh(self, agent: Agent) -> dict:
        return s.AgentSerializer(self.get_queryset().get(pk=agent.pk)).data

    @extend_schema(request=s.AgentWriteSerializer, responses={201: s.AgentSerializer})
    def create(self, request):
        data = s.AgentWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.agent_create(
            tenant=self.tenant, actor=self.actor, user_id=getattr(request.user, "pk", None), **data.validated_data
        )
        return Response(self._fresh(agent), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.AgentWriteSerializer, responses={200: s.AgentSerializer})
    def partial_update(self, request, pk=None):
        agent = self.get_object()
        data = s.AgentWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        agent = services.agent_update(tenant=self.tenant, actor=self.actor, agent=agent, **data.validated_data)
        return Response(self._fresh(agent))

    @extend_schema(request=s.AgentWriteSerializer, responses={200: s.AgentSerializer})
    def update(self, request, pk=None):
        agent = self.get_object()
        data = s.AgentWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.agent_update(tenant=self.tenant, actor=self.actor, agent=agent, **data.validated_data)
        return Response(self._fresh(agent))

    def destroy(self, request, pk=None):
        services.agent_delete(tenant=self.tenant, actor=self.actor, agent=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: s.GrantsSerializer})
    @action(detail=True, methods=["get"])
    def tools(self, request, pk=None):
        agent = self.get_object()
        return Response({"grants": s.ToolGrantSerializer(agent.tool_grants.all(), many=True).data})

    @extend_schema(request=s.GrantsSerializer, responses={200: s.GrantsSerializer})
    @tools.mapping.put
    def set_tools(self, request, pk=None):
        agent = self.get_object()
        data = s.GrantsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grants = services.set_tool_grants(
            tenant=self.tenant, actor=self.actor, agent=agent, grants=data.validated_data["grants"]
        )
        return Response({"grants": s.ToolGrantSerializer(grants, many=True).data})

    @extend_schema(responses={200: s.AvailableConnectionSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="available-tools", pagination_class=None)
    def available_tools(self, request, pk=None):
        return Response(services.agent_available_tools(agent=self.get_object()))


@extend_schema(tags=["agents"])
class AgentTemplateViewSet(TenantScoped, viewsets.ViewSet):
    """Starting points for common roles; installing one creates an ordinary agent the tenant can edit."""

    resource = "agents"
    lookup_field = "key"
    lookup_value_regex = r"[a-z0-9_]+"
    action_permissions = {"install": CONFIGURE}

    @extend_schema(responses={200: s.AgentTemplateSerializer(many=True)})
    def list(self, request):
        return Response([template.describe() for template in agent_templates.TEMPLATES])

    @extend_schema(request=s.TemplateInstallSerializer, responses={201: s.AgentSerializer})
    @action(detail=True, methods=["post"])
    def install(self, request, key=None):
        if agent_templates.template_get(key) is None:
            raise NotFound("No such agent template.")
        data = s.TemplateInstallSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = agent_templates.install_template(
            tenant=self.tenant,
            actor=self.actor,
            user_id=getattr(request.user, "pk", None),
            key=key,
            **data.validated_data,
        )
        return Response(s.AgentSerializer(agents_with_details().get(pk=agent.pk)).data, status=status.HTTP_201_CREATED)
