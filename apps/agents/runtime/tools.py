"""Our CrewAI tools: read a connector resource, perform a connector action, search the knowledge base.

The prompt only tells the model what it was given; it is no security boundary. Every call therefore re-reads the
agent's grants in the run's tenant schema, at call time, before doing anything: a call outside them is recorded
as a `tool_denied` step and answered with an error the model can read, and nothing is executed. Tools never raise
(CrewAI re-invokes a tool whose run raised, which would repeat an action); failures come back as error text.

An action whose grant says `ask` (apps.agents.approvals.action_policy) is not executed: an approval is recorded
with the proposed input and the model's reason, and the run pauses (RunContext.pause); it goes on in a fresh worker
once a person decides (runner.execute_run resumes it).
"""

from __future__ import annotations

import json
from typing import Any

from crewai.tools import BaseTool
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context
from pydantic import BaseModel, Field, PrivateAttr

from apps.accounts.audit.services import Actor
from apps.agents.approvals import ASK, action_policy, approval_request
from apps.agents.models import Agent, AgentRun, RunStep, ToolGrant
from apps.agents.runtime import RunClosed, RunContext, truncate
from apps.connectors.registry import registry
from apps.connectors.services import connection_perform, connection_read

MODEL_RESULT_CHARS = 12_000  # what the model sees of one tool result
READ_LIMIT_MAX = 50

READ_TOOL = "read_connector_resource"
ACTION_TOOL = "perform_connector_action"
SEARCH_TOOL = "search_knowledge"


class Denied(Exception):
    """The agent's grants (as stored now) do not cover this call."""


def _never_cache(_arguments: Any, _result: Any) -> bool:
    return False  # a cached result would skip the call-time grant check


class AgentTool(BaseTool):
    cache_function: Any = _never_cache
    _ctx: Any = PrivateAttr(default=None)

    def bind(self, ctx: RunContext) -> AgentTool:
        self._ctx = ctx
        return self

    def _run(self, **arguments: Any) -> str:
        ctx: RunContext = self._ctx
        if arguments.get("reason", "") is None:
            arguments.pop("reason")  # not stated: nothing to record
        try:
            text = ctx.call(self._guarded, arguments)
            if ctx.paused is None:
                ctx.transcript.append({"role": "observation", "content": text})
            return text
        except RunClosed as exc:
            return f"Error: {exc} Stop and give your final answer."
        except Exception as exc:  # an unexpected failure still reaches the model as text, never as a re-run
            return f"Error: {type(exc).__name__}: {exc}"

    def _guarded(self, arguments: dict, *, approved: bool = False) -> str:
        """On the run's thread, in the run's schema: check the grant, then execute, recording the outcome. An
        `approved` call (a person decided it) is executed without asking again; the grant is still checked."""
        ctx: RunContext = self._ctx

        with schema_context(ctx.schema):
            try:
                target = self.authorise(arguments)
            except Denied as exc:
                ctx.step(RunStep.Kind.TOOL_DENIED, tool=self.name, arguments=arguments, summary=str(exc))
                return f"Error: permission denied. {exc} This call was not executed."
            if not approved and self.asks(target, arguments):
                return self.ask(target, arguments)
            try:
                result = self.execute(target, arguments)
            except ValidationError as exc:
                message = "; ".join(f"{key}: {' '.join(value)}" for key, value in exc.message_dict.items())
                ctx.step(RunStep.Kind.TOOL_ERROR, tool=self.name, arguments=arguments, summary=message)
                return f"Error: invalid input. {message}"
            except Exception as exc:
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                ctx.step(RunStep.Kind.TOOL_ERROR, tool=self.name, arguments=arguments, summary=message)
                return f"Error: {message}"
            text = result if isinstance(result, str) else json.dumps(result, default=str, ensure_ascii=False)
            ctx.step(RunStep.Kind.TOOL_CALL, tool=self.name, arguments=arguments, summary=truncate(text))
            return truncate(text, MODEL_RESULT_CHARS)

    def authorise(self, arguments: dict) -> Any:
        raise NotImplementedError

    def asks(self, target: Any, arguments: dict) -> bool:
        return False

    def ask(self, target: Any, arguments: dict) -> str:
        raise NotImplementedError

    def execute(self, target: Any, arguments: dict) -> Any:
        raise NotImplementedError


def _grant_for(ctx: RunContext, connection_id: Any):
    if not Agent.objects.filter(pk=ctx.agent_id, enabled=True).exists():
        raise Denied("This agent is disabled.")
    if isinstance(connection_id, bool) or not isinstance(connection_id, int):
        raise Denied(f"Connection {connection_id!r} is not an id of a connection granted to you.")
    grant = (
        ToolGrant.objects.select_related("connection")
        .filter(agent_id=ctx.agent_id, connection_id=connection_id)
        .first()
    )
    if grant is None:
        raise Denied(f"You have no access to connection {connection_id}.")
    return grant


class ReadArgs(BaseModel):
    connection: int = Field(description="The id of a connection granted to you.")
    resource: str = Field(description="The resource to read, one granted on that connection.")
    limit: int = Field(default=10, description=f"How many records, 1 to {READ_LIMIT_MAX}.")
    cursor: str | None = Field(default=None, description="The next_cursor of a previous page, to read further.")


class ReadResourceTool(AgentTool):
    name: str = READ_TOOL
    description: str = "Reads records (a page) of a resource of a connected platform."
    args_schema: type[BaseModel] = ReadArgs

    def authorise(self, arguments: dict):
        grant = _grant_for(self._ctx, arguments.get("connection"))
        resource = arguments.get("resource")
        if resource not in (grant.resources or []):
            raise Denied(f"You may not read {resource!r} on connection {grant.connection_id}.")
        return grant

    def execute(self, grant, arguments: dict):
        limit = max(1, min(int(arguments.get("limit") or 10), READ_LIMIT_MAX))
        page, _cached = connection_read(
            connection=grant.connection,
            resource=arguments["resource"],
            cursor=arguments.get("cursor") or None,
            limit=limit,
            tenant=self._ctx.tenant,
        )
        return {"records": [record.data for record in page.records], "next_cursor": page.next_cursor}


class ActionArgs(BaseModel):
    connection: int = Field(description="The id of a connection granted to you.")
    action: str = Field(description="The action to perform, one granted on that connection.")
    input: dict[str, Any] = Field(default_factory=dict, description="The action's input fields.")
    reason: str | None = Field(
        default=None, description="Why you perform this action (shown to a person asked to approve it)."
    )


class PerformActionTool(AgentTool):
    name: str = ACTION_TOOL
    description: str = "Performs an action (a write) on a connected platform."
    args_schema: type[BaseModel] = ActionArgs

    def authorise(self, arguments: dict):
        grant = _grant_for(self._ctx, arguments.get("connection"))
        action = arguments.get("action")
        if action not in (grant.actions or []):
            raise Denied(f"You may not perform {action!r} on connection {grant.connection_id}.")
        return grant

    def asks(self, grant, arguments: dict) -> bool:
        return action_policy(grant=grant, action=arguments["action"], started_by_rule=self._ctx.started_by_rule) == ASK

    def ask(self, grant, arguments: dict) -> str:
        """Records the approval and pauses the run; nothing is sent to the provider."""
        ctx: RunContext = self._ctx
        run = AgentRun.objects.select_related("agent").get(pk=ctx.run_id)
        proposed = arguments.get("input") or {}
        approval = approval_request(
            tenant=ctx.tenant,
            connection=grant.connection,
            action=arguments["action"],
            proposed_input=proposed if isinstance(proposed, dict) else {},
            reason=str(arguments.get("reason") or "").strip() or ctx.last_thought(),
            source="agent_run",
            agent=run.agent,
            run=run,
        )
        ctx.step(
            RunStep.Kind.APPROVAL,
            tool=self.name,
            arguments=arguments,
            summary=f"Waiting for approval {approval.pk} of {arguments['action']} (nothing was performed yet).",
        )
        ctx.pause({"approval": str(approval.pk), "tool": self.name, "arguments": arguments})
        return "This action needs a person's approval; the run pauses until they decide."

    def execute(self, grant, arguments: dict):
        return connection_perform(
            tenant=self._ctx.tenant,
            actor=Actor.system(f"agent {self._ctx.agent_id}"),
            connection=grant.connection,
            action=arguments["action"],
            payload=arguments.get("input") or {},
        )


class SearchArgs(BaseModel):
    query: str = Field(description="What to look for, in plain words.")


class SearchKnowledgeTool(AgentTool):
    name: str = SEARCH_TOOL
    description: str = "Searches the documents of your knowledge base; answers with passages and their citations."
    args_schema: type[BaseModel] = SearchArgs

    def authorise(self, arguments: dict) -> list[int]:
        agent = Agent.objects.filter(pk=self._ctx.agent_id, enabled=True).first()
        if agent is None:
            raise Denied("This agent is disabled.")
        collection_ids = list(agent.collections.values_list("pk", flat=True))
        if not collection_ids:
            raise Denied("You have no knowledge collections.")
        return collection_ids

    def execute(self, collection_ids: list[int], arguments: dict):
        try:
            # guarded: without the knowledge search module the tool answers that search is unavailable
            from apps.agents.knowledge.search import search
        except ImportError:
            raise RuntimeError("Knowledge search is not available.") from None
        hits = search(str(arguments.get("query") or ""), collection_ids=collection_ids, limit=5)
        if not hits:
            return "No passage matches."
        out = []
        for hit in hits:
            get = hit.get if isinstance(hit, dict) else lambda name, h=hit: getattr(h, name, None)
            page = get("page")
            out.append(
                {
                    "document": get("document_title"),
                    "page": page,
                    "excerpt": get("excerpt"),
                }
            )
        return out


def _describe_grants(ctx: RunContext) -> tuple[str, bool, bool]:
    """What the agent was given, for the tools' descriptions (the grants are checked again at each call)."""
    lines, any_reads, any_actions = [], False, False
    for grant in ToolGrant.objects.select_related("connection").filter(agent_id=ctx.agent_id).order_by("connection"):
        spec = registry.get(grant.connection.provider)
        if spec is None:
            continue
        parts = []
        if grant.resources:
            any_reads = True
            parts.append("read: " + ", ".join(grant.resources))
        if grant.actions:
            any_actions = True
            described = []
            for name in grant.actions:
                action = spec.action(name)
                fields = ", ".join(f.name + ("" if f.required else "?") for f in action.input) if action else ""
                described.append(f"{name}({fields})")
            parts.append("actions: " + ", ".join(described))
        lines.append(f"- connection {grant.connection_id}: {grant.connection.name} ({spec.name}); " + "; ".join(parts))
    return "\n".join(lines), any_reads, any_actions


def build_tools(ctx: RunContext) -> list[AgentTool]:
    """The tools of this run's agent, from its grants as stored now. Runs on the run's thread."""
    with schema_context(ctx.schema):
        granted, any_reads, any_actions = _describe_grants(ctx)
        has_knowledge = Agent.objects.get(pk=ctx.agent_id).collections.exists()
    tools: list[AgentTool] = []
    suffix = f"\nConnections granted to you:\n{granted}" if granted else ""
    if any_reads:
        tools.append(
            ReadResourceTool(description=ReadResourceTool.model_fields["description"].default + suffix).bind(ctx)
        )
    if any_actions:
        tools.append(
            PerformActionTool(
                description=PerformActionTool.model_fields["description"].default
                + " Optional input fields are marked ?."
                + suffix
            ).bind(ctx)
        )
    if has_knowledge:
        tools.append(SearchKnowledgeTool().bind(ctx))
    return tools
