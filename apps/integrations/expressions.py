"""The small, closed language of automation rules: event type patterns, field paths, conditions and input
mappings. Plain data interpreted here; nothing is evaluated as code or as a template."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import re2

from bizosaas.digits import ascii_digits

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "in", "exists", "matches")
TYPE_PATTERN = re.compile(r"^\*$|^(\*|[a-z0-9_]+)(\.(\*|[a-z0-9_]+)){1,4}$")  # `*`, or 2 to 5 segments
EVENT_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+){1,4}$")
PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+){0,15}$")
PATH_ROOTS = ("type", "event_id", "source", "provider", "connection_id", "received_at", "payload")
MAX_REGEX = 300
MISSING = object()


class RuleSyntaxError(ValueError):
    """`errors` maps a field path of the rule (e.g. `conditions.1.value`) to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


# --- event types ---------------------------------------------------------------------------------------------


def type_matches(pattern: str, event_type: str) -> bool:
    """`*` matches one segment, a trailing `*` any remainder: `shopify.order.*` matches `shopify.order.create`,
    `*.contact.*` matches `hubspot.contact.creation`, and `*` alone matches everything."""
    if pattern == "*":
        return True
    want, have = pattern.split("."), event_type.split(".")
    for index, segment in enumerate(want):
        if index >= len(have):
            return False
        if segment == "*":
            if index == len(want) - 1:
                return True
            continue
        if segment != have[index]:
            return False
    return len(want) == len(have)


def check_type_pattern(pattern: Any) -> str | None:
    if not isinstance(pattern, str) or not TYPE_PATTERN.match(pattern):
        return "An event type such as shopify.order.create, with * for any segment (shopify.order.*)."
    return None


# --- paths ---------------------------------------------------------------------------------------------------


def check_path(path: Any) -> str | None:
    if not isinstance(path, str) or not PATH.match(path):
        return "A dotted field path such as payload.customer.email (list items by index: payload.items.0.sku)."
    if path.split(".")[0] not in PATH_ROOTS:
        return f"Must start with one of: {', '.join(PATH_ROOTS)}."
    return None


def resolve(document: Any, path: str) -> Any:
    """The value at a dotted path, or MISSING. Integer segments index lists."""
    value = document
    for segment in path.split("."):
        if isinstance(value, dict):
            if segment not in value:
                return MISSING
            value = value[segment]
        elif isinstance(value, list) and ascii_digits(segment.lstrip("-")):
            index = int(segment)
            if not -len(value) <= index < len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


# --- conditions ----------------------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _equal(left: Any, right: Any) -> bool:
    if left == right and type(left) is type(right):
        return True
    a, b = _number(left), _number(right)
    if a is not None and b is not None:  # "55" from a form post equals 55
        return a == b
    return left == right and not isinstance(left, bool) and not isinstance(right, bool)


def _order(left: Any, right: Any) -> int | None:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    if isinstance(left, str) and isinstance(right, str):  # ISO dates and times order as text
        return (left > right) - (left < right)
    return None


def check_condition(condition: Any) -> dict[str, list[str]]:
    """Errors of one condition, keyed by its field (empty when fine)."""
    if not isinstance(condition, dict):
        return {"": ["Must be an object with field, op and value."]}
    errors: dict[str, list[str]] = {}
    unknown = set(condition) - {"field", "op", "value"}
    for name in sorted(unknown):
        errors[name] = ["Unknown key."]
    problem = check_path(condition.get("field"))
    if problem:
        errors["field"] = [problem]
    op, value = condition.get("op"), condition.get("value", MISSING)
    if op not in OPERATORS:
        errors["op"] = [f"One of: {', '.join(OPERATORS)}."]
        return errors
    if op == "exists":
        if value is not MISSING and not isinstance(value, bool):
            errors["value"] = ["true (the field is present) or false (it is absent); default true."]
    elif value is MISSING:
        errors["value"] = ["This field is required."]
    elif op in ("gt", "gte", "lt", "lte"):
        if _number(value) is None and not isinstance(value, str):
            errors["value"] = ["A number, or a string compared as text (ISO dates)."]
    elif op == "in":
        if not isinstance(value, list) or not value or len(value) > 500:
            errors["value"] = ["A list of 1 to 500 values."]
        elif any(isinstance(item, dict | list) for item in value):
            errors["value"] = ["List items must be strings, numbers, booleans or null."]
    elif op == "contains":
        if isinstance(value, dict | list):
            errors["value"] = ["A string, number or boolean."]
    elif op == "matches":
        if not isinstance(value, str) or not value or len(value) > MAX_REGEX:
            errors["value"] = [f"A regular expression of 1 to {MAX_REGEX} characters."]
        else:
            try:
                re2.compile(value)
            except re2.error as exc:
                errors["value"] = [f"Not a valid regular expression: {exc}."]
    elif isinstance(value, dict):
        errors["value"] = ["A string, number, boolean, null or list."]
    return errors


def evaluate_condition(condition: dict, context: dict) -> tuple[bool, Any]:
    """(result, the value found) for one checked condition."""
    actual = resolve(context, condition["field"])
    op, expected = condition["op"], condition.get("value")
    if op == "exists":
        return (actual is not MISSING) == (expected is not False), None if actual is MISSING else actual
    if actual is MISSING:
        return op == "ne", None
    if op == "eq":
        result = _equal(actual, expected)
    elif op == "ne":
        result = not _equal(actual, expected)
    elif op in ("gt", "gte", "lt", "lte"):
        order = _order(actual, expected)
        result = (
            order is not None
            and {
                "gt": order > 0,
                "gte": order >= 0,
                "lt": order < 0,
                "lte": order <= 0,
            }[op]
        )
    elif op == "in":
        result = any(_equal(actual, item) for item in expected)  # type: ignore[union-attr]
    elif op == "contains":
        if isinstance(actual, str):
            result = isinstance(expected, str) and expected.lower() in actual.lower()
        elif isinstance(actual, list):
            result = any(_equal(item, expected) for item in actual)
        elif isinstance(actual, dict):
            result = isinstance(expected, str) and expected in actual
        else:
            result = False
    else:  # matches: RE2 runs in linear time, so a tenant's pattern cannot stall a worker
        if isinstance(actual, bool):  # JSON's spelling, not Python's
            actual = "true" if actual else "false"
        result = isinstance(actual, str | int | float) and re2.search(expected, str(actual)[:10000]) is not None
    return bool(result), actual


@dataclass
class Evaluation:
    matched: bool
    results: list[dict]


def evaluate(match: str, conditions: list[dict], context: dict) -> Evaluation:
    results = []
    for condition in conditions:
        ok, actual = evaluate_condition(condition, context)
        results.append({**condition, "result": ok, "actual": _summary(actual)})
    outcomes = [item["result"] for item in results]
    matched = not outcomes or (all(outcomes) if match == "all" else any(outcomes))
    return Evaluation(matched=matched, results=results)


def _summary(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "…"
    if isinstance(value, dict | list):
        text = repr(value)
        return text[:200] + ("…" if len(text) > 200 else "")
    return value


# --- input mappings ------------------------------------------------------------------------------------------


def check_mapping(mapping: Any) -> dict[str, list[str]]:
    """An action's input: {"<input field>": {"path": "payload.email"} | {"value": <constant>}}."""
    if not isinstance(mapping, dict):
        return {"": ["Must be an object of input field -> {path} or {value}."]}
    errors: dict[str, list[str]] = {}
    for name, source in mapping.items():
        if not isinstance(source, dict) or len(source) != 1 or not ({"path", "value"} & set(source)):
            errors[name] = ['Either {"path": "payload.…"} or {"value": …}.']
        elif "path" in source:
            problem = check_path(source["path"])
            if problem:
                errors[name] = [problem]
    return errors


def apply_mapping(mapping: dict, context: dict) -> tuple[dict, list[str]]:
    """(input, paths that were missing in the event). Missing paths leave the field out."""
    result, missing = {}, []
    for name, source in mapping.items():
        if "value" in source:
            result[name] = source["value"]
            continue
        value = resolve(context, source["path"])
        if value is MISSING:
            missing.append(source["path"])
        else:
            result[name] = value
    return result, missing


def event_context(event) -> dict:
    """What conditions and mappings can see of an event."""
    return {
        "type": event.type,
        "event_id": event.external_id or str(event.uid),
        "source": event.source,
        "provider": event.provider,
        "connection_id": event.connection_id,
        "received_at": event.received_at.isoformat() if event.received_at else None,
        "payload": event.payload,
    }
