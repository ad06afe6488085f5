"""`GET /api/v1/mcp/`: what the portal's Settings → MCP page shows: the server URL, what this tenant has that an
API key may be given as MCP tools (connections with their resources and actions, knowledge collections, agents,
workflows), and the tool names each `mcp` key sees now. Admins (it is for editing keys), like the API keys API."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ApiKey
from apps.accounts.permissions import MCP_SCOPE
from apps.agents.models import Agent, KnowledgeCollection
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from apps.mcp.auth import McpPrincipal
from apps.mcp.tools import Denied, tools_for
from apps.workflows.models import WorkflowConfig
from bizosaas.views import TenantScoped


class McpTarget(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class McpItem(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class McpConnection(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    provider = serializers.CharField()
    provider_name = serializers.CharField()
    status = serializers.CharField()
    resources = McpItem(many=True)
    actions = McpItem(many=True)


class McpKeyTools(serializers.Serializer):
    id = serializers.IntegerField()
    tools = serializers.ListField(child=serializers.CharField())


class McpOverviewSerializer(serializers.Serializer):
    server_url = serializers.CharField()
    connections = McpConnection(many=True)
    collections = McpTarget(many=True)
    agents = McpTarget(many=True)
    workflows = McpTarget(many=True)
    keys = McpKeyTools(many=True)


def server_url() -> str:
    return f"{settings.GATEWAY_URL.rstrip('/')}/mcp/"


class McpOverviewView(TenantScoped, APIView):
    resource = "api_keys"
    action = "retrieve"

    @extend_schema(responses={200: McpOverviewSerializer}, tags=["mcp"])
    def get(self, request):
        tenant = self.tenant
        connections = []
        for connection in Connection.objects.order_by("name", "id"):
            spec = registry.get(connection.provider)
            connections.append(
                {
                    "id": connection.pk,
                    "name": connection.name,
                    "provider": connection.provider,
                    "provider_name": spec.name if spec else connection.provider,
                    "status": connection.status,
                    "resources": [
                        {"name": r.name, "description": r.description} for r in (spec.resources if spec else ())
                    ],
                    "actions": [{"name": a.name, "description": a.description} for a in (spec.actions if spec else ())],
                }
            )
        keys = []
        for key in ApiKey.objects.filter(tenant=tenant, revoked_at__isnull=True).order_by("-created_at"):
            if MCP_SCOPE not in (key.scopes or []):
                continue
            try:
                names = sorted(tools_for(McpPrincipal(tenant=tenant, actor_label=key.name, api_key=key)))
            except Denied:  # expired
                names = []
            keys.append({"id": key.pk, "tools": names})
        body = {
            "server_url": server_url(),
            "connections": connections,
            "collections": list(KnowledgeCollection.objects.order_by("name", "id").values("id", "name")),
            "agents": list(Agent.objects.order_by("name", "id").values("id", "name")),
            "workflows": list(WorkflowConfig.objects.order_by("name", "id").values("id", "name")),
            "keys": keys,
        }
        return Response(McpOverviewSerializer(body).data)
