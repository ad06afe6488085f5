"""The tools an MCP caller may use, and their execution: reads of granted connector resources, granted connector
actions (the action's input fields as the tool's JSON schema), knowledge search over granted collections, running a
configured agent, starting a configured workflow.

Names are stable and readable: `<connection-slug>__<resource or action>`, the slug made from the connection's name
([a-z0-9_-], unique in the tenant by the connection's id where two names meet, at most 64 characters in all);
`search_knowledge`, `run_agent__<agent-slug>` and `start_workflow__<config-slug>` for the rest.

Every call re-reads the caller's grants in the tenant's schema before doing anything, as an agent's tools do
(apps.agents.runtime.tools): a tool outside them is answered as an error result and nothing runs. Connector calls
go through the same services as the API and the agents' tools (`connection_read`, `connection_perform`), inside the
gateway's provider-call slots (one deadline, a bounded number in flight per tenant). Agent runs count against the
tenant's runs per day and its LLM budgets (`run_create`, `check_budget`). Each call is audited with the key or OAuth
client as actor and counted in `bizosaas_mcp_tool_calls_total{kind,outcome}`. Results are never cached.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jsonschema
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import slugify
from mcp import types
from prometheus_client import Counter

from apps.accounts import quotas
from apps.accounts.audit.services import audit_record
from apps.accounts.models import ApiKey
from apps.agents.knowledge.search import search
from apps.agents.models import Agent, AgentRun, KnowledgeCollection
from apps.agents.runs import run_create
from apps.connectors.api.slow_calls import provider_call_slots
from apps.connectors.base import Field
from apps.connectors.exceptions import ConnectorError
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from apps.connectors.services import connection_read
from apps.mcp.actions import call_action
from apps.mcp.auth import McpPrincipal
from apps.mcp.grants import grant_targets
from apps.workflows.client import TemporalUnavailable
from apps.workflows.models import WorkflowConfig
from apps.workflows.services import run_now
from bizosaas import leases

TOOL_CALLS = Counter(
    "bizosaas_mcp_tool_calls_total",
    "MCP tool calls by tool kind and outcome",
    ["kind", "outcome"],  # kind: read | action | knowledge | agent | workflow | unknown
)  # outcome: ok | error | invalid | denied | quota | busy | pending | rejected

NAME_MAX = 64
READ_LIMIT_MAX = 50
SEARCH_LIMIT_MAX = 10
RESULT_CHARS = 100_000  # what one tool result may carry as text
KNOWLEDGE_TOOL = "search_knowledge"

STRING_TYPES = ("string", "text", "secret", "url", "email", "choice")


@dataclass(frozen=True)
class McpTool:
    name: str
    kind: str  # read | action | knowledge | agent | workflow
    title: str
    description: str
    input_schema: dict
    connection_id: int | None = None
    target: str = ""  # the resource or action name
    target_ids: tuple[int, ...] = ()  # the collections searched, the agent run or the workflow started
    grant: dict = field(default_factory=dict, compare=False)

    def as_type(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            inputSchema=self.input_schema,
            annotations=types.ToolAnnotations(
                title=self.title,
                readOnlyHint=self.kind in ("read", "knowledge"),
                destructiveHint=self.kind == "action",
                idempotentHint=self.kind in ("read", "knowledge"),
                openWorldHint=self.kind in ("read", "action"),
            ),
        )


class Denied(Exception):
    """The caller's grants (as stored now) do not cover this call."""


# --- naming -----------------------------------------------------------------------------------------------------


def slug_of(name: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", slugify(name or "").lower()).strip("-_")
    return slug or fallback


def _joined(slug: str, suffix: str) -> str:
    """`slug__suffix`, the slug shortened so the whole fits NAME_MAX."""
    room = NAME_MAX - len(suffix) - 2
    return f"{slug[: max(room, 1)].rstrip('-_') or slug[:1]}__{suffix}"[:NAME_MAX]


def _unique_slugs(rows: list[tuple[int, str]], fallback: str) -> dict[int, str]:
    """id -> slug, ordered by id: where two names make the same slug the later one carries its id."""
    out: dict[int, str] = {}
    used: set[str] = set()
    for pk, name in sorted(rows):
        slug = slug_of(name, f"{fallback}-{pk}")
        if slug in used:
            slug = f"{slug[: NAME_MAX - 30]}-{pk}"
        used.add(slug)
        out[pk] = slug
    return out


# --- schemas ----------------------------------------------------------------------------------------------------


def field_schema(spec: Field) -> dict:
    if spec.type == "integer":
        schema: dict[str, Any] = {"type": "integer"}
    elif spec.type == "boolean":
        schema = {"type": "boolean"}
    else:
        schema = {"type": "string", "maxLength": spec.max_length}
        if spec.type == "choice":
            schema["enum"] = list(spec.choices)
        elif spec.type == "url":
            schema["format"] = "uri"
        elif spec.type == "email":
            schema["format"] = "email"
    schema["title"] = spec.label
    if spec.help:
        schema["description"] = spec.help
    if spec.default is not None:
        schema["default"] = spec.default
    return schema


def action_schema(fields: tuple[Field, ...]) -> dict:
    return {
        "type": "object",
        "properties": {f.name: field_schema(f) for f in fields},
        "required": [f.name for f in fields if f.required and f.default is None],
        "additionalProperties": False,
    }


def read_schema(window: str) -> dict:
    properties: dict[str, Any] = {
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": READ_LIMIT_MAX,
            "default": 10,
            "description": f"How many records, 1 to {READ_LIMIT_MAX}.",
        },
        "cursor": {"type": "string", "maxLength": 2000, "description": "The next_cursor of a previous page."},
    }
    if window:
        for name, side in (("since", "first"), ("until", "last")):
            properties[name] = {
                "type": "string",
                "format": "date",
                "description": f"The {side} day (YYYY-MM-DD, inclusive) of the window on the records' {window}.",
            }
    return {"type": "object", "properties": properties, "additionalProperties": False}


SEARCH_SCHEMA = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "What to look for."},
        "limit": {"type": "integer", "minimum": 1, "maximum": SEARCH_LIMIT_MAX, "default": 5},
    },
    "required": ["query"],
    "additionalProperties": False,
}
AGENT_SCHEMA = {
    "type": "object",
    "properties": {"input": {"type": "string", "minLength": 1, "maxLength": 20_000, "description": "The task."}},
    "required": ["input"],
    "additionalProperties": False,
}
WORKFLOW_SCHEMA = {"type": "object", "properties": {}, "additionalProperties": False}


# --- what the caller may use ------------------------------------------------------------------------------------


def current_grants(principal: McpPrincipal) -> list[dict] | None:
    """The caller's grants as stored now (an API key's are re-read, and a key revoked or expired since the
    request began has none); None means every tool of the tenant."""
    if principal.api_key is not None:
        from django.utils import timezone

        key = ApiKey.objects.filter(pk=principal.api_key.pk, revoked_at__isnull=True).first()
        if key is None or (key.expires_at is not None and key.expires_at <= timezone.now()):
            raise Denied("This API key is revoked or expired.")
        return list(key.mcp_tools or [])
    return principal.grants


def tools_for(principal: McpPrincipal) -> dict[str, McpTool]:
    """Every tool the caller may use now, by name, in the current (the caller's tenant's) schema."""
    grants = current_grants(principal)
    by_connection, others = grant_targets(grants) if grants is not None else ({}, {})
    everything = grants is None
    connections = list(Connection.objects.order_by("pk"))
    slugs = _unique_slugs([(c.pk, c.name) for c in connections], "connection")
    tools: dict[str, McpTool] = {}

    def add(tool: McpTool) -> None:
        name = tool.name
        if name in tools:  # a connection named like another tool's prefix: the later one carries a number
            base, n = name, 2
            while name in tools:
                name = f"{base[: NAME_MAX - 4]}-{n}"
                n += 1
            tool = McpTool(**{**tool.__dict__, "name": name})
        tools[name] = tool

    for connection in connections:
        spec = registry.get(connection.provider)
        grant = by_connection.get(connection.pk)
        if spec is None or (grant is None and not everything):
            continue
        resources = [r for r in spec.resources if everything or r.name in (grant or {}).get("resources", [])]
        actions = [a for a in spec.actions if everything or a.name in (grant or {}).get("actions", [])]
        slug = slugs[connection.pk]
        for resource in resources:
            add(
                McpTool(
                    name=_joined(slug, resource.name),
                    kind="read",
                    title=f"Read {resource.name} of {connection.name}",
                    description=(
                        f"Reads a page of {resource.name} from {connection.name} ({spec.name}), newest data live "
                        f"from the platform. {resource.description}".strip()
                        + (f" Filter by day with since/until (on {resource.window})." if resource.window else "")
                        + " Answers {records, next_cursor}; pass next_cursor as cursor to read further."
                    ),
                    input_schema=read_schema(resource.window),
                    connection_id=connection.pk,
                    target=resource.name,
                    grant=grant or {},
                )
            )
        for action in actions:
            add(
                McpTool(
                    name=_joined(slug, action.name),
                    kind="action",
                    title=f"{action.name} on {connection.name}",
                    description=f"{action.description} On {connection.name} ({spec.name}); this writes to it.",
                    input_schema=action_schema(action.input),
                    connection_id=connection.pk,
                    target=action.name,
                    grant=grant or {},
                )
            )
    collections = KnowledgeCollection.objects.order_by("pk")
    if not everything:
        collections = collections.filter(pk__in=others.get("collections", set()))
    collection_rows = list(collections.values_list("pk", "name"))
    if collection_rows:
        add(
            McpTool(
                name=KNOWLEDGE_TOOL,
                kind="knowledge",
                title="Search the knowledge base",
                description="Searches the documents of these knowledge collections and answers passages with "
                "their document and page: " + ", ".join(name for _pk, name in collection_rows) + ".",
                input_schema=SEARCH_SCHEMA,
                target_ids=tuple(pk for pk, _name in collection_rows),
            )
        )
    agents = Agent.objects.order_by("pk")
    if not everything:
        agents = agents.filter(pk__in=others.get("agents", set()))
    agent_list = list(agents)
    agent_slugs = _unique_slugs([(a.pk, a.name) for a in agent_list], "agent")
    for agent in agent_list:
        add(
            McpTool(
                name=_joined("run_agent", agent_slugs[agent.pk]),
                kind="agent",
                title=f"Run the agent {agent.name}",
                description=f"Runs the agent {agent.name} ({agent.role}: {agent.goal[:300]}) on a task. Answers the "
                "run's id and status, and its output when it finishes within a few seconds.",
                input_schema=AGENT_SCHEMA,
                target_ids=(agent.pk,),
            )
        )
    configs = WorkflowConfig.objects.order_by("pk")
    if not everything:
        configs = configs.filter(pk__in=others.get("workflows", set()))
    config_list = list(configs)
    config_slugs = _unique_slugs([(c.pk, c.name) for c in config_list], "workflow")
    for config in config_list:
        add(
            McpTool(
                name=_joined("start_workflow", config_slugs[config.pk]),
                kind="workflow",
                title=f"Start the workflow {config.name}",
                description=f"Starts the configured workflow {config.name} ({config.template}) now, with its saved "
                "parameters. Answers the run's id and status; the workflow runs on in the background.",
                input_schema=WORKFLOW_SCHEMA,
                target_ids=(config.pk,),
            )
        )
    if principal.allowed_tools is not None:
        tools = {name: tool for name, tool in tools.items() if name in principal.allowed_tools}
    return tools


# --- calling ----------------------------------------------------------------------------------------------------


def wait_slot(schema: str, seconds: float) -> tuple[ExitStack, float]:
    """(a stack to close when done, how long this call may wait): `seconds` while the tenant has fewer than
    MCP_WAITS_PER_TENANT calls waiting (for an approval or an agent run) across every gateway process, else 0,
    so one tenant's waiting calls cannot hold the gateway's threads."""
    stack = ExitStack()
    try:
        stack.enter_context(leases.hold(f"mcp-waits:{schema}", limit=settings.MCP_WAITS_PER_TENANT, lease=seconds + 15))
    except leases.Busy:
        return stack, 0.0
    return stack, seconds


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= RESULT_CHARS else text[: RESULT_CHARS - 1] + "…"


def _result(value: Any, *, is_error: bool = False) -> types.CallToolResult:
    structured = value if isinstance(value, dict) and not is_error else None
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=_text(value))], structuredContent=structured, isError=is_error
    )


def _invalid(tool: McpTool, arguments: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    validator = jsonschema.Draft202012Validator(tool.input_schema, format_checker=jsonschema.FormatChecker())
    for error in validator.iter_errors(arguments):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "additionalProperties":
            for name in sorted(set(arguments) - set(tool.input_schema.get("properties", {}))):
                errors.setdefault(name, []).append("Unknown field.")
            continue
        if error.validator == "required":
            missing = [n for n in tool.input_schema.get("required", []) if n not in arguments]
            for name in missing:
                errors.setdefault(name, []).append("This field is required.")
            continue
        errors.setdefault(path or "arguments", []).append(error.message)
    return dict(sorted(errors.items()))


def _field_text(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())


@dataclass
class CallOutcome:
    result: types.CallToolResult
    outcome: str
    obj: Any = None
    extra: dict = field(default_factory=dict)


def call_tool(principal: McpPrincipal, name: str, arguments: dict | None) -> types.CallToolResult:
    """Runs one tool call for `principal`, in its tenant's schema (the caller has entered it). Never raises for
    what the caller did: refusals and failures come back as error results the model can read."""
    started = time.monotonic()
    arguments = dict(arguments or {})
    kind = "unknown"
    try:
        tool = tools_for(principal).get(name)
        if tool is None:
            raise Denied(f"There is no tool {name!r} you may use. tools/list shows yours.")
        kind = tool.kind
        errors = _invalid(tool, arguments)
        if errors:
            done = CallOutcome(_result(f"Invalid arguments. {_field_text(errors)}", is_error=True), "invalid")
        else:
            done = RUNNERS[tool.kind](principal, tool, arguments)
    except Denied as exc:
        done = CallOutcome(_result(f"Permission denied. {exc} Nothing was executed.", is_error=True), "denied")
    except quotas.QuotaExceeded as exc:
        done = CallOutcome(_result(exc.detail, is_error=True), "quota")
    except ValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"arguments": exc.messages}
        done = CallOutcome(_result(f"Invalid input. {_field_text(detail)}", is_error=True), "invalid")
    except ConnectorError as exc:
        outcome = "busy" if getattr(exc, "status_code", None) == 429 else "error"
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        done = CallOutcome(_result(f"Error: {message}", is_error=True), outcome)
    TOOL_CALLS.labels(kind=kind, outcome=done.outcome).inc()
    audit_record(
        tenant=principal.tenant,
        actor=principal.actor,
        action="mcp.tool_call",
        obj=done.obj,
        changes={
            "tool": name[: NAME_MAX * 2],
            "kind": kind,
            "outcome": done.outcome,
            "arguments": sorted(str(key)[:64] for key in arguments)[:50],  # names only: values may be personal data
            "duration_ms": int((time.monotonic() - started) * 1000),
            **done.extra,
        },
    )
    return done.result


def _connection(tool: McpTool) -> Connection:
    connection = Connection.objects.filter(pk=tool.connection_id).first()  # type: ignore[misc]
    if connection is None:
        raise Denied("This connection no longer exists.")
    return connection


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _run_read(principal: McpPrincipal, tool: McpTool, arguments: dict) -> CallOutcome:
    connection = _connection(tool)
    try:
        since, until = _day(arguments.get("since")), _day(arguments.get("until"))
    except ValueError:
        raise ValidationError({"since": ["A day as YYYY-MM-DD."]}) from None
    with provider_call_slots(principal.schema):
        page, cached = connection_read(
            connection=connection,
            resource=tool.target,
            cursor=arguments.get("cursor") or None,
            limit=int(arguments.get("limit") or 10),
            tenant=principal.tenant,
            since=since,
            until=until,
        )
    body = {"records": [record.data for record in page.records], "next_cursor": page.next_cursor}
    return CallOutcome(_result(body), "ok", obj=connection, extra={"records": len(page.records), "cached": cached})


def _run_action(principal: McpPrincipal, tool: McpTool, arguments: dict) -> CallOutcome:
    connection = _connection(tool)
    return call_action(principal=principal, tool=tool, connection=connection, payload=arguments)


def _run_knowledge(principal: McpPrincipal, tool: McpTool, arguments: dict) -> CallOutcome:
    hits = search(arguments["query"], collection_ids=list(tool.target_ids), limit=int(arguments.get("limit") or 5))
    body = {
        "results": [
            {"document": h.document_title, "document_id": h.document_id, "page": h.page, "excerpt": h.excerpt}
            for h in hits
        ]
    }
    return CallOutcome(_result(body), "ok", extra={"results": len(hits)})


def _run_agent(principal: McpPrincipal, tool: McpTool, arguments: dict) -> CallOutcome:
    agent = Agent.objects.select_related("provider").filter(pk=tool.target_ids[0]).first()
    if agent is None:
        raise Denied("This agent no longer exists.")
    quotas.check_budget(principal.tenant)
    run = run_create(
        tenant=principal.tenant, actor=principal.actor, agent=agent, input=arguments["input"], source="mcp"
    )
    deadline = time.monotonic() + settings.MCP_AGENT_WAIT_SECONDS
    finished = {AgentRun.Status.SUCCEEDED, AgentRun.Status.FAILED, AgentRun.Status.CANCELLED}
    while run.status not in finished and time.monotonic() < deadline:
        time.sleep(0.25)
        run.refresh_from_db(fields=["status", "output", "error"])
    body = {"run_id": run.pk, "status": run.status, "output": run.output, "error": run.error}
    if run.status not in finished:
        body["note"] = "Still running: its result is at GET /api/v1/runs/{run_id}/ and in the portal."
    failed = run.status == AgentRun.Status.FAILED
    return CallOutcome(_result(body, is_error=failed), "error" if failed else "ok", obj=run)


def _run_workflow(principal: McpPrincipal, tool: McpTool, arguments: dict) -> CallOutcome:
    config = WorkflowConfig.objects.filter(pk=tool.target_ids[0]).first()
    if config is None:
        raise Denied("This workflow configuration no longer exists.")
    try:
        run = run_now(tenant=principal.tenant, actor=principal.actor, config=config, trigger="api")
    except TemporalUnavailable:
        return CallOutcome(
            _result("Error: the workflow engine is unavailable; try again shortly.", is_error=True), "error"
        )
    body = {"run_id": run.pk, "workflow_id": run.workflow_id, "status": run.status}
    return CallOutcome(_result(body), "ok", obj=run)


RUNNERS: dict[str, Callable[[McpPrincipal, McpTool, dict], CallOutcome]] = {
    "read": _run_read,
    "action": _run_action,
    "knowledge": _run_knowledge,
    "agent": _run_agent,
    "workflow": _run_workflow,
}
