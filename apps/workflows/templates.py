"""Workflow templates: code-defined durable workflows that tenants only configure. Each declares its parameters;
`clean_parameters` checks a configuration against them in the caller's tenant schema (connections and agents
must be the tenant's, and offer the resource or action named)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from apps.agents.models import Agent
from apps.connectors import capabilities
from apps.connectors.models import Connection
from apps.connectors.registry import registry

PARAM_TYPES = ("string", "text", "integer", "boolean", "connection", "resource", "action", "agent", "mapping")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    label: str
    required: bool = True
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    of: str = ""  # resource/action/mapping: the connection parameter they belong to
    help: str = ""

    def describe(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "required": self.required,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "of": self.of or None,
            "help": self.help,
        }


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    workflow: str  # the Temporal workflow type
    params: tuple[Param, ...]
    internal: bool = False  # started by the platform itself, never configured by a tenant

    def describe(self) -> dict:
        return {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "parameters": [p.describe() for p in self.params],
        }


TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        Template(
            "connector_report",
            "Connector report",
            "Read a resource from a source connection over a date window, have an agent analyse it, then publish "
            "the result through a destination action (e.g. a WordPress draft), optionally after human approval.",
            "workflows.connector_report",
            (
                Param("source_connection", "connection", "Source connection"),
                Param("source_resource", "resource", "Resource to read", of="source_connection"),
                Param(
                    "window_days",
                    "integer",
                    "Report period (days)",
                    default=7,
                    minimum=0,
                    maximum=90,
                    help="Only records dated from this many days before the run's day (in the schedule's time zone) "
                    "to that day are read; 0 reads without a date filter. A period needs a resource that can be "
                    "filtered by date (its connector lists a date field for it)",
                ),
                Param("max_records", "integer", "At most this many records", default=200, minimum=1, maximum=2000),
                Param("agent", "agent", "Analysing agent"),
                Param("instructions", "text", "Instructions for the agent", help="What to look for and write"),
                Param("destination_connection", "connection", "Destination connection"),
                Param("destination_action", "action", "Publishing action", of="destination_connection"),
                Param(
                    "destination_input",
                    "mapping",
                    "Action input",
                    of="destination_action",
                    help='Per input field {"path": "output"} (the agent\'s text), {"path": "title"} or {"value": …}',
                ),
                Param("require_approval", "boolean", "Ask for approval before publishing", default=False),
                Param(
                    "approval_timeout_hours",
                    "integer",
                    "Approval expires after (hours)",
                    default=48,
                    minimum=1,
                    maximum=336,
                ),
            ),
        ),
        Template(
            "connection_sync",
            "Connection sync",
            "Page through a resource with checkpoints, detect records created or updated since the last run (only "
            "ids and digests are kept) and emit events that automation rules and subscriptions see.",
            "workflows.connection_sync",
            (
                Param("connection", "connection", "Connection"),
                Param("resource", "resource", "Resource", of="connection"),
                Param("page_size", "integer", "Page size", default=100, minimum=1, maximum=500),
                Param("max_pages", "integer", "At most this many pages per run", default=50, minimum=1, maximum=1000),
            ),
        ),
        Template(
            "rule_actions",
            "Rule actions",
            "The actions of a durable automation rule, run in order with retries.",
            "workflows.rule_actions",
            (Param("rule_run_id", "integer", "Rule run"),),
            internal=True,
        ),
        Template(
            "agent_run",
            "Agent run",
            "Run an agent durably with a fixed instruction (long runs, schedules).",
            "workflows.agent_run",
            (
                Param("agent", "agent", "Agent"),
                Param("input", "text", "What the agent should do"),
            ),
        ),
    )
}


MAPPING_ROOTS = ("output", "title", "records")  # what a publishing step can take its input from
WINDOW_PARAMS = {"connector_report": "window_days"}  # the date-window parameter of templates that have one


def _mapping_problems(mapping: Any) -> dict[str, list[str]]:
    """{"<input field>": {"path": "output" | "title" | "records"} | {"value": <constant>}}."""
    if not isinstance(mapping, dict):
        return {"": ['An object of input field -> {"path": "output"} or {"value": …}.']}
    problems = {}
    for name, source in mapping.items():
        if not isinstance(source, dict) or len(source) != 1 or not ({"path", "value"} & set(source)):
            problems[name] = ['Either {"path": "output"} or {"value": …}.']
        elif "path" in source and source["path"] not in MAPPING_ROOTS:
            problems[name] = [f"The path is one of: {', '.join(MAPPING_ROOTS)}."]
    return problems


def describe_all() -> list[dict]:
    return [template.describe() for template in TEMPLATES.values() if not template.internal]


def clean_parameters(template_key: str, values: Any) -> dict:
    """The parameters with defaults applied, or ValidationError keyed `parameters.<name>` (`template` when the
    template is unknown)."""
    template = TEMPLATES.get(template_key)
    if template is None or template.internal:
        offered = ", ".join(key for key, t in TEMPLATES.items() if not t.internal)
        raise ValidationError({"template": [f"One of: {offered}."]})
    if not isinstance(values, dict):
        raise ValidationError({"parameters": ["Must be an object."]})
    errors: dict[str, list[str]] = {}
    known = {p.name for p in template.params}
    for name in sorted(set(values) - known):
        errors[f"parameters.{name}"] = ["Unknown parameter."]
    cleaned: dict[str, Any] = {}
    connections: dict[str, Any] = {}
    for param in template.params:
        key = f"parameters.{param.name}"
        value = values.get(param.name, param.default)
        if value is None or value == "":
            if param.required and param.default is None:
                errors[key] = ["This field is required."]
            continue
        if param.type in ("connection", "agent", "integer") and (isinstance(value, bool) or not isinstance(value, int)):
            errors[key] = ["An integer."]
            continue
        if param.type == "integer":
            if (param.minimum is not None and value < param.minimum) or (
                param.maximum is not None and value > param.maximum
            ):
                errors[key] = [f"Between {param.minimum} and {param.maximum}."]
                continue
        elif param.type == "boolean" and not isinstance(value, bool):
            errors[key] = ["true or false."]
            continue
        elif param.type in ("string", "text", "resource", "action"):
            if not isinstance(value, str) or len(value) > (8000 if param.type == "text" else 200):
                errors[key] = ["A string" + (" of at most 8000 characters." if param.type == "text" else ".")]
                continue
        elif param.type == "connection":
            connection = Connection.objects.filter(pk=value).first()
            if connection is None:
                errors[key] = ["No such connection in this tenant."]
                continue
            connections[param.name] = connection
        elif param.type == "agent":
            if not Agent.objects.filter(pk=value).exists():
                errors[key] = ["No such agent in this tenant."]
                continue
        elif param.type == "mapping":
            problems = _mapping_problems(value)
            if problems:
                errors.update({f"{key}.{k}" if k else key: v for k, v in problems.items()})
                continue
        cleaned[param.name] = value
    for param in template.params:
        key = f"parameters.{param.name}"
        if param.type not in ("resource", "action") or key in errors or param.name not in cleaned:
            continue
        connection = connections.get(param.of)
        spec = registry.get(connection.provider) if connection is not None else None
        if spec is None:
            continue  # the connection's own error is reported
        if param.type == "resource":
            resource = spec.resource(cleaned[param.name])
            if resource is None:
                errors[key] = [
                    capabilities.not_offered(spec, capabilities.RESOURCE, cleaned[param.name], connection=connection)
                ]
            elif not resource.window and cleaned.get(WINDOW_PARAMS.get(template.key, ""), 0) > 0:
                windowed = ", ".join(r.name for r in spec.resources if r.window) or "none"
                errors[f"parameters.{WINDOW_PARAMS[template.key]}"] = [
                    f"{spec.name} cannot filter {resource.name} by date: set 0 to read without a date filter, or "
                    f"choose a resource that can be filtered ({windowed})."
                ]
        if param.type == "action":
            action = spec.action(cleaned[param.name])
            if action is None:
                errors[key] = [
                    capabilities.not_offered(spec, capabilities.ACTION, cleaned[param.name], connection=connection)
                ]
                continue
            mapping = next((p for p in template.params if p.type == "mapping" and p.of == param.name), None)
            if mapping is not None and isinstance(cleaned.get(mapping.name), dict):
                problems = capabilities.input_problems(action, cleaned[mapping.name])
                errors.update({f"parameters.{mapping.name}.{name}": found for name, found in problems.items()})
    if errors:
        raise ValidationError(errors)
    return cleaned
