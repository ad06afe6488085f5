"""Connector actions called over MCP: the grant's policy for the action (`allow`, or `ask`: a person approves
first), then `_call_action`, the one place MCP executes an action."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant
from apps.connectors.models import Connection

if TYPE_CHECKING:
    from apps.mcp.auth import McpPrincipal
    from apps.mcp.tools import CallOutcome, McpTool


def _call_action(*, tenant: Tenant, actor: Actor, connection: Connection, action: str, payload: dict) -> dict:
    """Performs the action now (validated against its input schema, audited as `connection.action`), inside the
    gateway's provider-call slots. Everything in MCP that executes an action comes through here."""
    from apps.connectors.api.slow_calls import provider_call_slots
    from apps.connectors.services import connection_perform

    with provider_call_slots(tenant.schema_name):
        return connection_perform(tenant=tenant, actor=actor, connection=connection, action=action, payload=payload)


def action_policy(tool: McpTool) -> str:
    """`ask` when the caller's grant says so for the action (`action_policies`), else `allow`."""
    return "ask" if (tool.grant.get("action_policies") or {}).get(tool.target) == "ask" else "allow"


def call_action(*, principal: McpPrincipal, tool: McpTool, connection: Connection, payload: dict) -> CallOutcome:
    from apps.mcp.tools import CallOutcome, _result

    if action_policy(tool) == "ask":
        raise NotImplementedError  # wired below once the approvals seam is merged
    result = _call_action(
        tenant=principal.tenant, actor=principal.actor, connection=connection, action=tool.target, payload=payload
    )
    return CallOutcome(_result(result or {}), "ok", obj=connection, extra={"action": tool.target})
