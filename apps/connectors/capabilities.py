"""What a connection's connector offers, checked the same way wherever a configuration names it: a rule's
connector action, a workflow's resource and action parameters, an agent's or an MCP client's grants.

`not_offered` is the one message for a resource or action the connector has not; `input_problems` checks an
input mapping against an action's fields (unknown fields, required ones left out, constants that do not fit).
Keys of the problems are input field names; callers prefix them with where the mapping sits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError

from apps.connectors.base import ActionSpec

RESOURCE, ACTION = "resource", "action"


def not_offered(spec, kind: str, name: object, *, connection=None) -> str:
    """`<connection> (<connector>) has no action 'x'; it offers: a, b.` (`kind`: RESOURCE or ACTION)."""
    items: Iterable = spec.resources if kind == RESOURCE else spec.actions
    offered = ", ".join(item.name for item in items) or "none"
    who = f"{connection.name} ({spec.name})" if connection is not None else spec.name
    return f"{who} has no {kind} {name!r}; it offers: {offered}."


def input_problems(action: ActionSpec, mapping: Mapping, *, required_hint: str = "") -> dict[str, list[str]]:
    """Problems of `mapping` (input field -> its source, a constant as {"value": ...}) for `action`: fields it
    has not, required fields without a default that the mapping leaves out, constants its fields refuse.
    `required_hint` ends the message of a missing field (what the user can map it from)."""
    fields = {field.name: field for field in action.input}
    problems: dict[str, list[str]] = {}
    for name in mapping:
        if name not in fields:
            problems[name] = [f"{action.name} has no input field {name!r}; its fields: {', '.join(fields) or 'none'}."]
    for name, field in fields.items():
        if field.required and field.default is None and name not in mapping:
            problems[name] = [f"Required by {action.name}" + (f": {required_hint}." if required_hint else ".")]
    for name, source in mapping.items():
        if name in fields and isinstance(source, Mapping) and "value" in source:
            try:
                fields[name].clean(source["value"])
            except ValidationError as exc:
                problems[name] = exc.messages
    return problems
