"""Connector actions called over MCP: the grant's policy for the action (`allow`, or `ask`: a person approves
first, through apps.agents.approvals), then `_call_action`, the one place MCP executes an action.

An `ask` call records an approval (source "mcp") with the proposed input and waits up to MCP_APPROVAL_WAIT_SECONDS
for a decision. Approved within the wait: the approver's request performed the action through the executor
registered here (which calls `_call_action`) and the call answers its result. Not decided yet: the call answers the
approval's id and state (not an error); the action is performed when someone approves, and its result is kept on
the approval.
"""

from __future__ import annotations

import re
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

from django.conf import settings

from apps.accounts.audit.services import Actor
from apps.accounts.models import ApiKey, Tenant
from apps.agents.approvals import action_policy as policy
from apps.agents.approvals import approval_request, approval_wait, clean_input
from apps.agents.models import AgentApproval
from apps.connectors.api.slow_calls import provider_call_slots
from apps.connectors.models import Connection
from apps.connectors.services import connection_perform
from bizosaas.tenancy import current_schema

if TYPE_CHECKING:
    from apps.agents.models import AgentApproval
    from apps.mcp.auth import McpPrincipal
    from apps.mcp.tools import CallOutcome, McpTool

_KEY_LABEL = re.compile(r"\(bzs_([0-9a-f]+)\)$")


def _call_action(*, tenant: Tenant, actor: Actor, connection: Connection, action: str, payload: dict) -> dict:
    """Performs the action now (validated against its input schema, audited as `connection.action`), inside the
    gateway's provider-call slots. Everything in MCP that executes an action comes through here."""
    with provider_call_slots(tenant.schema_name):
        return connection_perform(tenant=tenant, actor=actor, connection=connection, action=action, payload=payload)


def action_policy(tool: McpTool) -> str:
    """The approvals' rule for this grant: `ask` where `action_policies` says so (an MCP call is never a
    rule-started run), else `allow`."""
    grant = SimpleNamespace(action_policies=tool.grant.get("action_policies") or {}, allow_unattended_from_rules=True)
    return policy(grant=grant, action=tool.target, started_by_rule=False)  # type: ignore[arg-type]


def _performing(approval: AgentApproval) -> bool:
    return approval.status == "approved" and approval.result is None and not approval.error


def _approval_body(approval: AgentApproval) -> dict:
    return {"approval_id": str(approval.pk), "status": approval.status, "action": approval.action}


def call_action(*, principal: McpPrincipal, tool: McpTool, connection: Connection, payload: dict) -> CallOutcome:
    from apps.mcp.tools import CallOutcome, _result, wait_slot  # that module imports this one, and the MCP SDK

    if action_policy(tool) != "ask":
        result = _call_action(
            tenant=principal.tenant, actor=principal.actor, connection=connection, action=tool.target, payload=payload
        )
        return CallOutcome(_result(result or {}), "ok", obj=connection, extra={"action": tool.target})
    clean_input(connection=connection, action=tool.target, value=payload)  # never ask a person about invalid input
    approval = approval_request(
        tenant=principal.tenant,
        connection=connection,
        action=tool.target,
        proposed_input=payload,
        reason=f"Called over MCP as the tool {tool.name}.",
        source=AgentApproval.Source.MCP,
        actor_label=principal.actor_label,
        requested_by_user_id=principal.user_id,
    )
    stack, seconds = wait_slot(principal.schema, settings.MCP_APPROVAL_WAIT_SECONDS)
    with stack:
        ends = time.monotonic() + seconds
        decided = approval_wait(approval_id=approval.pk, timeout=seconds)
        # approving commits the decision first and then performs the action: wait on for its result (a dict)
        while _performing(decided) and time.monotonic() < ends:
            time.sleep(0.05)
            decided.refresh_from_db()
    body = _approval_body(decided)
    extra = {"action": tool.target, "approval": str(decided.pk), "approval_status": decided.status}
    if decided.status == AgentApproval.Status.PENDING:
        body["message"] = (
            f"Waiting for approval: a person must approve {tool.target} on {connection.name} in the portal's "
            f"approvals inbox. Nothing has been done yet; when approved it is performed and its result kept on "
            f"approval {decided.pk}."
        )
        return CallOutcome(_result(body), "pending", obj=connection, extra=extra)
    if decided.status == AgentApproval.Status.APPROVED:
        if _performing(decided):
            body["message"] = (
                f"Approved; {tool.target} is being performed. Its result is kept on approval {decided.pk}."
            )
            return CallOutcome(_result(body), "pending", obj=connection, extra=extra)
        if decided.error:
            body["error"] = decided.error
            return CallOutcome(_result(body, is_error=True), "error", obj=connection, extra=extra)
        body["result"] = decided.result
        body["input"] = decided.final_input
        return CallOutcome(_result(body), "ok", obj=connection, extra=extra)
    if decided.status == AgentApproval.Status.REJECTED:
        body["message"] = f"Rejected by a person; nothing was done. {decided.comment}".strip()
        return CallOutcome(_result(body, is_error=True), "rejected", obj=connection, extra=extra)
    body["message"] = "The approval expired before anyone decided; nothing was done."
    return CallOutcome(_result(body, is_error=True), "rejected", obj=connection, extra=extra)


def _caller(label: str) -> Actor:
    """The MCP caller an approval was requested by, from its label (`<key name> (bzs_<prefix>)` for API keys)."""
    match = _KEY_LABEL.search(label or "")
    key = ApiKey.objects.filter(prefix=match.group(1)).first() if match else None
    if key is not None:
        return Actor("api_key", str(key.pk), label)
    return Actor("oauth_client", "", label)


def execute_approved(approval: AgentApproval) -> dict:
    """The approvals' executor for source "mcp": performs the approved action with its final input, in the
    approver's request (the tenant's schema), as the MCP caller that asked."""
    tenant = Tenant.objects.get(schema_name=current_schema())
    result = _call_action(
        tenant=tenant,
        actor=_caller(approval.actor_label),
        connection=approval.connection,
        action=approval.action,
        payload=approval.final_input or {},
    )
    return result or {}  # a dict, so the waiting call can tell "performed" from "not yet"
