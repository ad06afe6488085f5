"""`GET /api/v1/mcp/`: what the portal's Settings → MCP page shows: the server URL, what this tenant has that an
API key may be given as MCP tools (connections with their resources and actions, knowledge collections, agents,
workflows), and the tool names each `mcp` key sees now. Admins (it is for editing keys), like the API keys API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.mcp.selectors import mcp_overview
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


class McpOverviewView(TenantScoped, APIView):
    resource = "api_keys"
    action = "retrieve"

    @extend_schema(responses={200: McpOverviewSerializer}, tags=["mcp"])
    def get(self, request):
        return Response(McpOverviewSerializer(mcp_overview(self.tenant)).data)
