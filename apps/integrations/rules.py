"""Automation rules: checked when saved (every field path, operator, action and input mapping), evaluated
against events, their actions performed once each. Action types are a registry the agents and workflows
capabilities add to."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.models import Tenant
from apps.connectors import capabilities
from apps.connectors.exceptions import ConnectorError, ProviderUnavailableError, RateLimitedError
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from apps.connectors.services import connection_perform
from apps.integrations import expressions as ex
from apps.integrations import queueing
from apps.integrations.models import Delivery, Rule, Subscription

MAX_CONDITIONS = 50
MAX_ACTIONS = 10


class ActionFailed(Exception):
    """An action that did not happen. `retryable` when trying again later may succeed (rate limit, outage)."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message, self.retryable, self.retry_after = message, retryable, retry_after


@dataclass
class ActionType:
    name: str
    label: str
    check: Callable[[dict], dict[str, list[str]]]  # errors keyed by field of the action
    plan: Callable[[dict, dict], dict]  # (action, event context) -> {"input": ..., "missing": [...], ...}
    perform: Callable[..., dict]  # (action, planned, *, tenant, rule, event, idempotency_key) -> result
    fields: tuple[str, ...] = field(default=())


ACTION_TYPES: dict[str, ActionType] = {}


def register_action(action_type: ActionType) -> None:
    ACTION_TYPES[action_type.name] = action_type


# --- connector_action ----------------------------------------------------------------------------------------


def _connection(action: dict) -> Connection | None:
    ident = action.get("connection")
    if isinstance(ident, bool) or not isinstance(ident, int):
        return None
    return Connection.objects.filter(pk=ident).first()


def _check_connector_action(action: dict) -> dict[str, list[str]]:
    connection = _connection(action)
    if connection is None:
        return {"connection": ["No such connection in this tenant."]}
    spec = registry.get(connection.provider)
    if spec is None:
        return {"connection": [f"The connector {connection.provider!r} is no longer available."]}
    action_spec = spec.action(action.get("action", ""))
    if action_spec is None:
        return {
            "action": [capabilities.not_offered(spec, capabilities.ACTION, action.get("action"), connection=connection)]
        }
    mapping = action.get("input", {})
    errors = {f"input.{k}": v for k, v in ex.check_mapping(mapping).items()}
    if errors:
        return errors
    problems = capabilities.input_problems(action_spec, mapping, required_hint="map it from the event or give a value")
    return {f"input.{name}": messages for name, messages in problems.items()}


def _plan_connector_action(action: dict, context: dict) -> dict:
    payload, missing = ex.apply_mapping(action.get("input", {}), context)
    return {"connection": action["connection"], "action": action["action"], "input": payload, "missing": missing}


def _perform_connector_action(action: dict, planned: dict, *, tenant: Tenant, rule: Rule, **_) -> dict:
    connection = _connection(action)
    if connection is None:
        raise ActionFailed("The connection no longer exists.")
    try:
        result = connection_perform(
            tenant=tenant,
            actor=Actor.system(f"rule {rule.pk}: {rule.name}"),
            connection=connection,
            action=action["action"],
            payload=planned["input"],
        )
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in getattr(exc, "message_dict", {}).items())
        raise ActionFailed(f"The event did not give valid input: {detail or exc.messages}") from None
    except (RateLimitedError, ProviderUnavailableError) as exc:
        raise ActionFailed(exc.message, retryable=True, retry_after=exc.retry_after) from None
    except ConnectorError as exc:
        raise ActionFailed(exc.message) from None
    return {"id": (result or {}).get("id"), "result": _trim(result)}


def _trim(value, limit: int = 2000):
    import json

    text = json.dumps(value, default=str)
    return value if len(text) <= limit else {"summary": text[:limit] + "…"}


register_action(
    ActionType(
        "connector_action",
        "Perform a connector action with input taken from the event",
        _check_connector_action,
        _plan_connector_action,
        _perform_connector_action,
        ("connection", "action", "input"),
    )
)


# --- send_to_subscription ------------------------------------------------------------------------------------


def _check_send(action: dict) -> dict[str, list[str]]:
    ident = action.get("subscription")
    if isinstance(ident, bool) or not isinstance(ident, int) or not Subscription.objects.filter(pk=ident).exists():
        return {"subscription": ["No such subscription in this tenant."]}
    return {}


def _plan_send(action: dict, context: dict) -> dict:
    return {"subscription": action["subscription"]}


def _perform_send(action: dict, planned: dict, *, event, first_attempt: bool = False, **_) -> dict:
    # its id is all the delivery needs (the whole row would decrypt its signing secret for nothing)
    subscription = Subscription.objects.filter(pk=action["subscription"]).values_list("pk", flat=True).first()
    if subscription is None:
        raise ActionFailed("The subscription no longer exists.")
    # a retry may find the delivery an earlier try wrote; a first try has written none (the unique constraint
    # below stays the backstop either way)
    delivery = (
        None if first_attempt else Delivery.objects.filter(event=event, subscription_id=subscription).only("pk").first()
    )
    if delivery is not None:  # this action ran before (a retry after the delivery was written)
        return {"delivery": delivery.pk, "queued": False}
    try:
        # inside a caller's transaction a savepoint keeps it usable after a conflict; alone, one INSERT
        with transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext():
            delivery = Delivery.objects.create(
                event=event, subscription_id=subscription, next_attempt_at=event.received_at, enqueued_at=timezone.now()
            )
    except IntegrityError:  # the same delivery written at the same moment by a second run of this action
        delivery = Delivery.objects.only("pk").get(event=event, subscription_id=subscription)
        return {"delivery": delivery.pk, "queued": False}
    queueing.enqueue_delivery(delivery.pk, marked=True)
    return {"delivery": delivery.pk, "queued": True}


register_action(
    ActionType(
        "send_to_subscription",
        "Send the event to one outbound webhook subscription",
        _check_send,
        _plan_send,
        _perform_send,
        ("subscription",),
    )
)


# --- rules ---------------------------------------------------------------------------------------------------


def clean_rule(data: dict, *, partial_of: Rule | None = None) -> dict:
    """Every field checked; errors keyed by path (`conditions.0.op`, `actions.1.input.email`)."""
    merged = {}
    if partial_of is not None:
        merged = {
            "name": partial_of.name,
            "description": partial_of.description,
            "enabled": partial_of.enabled,
            "trigger_event": partial_of.trigger_event,
            "trigger_connection": partial_of.trigger_connection_id,
            "match": partial_of.match,
            "durable": partial_of.durable,
            "conditions": partial_of.conditions,
            "actions": partial_of.actions,
        }
    merged.update(data)
    errors: dict[str, list[str]] = {}
    known = {
        "name",
        "description",
        "enabled",
        "trigger_event",
        "trigger_connection",
        "match",
        "durable",
        "conditions",
        "actions",
    }
    for name in sorted(set(data) - known):
        errors[name] = ["Unknown field."]
    name = merged.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        errors["name"] = ["A name of 1 to 100 characters."]
    if not isinstance(merged.get("description", ""), str) or len(merged.get("description") or "") > 300:
        errors["description"] = ["At most 300 characters."]
    for flag in ("enabled", "durable"):
        if not isinstance(merged.get(flag, flag == "enabled"), bool):
            errors[flag] = ["Must be true or false."]
    problem = ex.check_type_pattern(merged.get("trigger_event"))
    if problem:
        errors["trigger_event"] = [problem]
    trigger_connection = merged.get("trigger_connection")
    if trigger_connection is not None and (
        isinstance(trigger_connection, bool)
        or not isinstance(trigger_connection, int)
        or not Connection.objects.filter(pk=trigger_connection).exists()
    ):
        errors["trigger_connection"] = ["No such connection in this tenant."]
    if merged.get("match", "all") not in Rule.Match.values:
        errors["match"] = ["all or any."]
    conditions = merged.get("conditions", [])
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        errors["conditions"] = [f"A list of at most {MAX_CONDITIONS} conditions."]
    else:
        for index, condition in enumerate(conditions):
            for key, messages in ex.check_condition(condition).items():
                errors[f"conditions.{index}" + (f".{key}" if key else "")] = messages
    actions = merged.get("actions")
    if not isinstance(actions, list) or not actions or len(actions) > MAX_ACTIONS:
        errors["actions"] = [f"A list of 1 to {MAX_ACTIONS} actions."]
    else:
        for index, action in enumerate(actions):
            for key, messages in check_action(action).items():
                errors[f"actions.{index}" + (f".{key}" if key else "")] = messages
    if errors:
        raise ValidationError(errors)
    return {
        "name": name.strip(),
        "description": merged.get("description") or "",
        "enabled": merged.get("enabled", True),
        "trigger_event": merged["trigger_event"],
        "trigger_connection_id": trigger_connection,
        "match": merged.get("match", "all"),
        "durable": merged.get("durable", False),
        "conditions": conditions,
        "actions": actions,
    }


def check_action(action) -> dict[str, list[str]]:
    if not isinstance(action, dict):
        return {"": ["Must be an object with a type."]}
    kind = action.get("type", "")
    action_type = ACTION_TYPES.get(kind) if isinstance(kind, str) else None
    if action_type is None:
        return {"type": [f"Unknown action type; available: {', '.join(sorted(ACTION_TYPES))}."]}
    unknown = set(action) - {"type", *action_type.fields}
    if unknown:
        return {name: ["Unknown key."] for name in sorted(unknown)}
    return action_type.check(action)


@transaction.atomic
def rule_create(*, tenant: Tenant, actor: Actor, user_id: int | None, data: dict) -> Rule:
    rule = Rule.objects.create(**clean_rule(data), created_by_id=user_id)
    audit_record(tenant=tenant, actor=actor, action="rule.created", obj=rule, changes={"name": rule.name})
    return rule


@transaction.atomic
def rule_update(*, tenant: Tenant, actor: Actor, rule: Rule, data: dict) -> Rule:
    cleaned = clean_rule(data, partial_of=rule)
    for name, value in cleaned.items():
        setattr(rule, name, value)
    if cleaned["enabled"]:
        rule.disabled_reason = ""
    rule.save()
    audit_record(tenant=tenant, actor=actor, action="rule.updated", obj=rule, changes={"fields": sorted(data)})
    return rule


def rule_delete(*, tenant: Tenant, actor: Actor, rule: Rule) -> None:
    audit_record(tenant=tenant, actor=actor, action="rule.deleted", obj=rule, changes={"name": rule.name})
    rule.delete()


def rule_applies(rule: Rule, *, event_type: str, connection_id: int | None) -> bool:
    if rule.trigger_connection_id is not None and rule.trigger_connection_id != connection_id:
        return False
    return ex.type_matches(rule.trigger_event, event_type)


def rule_test(rule: Rule, sample: dict) -> dict:
    """What the rule would do with a sample event: nothing is performed, stored or sent."""
    if not isinstance(sample, dict):
        raise ValidationError({"event": ["Must be an object with type and payload."]})
    errors = {}
    event_type = sample.get("type", rule.trigger_event)
    if not isinstance(event_type, str) or not ex.EVENT_TYPE.match(event_type):
        errors["event.type"] = ["An event type such as shopify.order.create."]
    payload = sample.get("payload", {})
    if not isinstance(payload, dict | list):
        errors["event.payload"] = ["Must be an object or a list."]
    connection_id = sample.get("connection_id")
    if connection_id is not None and (isinstance(connection_id, bool) or not isinstance(connection_id, int)):
        errors["event.connection_id"] = ["An integer."]
    if errors:
        raise ValidationError(errors)
    context = {
        "type": event_type,
        "event_id": str(sample.get("event_id") or "sample"),
        "source": "sample",
        "provider": event_type.split(".")[0],
        "connection_id": connection_id,
        "received_at": None,
        "payload": payload,
    }
    triggered = rule_applies(rule, event_type=event_type, connection_id=connection_id)
    evaluation = ex.evaluate(rule.match, rule.conditions, context)
    actions = []
    if triggered and evaluation.matched:
        for index, action in enumerate(rule.actions):
            planned = ACTION_TYPES[action["type"]].plan(action, context)
            actions.append(
                {"position": index, "type": action["type"], **planned, "problems": _input_problems(action, planned)}
            )
    return {
        "triggered": triggered,
        "matched": triggered and evaluation.matched,
        "conditions": evaluation.results,
        "actions": actions,
        "performed": False,
    }


def _input_problems(action: dict, planned: dict) -> dict:
    """Whether the planned input would pass the action's own validation (connector actions)."""
    if action["type"] != "connector_action":
        return {}
    connection = _connection(action)
    spec = registry.get(connection.provider) if connection else None
    action_spec = spec.action(action["action"]) if spec else None
    if action_spec is None:
        return {"action": ["No longer available."]}
    try:
        action_spec.clean(planned["input"])
    except ValidationError as exc:
        return exc.message_dict
    return {}
