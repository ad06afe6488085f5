"""An API key's MCP tools, written as grants the way an agent's are: `{connection, resources, actions}` per
connection (each name one its connector offers), plus `collections`, `agents` and `workflows` (ids of this tenant's
knowledge collections, agents and workflow configurations). `action_policies` ({action: "allow" | "ask"}, as on an
agent's grant) marks granted actions that wait for a person's approval before they run.

`mcp_tools_clean` is the validator behind the API keys API (errors carry paths such as `mcp_tools.0.actions.1`);
the stored form is normalised: one entry per connection, then one `{collections, agents, workflows}` entry.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from apps.agents.models import Agent, KnowledgeCollection
from apps.connectors import capabilities
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from apps.workflows.models import WorkflowConfig

CONNECTION_FIELDS = ("resources", "actions", "action_policies")
POLICIES = ("allow", "ask")
TARGET_FIELDS = ("collections", "agents", "workflows")
FIELDS = frozenset({"connection", *CONNECTION_FIELDS, *TARGET_FIELDS})
MAX_GRANTS = 200


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**63


def _targets() -> dict[str, dict[int, Any]]:
    return {
        "collections": {c.pk: c for c in KnowledgeCollection.objects.all()},
        "agents": {a.pk: a for a in Agent.objects.all()},
        "workflows": {w.pk: w for w in WorkflowConfig.objects.all()},
    }


def mcp_tools_clean(tenant, value: Any) -> list[dict]:
    """Validates grants against the current schema's connections, collections, agents and workflows."""
    if not isinstance(value, list):
        raise ValidationError({"mcp_tools": ["A list of grants."]})
    if len(value) > MAX_GRANTS:
        raise ValidationError({"mcp_tools": [f"At most {MAX_GRANTS} grants."]})
    errors: dict[str, list[str]] = {}
    ids = [g.get("connection") for g in value if isinstance(g, dict) and _is_id(g.get("connection"))]
    connections = {c.pk: c for c in Connection.objects.filter(pk__in=ids)}  # type: ignore[misc]
    targets = _targets() if any(isinstance(g, dict) and set(g) & set(TARGET_FIELDS) for g in value) else {}
    chosen_targets: dict[str, list[int]] = {name: [] for name in TARGET_FIELDS}
    rows: list[dict] = []
    seen: set[int] = set()
    for index, grant in enumerate(value):
        path = f"mcp_tools.{index}"
        if not isinstance(grant, dict):
            errors[path] = ["Must be an object: {connection, resources, actions} or {collections, agents, workflows}."]
            continue
        for name in sorted(set(grant) - FIELDS):
            errors[f"{path}.{name}"] = ["Unknown field."]
        for kind in TARGET_FIELDS:
            if kind not in grant:
                continue
            items = grant[kind]
            if not isinstance(items, list) or not all(_is_id(i) for i in items):
                errors[f"{path}.{kind}"] = ["A list of ids."]
                continue
            for position, item in enumerate(items):
                if item not in targets[kind]:
                    errors[f"{path}.{kind}.{position}"] = [f"No such {kind[:-1]} in this tenant."]
                elif item not in chosen_targets[kind]:
                    chosen_targets[kind].append(item)
        if "connection" not in grant:
            for kind in CONNECTION_FIELDS:
                if kind in grant:
                    errors[f"{path}.connection"] = ["Which connection these resources and actions are of."]
            continue
        raw = grant.get("connection")
        connection = connections.get(raw) if _is_id(raw) else None  # type: ignore[arg-type]
        if connection is None:
            errors[f"{path}.connection"] = ["No such connection in this tenant."]
            continue
        if connection.pk in seen:
            errors[f"{path}.connection"] = ["This connection is listed twice."]
            continue
        seen.add(connection.pk)
        spec = registry.get(connection.provider)
        if spec is None:
            errors[f"{path}.connection"] = [f"The connector {connection.provider!r} is no longer available."]
            continue
        chosen: dict[str, list[str]] = {}
        for kind, offered in (("resources", spec.resources), ("actions", spec.actions)):
            names = grant.get(kind) or []
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                errors[f"{path}.{kind}"] = ["A list of names."]
                continue
            available = [item.name for item in offered]
            for position, name in enumerate(names):
                if name not in available:
                    errors[f"{path}.{kind}.{position}"] = [capabilities.not_offered(spec, kind[:-1], name)]
            chosen[kind] = [name for name in dict.fromkeys(names) if name in available]
        policies = grant.get("action_policies") or {}
        if not isinstance(policies, dict):
            errors[f"{path}.action_policies"] = ['An object: {action: "allow" or "ask"}.']
            policies = {}
        for name, policy in policies.items():
            if name not in (grant.get("actions") or []):
                errors[f"{path}.action_policies.{name}"] = [f"{name!r} is not among this grant's actions."]
            elif policy not in POLICIES:
                errors[f"{path}.action_policies.{name}"] = ['"allow" or "ask".']
        if chosen.get("resources") or chosen.get("actions"):
            row: dict[str, Any] = {
                "connection": connection.pk,
                "resources": chosen["resources"],
                "actions": chosen["actions"],
            }
            asked = {name: "ask" for name, policy in sorted(policies.items()) if policy == "ask"}
            if asked:
                row["action_policies"] = asked
            rows.append(row)
    if errors:
        raise ValidationError(errors)
    rows.sort(key=lambda row: row["connection"])
    if any(chosen_targets.values()):
        rows.append({name: sorted(ids) for name, ids in chosen_targets.items()})
    return rows


def grant_targets(grants: list[dict]) -> tuple[dict[int, dict], dict[str, set[int]]]:
    """(connection id -> its grant, {collections|agents|workflows: ids}) of stored grants."""
    by_connection: dict[int, dict] = {}
    others: dict[str, set[int]] = {name: set() for name in TARGET_FIELDS}
    for grant in grants or []:
        if not isinstance(grant, dict):
            continue
        if _is_id(grant.get("connection")):
            by_connection[grant["connection"]] = grant
        for name in TARGET_FIELDS:
            others[name].update(i for i in grant.get(name) or [] if _is_id(i))
    return by_connection, others
