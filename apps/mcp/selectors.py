"""Reads of the MCP app with logic of their own: what the portal's MCP page shows."""

from __future__ import annotations

from django.conf import settings

from apps.accounts.models import ApiKey, Tenant
from apps.accounts.permissions import MCP_SCOPE
from apps.agents.models import Agent, KnowledgeCollection
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from apps.mcp.auth import McpPrincipal
from apps.mcp.tools import Denied, tools_for
from apps.workflows.models import WorkflowConfig


def server_url() -> str:
    return f"{settings.GATEWAY_URL.rstrip('/')}/mcp/"


def mcp_overview(tenant: Tenant) -> dict:
    """The server's URL, the tenant's connections with what they offer, its collections, agents and workflow
    configurations (what a key's tools can reach), and the tools each live MCP key gives (none once it expired)."""
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
                "resources": [{"name": r.name, "description": r.description} for r in (spec.resources if spec else ())],
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
    return {
        "server_url": server_url(),
        "connections": connections,
        "collections": list(KnowledgeCollection.objects.order_by("name", "id").values("id", "name")),
        "agents": list(Agent.objects.order_by("name", "id").values("id", "name")),
        "workflows": list(WorkflowConfig.objects.order_by("name", "id").values("id", "name")),
        "keys": keys,
    }
