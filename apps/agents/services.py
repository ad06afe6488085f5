"""Configuration of LLM providers, agents and their tool grants: validation, writes and audit records.

Every function runs in the caller's tenant schema (the request middleware sets it; jobs use schema_context), so a
provider, collection or connection id is looked up among this tenant's rows only. API keys are decrypted only to
be sent to the provider (apps.agents.llm_client) and never returned or audited.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.audit.services import Actor, audit_record, diff
from apps.accounts.models import Tenant
from apps.agents import llm_client
from apps.agents.models import Agent, KnowledgeCollection, LLMProvider, ToolGrant
from apps.connectors import capabilities
from apps.connectors.base import is_loopback_host, url_origin
from apps.connectors.models import Connection
from apps.connectors.registry import registry

Kind = LLMProvider.Kind
NEEDS_BASE_URL = frozenset({Kind.AZURE_OPENAI, Kind.OLLAMA, Kind.OPENAI_COMPATIBLE})
NEEDS_API_KEY = frozenset({Kind.OPENAI, Kind.ANTHROPIC, Kind.AZURE_OPENAI})
PROVIDER_FIELDS = ("name", "kind", "base_url", "api_version", "default_model")


# --- LLM providers -------------------------------------------------------------------------------------------


def _provider_errors(values: dict, *, has_key: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    kind = values["kind"]
    if kind not in Kind.values:
        return {"kind": [f"One of: {', '.join(Kind.values)}."]}
    label = Kind(kind).label
    if not values["name"]:
        errors["name"] = ["This field may not be blank."]
    if not values["default_model"]:
        errors["default_model"] = ["Name the model (for Azure OpenAI, the deployment) to use by default."]
    base_url = values["base_url"]
    if not base_url:
        if kind in NEEDS_BASE_URL:
            errors["base_url"] = [f"{label} needs a base URL."]
    else:
        parts = urlsplit(base_url)
        if not _valid_url(parts):
            errors["base_url"] = ["Enter a valid http(s) URL."]
        else:
            local = is_loopback_host(parts.hostname or "") or kind == Kind.OLLAMA  # Ollama runs locally, over http
            if parts.scheme != "https" and not local:
                errors["base_url"] = ["Must be an https:// address (http is accepted only for a local server)."]
            elif parts.query or parts.fragment:
                errors["base_url"] = ["Must not carry a query string or fragment."]
    if kind in NEEDS_API_KEY and not has_key:
        errors["api_key"] = [f"{label} needs an API key."]
    if kind == Kind.AZURE_OPENAI and not values["api_version"]:
        errors["api_version"] = ["Azure OpenAI needs an API version, e.g. 2024-10-21."]
    return errors


def _destination(values: dict) -> tuple[str, str, str, int | None]:
    """Where a provider's key is sent and how: its kind (which header carries the key) and the origin of its
    base URL (the kind's public endpoint when there is none)."""
    base = values["base_url"] or {Kind.OPENAI: llm_client.OPENAI_URL, Kind.ANTHROPIC: llm_client.ANTHROPIC_URL}.get(
        values["kind"], ""
    )
    return (values["kind"], *url_origin(base))


def _valid_url(parts) -> bool:
    """http(s), a host and a sane port. Unlike URLValidator, single-label hosts (`http://ollama:11434`, a
    service on the same private network) are accepted."""
    try:
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    return (
        parts.scheme in ("http", "https")
        and bool(host)
        and (port is None or 0 < port < 65536)
        and all(ch.isalnum() or ch in ".-:[]_" for ch in host)
        and " " not in parts.path
    )


def _strip(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


@transaction.atomic
def provider_create(
    *,
    tenant: Tenant,
    actor: Actor,
    user_id: int | None,
    name: str,
    kind: str,
    default_model: str,
    base_url: str = "",
    api_version: str = "",
    api_key: str | None = None,
) -> LLMProvider:
    values = {
        "name": _strip(name),
        "kind": kind,
        "base_url": _strip(base_url).rstrip("/"),
        "api_version": _strip(api_version),
        "default_model": _strip(default_model),
    }
    key = _strip(api_key)
    errors = _provider_errors(values, has_key=bool(key))
    if errors:
        raise ValidationError(errors)
    provider = LLMProvider.objects.create(**values, credentials={"api_key": key} if key else {}, created_by_id=user_id)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="llm_provider.created",
        obj=provider,
        changes={**values, "key_set": bool(key)},
    )
    return provider


@transaction.atomic
def provider_update(*, tenant: Tenant, actor: Actor, provider: LLMProvider, **changes: Any) -> LLMProvider:
    """Partial update of PROVIDER_FIELDS and `api_key` (omitted or None: keep the stored key; "": remove it).
    Whatever changes what the provider reaches clears the last test result."""
    unknown = sorted(set(changes) - {*PROVIDER_FIELDS, "api_key"})
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    before = {name: getattr(provider, name) for name in PROVIDER_FIELDS}
    after = dict(before)
    for name in PROVIDER_FIELDS:
        if name in changes and changes[name] is not None:
            after[name] = _strip(changes[name]) if name != "kind" else changes[name]
    after["base_url"] = after["base_url"].rstrip("/")
    key = _strip(changes.get("api_key")) if changes.get("api_key") is not None else None
    current_key = provider.credentials.get("api_key") or ""
    has_key = bool(key) if key is not None else bool(current_key)
    errors = _provider_errors(after, has_key=has_key)
    if not errors and current_key and key is None and _destination(before) != _destination(after):
        errors["api_key"] = [
            "Enter the API key again (or an empty string to remove it): the kind or base URL changed, and a "
            "stored key is never sent to a new address."
        ]
    if errors:
        raise ValidationError(errors)
    for name, value in after.items():
        setattr(provider, name, value)
    key_changed = key is not None and key != current_key
    if key_changed:
        provider.credentials = {**provider.credentials, "api_key": key} if key else {}
    if key_changed or any(before[name] != after[name] for name in ("kind", "base_url", "api_version", "default_model")):
        provider.last_tested_at, provider.last_test_ok, provider.last_test_error = None, None, ""
    provider.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="llm_provider.updated",
        obj=provider,
        changes={**diff(before, after), **({"key_replaced": bool(key), "key_removed": not key} if key_changed else {})},
    )
    return provider


@transaction.atomic
def provider_delete(*, tenant: Tenant, actor: Actor, provider: LLMProvider) -> None:
    users = list(provider.agents.order_by("name").values_list("name", flat=True))
    if users:
        raise ValidationError(
            {
                "agents": [
                    f"{provider.name} is used by {len(users)} agent{'s' if len(users) > 1 else ''}: "
                    f"{', '.join(users)}. Give them another provider first."
                ]
            }
        )
    audit_record(
        tenant=tenant,
        actor=actor,
        action="llm_provider.deleted",
        obj=provider,
        changes={"name": provider.name, "kind": provider.kind},
    )
    provider.delete()


def provider_test(*, provider: LLMProvider) -> dict:
    """One tiny live call; records the outcome on the provider. Returns {ok, latency_ms, error, tested_at}."""
    ok, latency_ms, error = llm_client.test_provider(provider)
    now = timezone.now()
    LLMProvider.objects.filter(pk=provider.pk).update(last_tested_at=now, last_test_ok=ok, last_test_error=error)
    provider.last_tested_at, provider.last_test_ok, provider.last_test_error = now, ok, error
    return {"ok": ok, "latency_ms": latency_ms, "error": error, "tested_at": now}


# --- agents --------------------------------------------------------------------------------------------------

AGENT_FIELDS = (
    "name",
    "role",
    "goal",
    "backstory",
    "provider",
    "model",
    "temperature",
    "max_iterations",
    "max_execution_time",
    "enabled",
)
_TEXT_LIMITS = {"name": 100, "role": 200, "goal": 2000, "backstory": 8000, "model": 200}
_REQUIRED_TEXT = ("name", "role", "goal")


def _int_between(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    if str(number) != str(value).strip() and not isinstance(value, int):
        return None
    return number if low <= number <= high else None


def _clean_agent(values: dict) -> tuple[dict, list[KnowledgeCollection] | None]:
    """Validates agent fields (only those present); returns (model field values, collections or None)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, limit in _TEXT_LIMITS.items():
        if name not in values:
            continue
        text = _strip(values[name]) if values[name] is not None else ""
        if name in _REQUIRED_TEXT and not text:
            errors[name] = ["This field may not be blank."]
        elif len(text) > limit:
            errors[name] = [f"At most {limit} characters."]
        clean[name] = text
    if "temperature" in values:
        try:
            temperature = Decimal(str(values["temperature"]))
        except (InvalidOperation, ValueError):
            temperature = None
        if temperature is None or not temperature.is_finite() or not Decimal(0) <= temperature <= Decimal(2):
            errors["temperature"] = ["Must be a number between 0 and 2."]
        else:
            clean["temperature"] = temperature.quantize(Decimal("0.01"))
    if "max_iterations" in values:
        number = _int_between(values["max_iterations"], 1, 50)
        if number is None:
            errors["max_iterations"] = ["Must be a whole number between 1 and 50."]
        clean["max_iterations"] = number
    if "max_execution_time" in values:
        ceiling = settings.AGENT_RUN_TIMEOUT_SECONDS
        number = _int_between(values["max_execution_time"], 5, ceiling)
        if number is None:
            errors["max_execution_time"] = [f"Must be a whole number of seconds between 5 and {ceiling}."]
        clean["max_execution_time"] = number
    if "enabled" in values:
        if not isinstance(values["enabled"], bool):
            errors["enabled"] = ["Must be true or false."]
        clean["enabled"] = values["enabled"]
    if "provider" in values:
        provider = values["provider"]
        if isinstance(provider, LLMProvider):
            provider = provider.pk
        if provider is None:
            clean["provider"] = None
        else:
            found = LLMProvider.objects.filter(pk=provider).first() if _int_between(provider, 1, 2**63 - 1) else None
            if found is None:
                errors["provider"] = ["No such LLM provider in this tenant."]
            clean["provider"] = found
    collections = None
    if "collections" in values and values["collections"] is not None:
        ids = values["collections"]
        if not isinstance(ids, list | tuple) or any(_int_between(i, 1, 2**63 - 1) is None for i in ids):
            errors["collections"] = ["A list of collection ids."]
        else:
            wanted = list(dict.fromkeys(int(i) for i in ids))
            by_pk = {c.pk: c for c in KnowledgeCollection.objects.filter(pk__in=wanted)}
            missing = [str(i) for i in wanted if i not in by_pk]
            if missing:
                errors["collections"] = [f"No such collection in this tenant: {', '.join(missing)}."]
            collections = [by_pk[i] for i in wanted if i in by_pk]
    if errors:
        raise ValidationError(errors)
    return clean, collections


def _agent_snapshot(agent: Agent) -> dict:
    return {
        "name": agent.name,
        "role": agent.role,
        "goal": agent.goal,
        "backstory": agent.backstory,
        "provider": agent.provider_id,
        "model": agent.model,
        "temperature": str(agent.temperature),
        "max_iterations": agent.max_iterations,
        "max_execution_time": agent.max_execution_time,
        "enabled": agent.enabled,
        "collections": sorted(agent.collections.values_list("pk", flat=True)) if agent.pk else [],
    }


@transaction.atomic
def agent_create(
    *,
    tenant: Tenant,
    actor: Actor,
    user_id: int | None,
    name: str,
    role: str,
    goal: str,
    backstory: str = "",
    provider: int | LLMProvider | None = None,
    model: str = "",
    temperature: Decimal | float | str = Decimal("0.70"),
    max_iterations: int = 10,
    max_execution_time: int = 120,
    enabled: bool = True,
    collections: list[int] | None = None,
    template: str = "",
) -> Agent:
    clean, chosen = _clean_agent(
        {
            "name": name,
            "role": role,
            "goal": goal,
            "backstory": backstory,
            "provider": provider,
            "model": model,
            "temperature": temperature,
            "max_iterations": max_iterations,
            "max_execution_time": max_execution_time,
            "enabled": enabled,
            "collections": collections or [],
        }
    )
    agent = Agent.objects.create(**clean, template=template, created_by_id=user_id)
    if chosen:
        agent.collections.set(chosen)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="agent.created",
        obj=agent,
        changes={**_agent_snapshot(agent), **({"template": template} if template else {})},
    )
    return agent


@transaction.atomic
def agent_update(*, tenant: Tenant, actor: Actor, agent: Agent, **changes: Any) -> Agent:
    """Partial update of AGENT_FIELDS and `collections` (a list of ids replacing the agent's collections)."""
    unknown = sorted(set(changes) - {*AGENT_FIELDS, "collections"})
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    before = _agent_snapshot(agent)
    clean, chosen = _clean_agent(changes)
    for name, value in clean.items():
        setattr(agent, name, value)
    agent.save()
    if chosen is not None:
        agent.collections.set(chosen)
    audit_record(
        tenant=tenant, actor=actor, action="agent.updated", obj=agent, changes=diff(before, _agent_snapshot(agent))
    )
    return agent


@transaction.atomic
def agent_delete(*, tenant: Tenant, actor: Actor, agent: Agent) -> None:
    audit_record(tenant=tenant, actor=actor, action="agent.deleted", obj=agent, changes={"name": agent.name})
    agent.delete()


# --- tool grants ---------------------------------------------------------------------------------------------


def _grants_snapshot(agent: Agent) -> list[dict]:
    return [
        {
            "connection": g.connection_id,
            "resources": g.resources,
            "actions": g.actions,
            "action_policies": g.action_policies,
            "allow_unattended_from_rules": g.allow_unattended_from_rules,
        }
        for g in agent.tool_grants.order_by("connection_id")
    ]


def _names(value: Any) -> list | None:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        return None
    return list(value)


GRANT_FIELDS = frozenset({"connection", "resources", "actions", "action_policies", "allow_unattended_from_rules"})


def _policies(grant: dict, path: str, actions: list[str], errors: dict[str, list[str]]) -> dict[str, str]:
    """{action: "allow" | "ask"} for granted actions only; errors under `<path>.action_policies.<action>`."""
    raw = grant.get("action_policies")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors[f"{path}.action_policies"] = ['An object of action names to "allow" or "ask".']
        return {}
    out = {}
    for name, policy in raw.items():
        if name not in actions:
            errors[f"{path}.action_policies.{name}"] = [
                f"{name!r} is not an action granted on this connection"
                + (f" (granted: {', '.join(actions)})." if actions else " (no action is granted).")
            ]
        elif policy not in ("allow", "ask"):
            errors[f"{path}.action_policies.{name}"] = ['"allow" or "ask".']
        else:
            out[name] = policy
    return out


@transaction.atomic
def set_tool_grants(*, tenant: Tenant, actor: Actor, agent: Agent, grants: list[dict]) -> list[ToolGrant]:
    """Replaces all of the agent's grants. Each names a connection of this tenant and the resources and actions
    its connector offers, optionally a policy per granted action (allow or ask) and whether runs started by a rule
    may write unattended; errors carry field paths (`grants.0.actions.1`). A grant with nothing in it is dropped."""
    if not isinstance(grants, list | tuple):
        raise ValidationError({"grants": ["A list of grants."]})
    errors: dict[str, list[str]] = {}
    ids = [g.get("connection") for g in grants if isinstance(g, dict)]
    connections = {c.pk: c for c in Connection.objects.filter(pk__in=[i for i in ids if _int_between(i, 1, 2**63 - 1)])}
    seen: set[int] = set()
    rows: list[ToolGrant] = []
    for index, grant in enumerate(grants):
        path = f"grants.{index}"
        if not isinstance(grant, dict):
            errors[path] = ["Must be an object with connection, resources and actions."]
            continue
        for name in sorted(set(grant) - GRANT_FIELDS):
            errors[f"{path}.{name}"] = ["Unknown field."]
        raw_id = grant.get("connection")
        connection = connections.get(int(raw_id)) if _int_between(raw_id, 1, 2**63 - 1) else None  # type: ignore[arg-type]
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
            names = _names(grant.get(kind))
            if names is None:
                errors[f"{path}.{kind}"] = ["A list of names."]
                continue
            if any(not isinstance(name, str) for name in names):
                errors[f"{path}.{kind}"] = ["A list of names."]
                continue
            available = [item.name for item in offered]
            for position, name in enumerate(names):
                if name not in available:
                    errors[f"{path}.{kind}.{position}"] = [capabilities.not_offered(spec, kind[:-1], name)]
            chosen[kind] = [name for name in dict.fromkeys(names) if name in available]
        policies = _policies(grant, path, chosen.get("actions", []), errors)
        unattended = grant.get("allow_unattended_from_rules", False)
        if not isinstance(unattended, bool):
            errors[f"{path}.allow_unattended_from_rules"] = ["true or false."]
            unattended = False
        if chosen.get("resources") or chosen.get("actions"):
            rows.append(
                ToolGrant(
                    agent=agent,
                    connection=connection,
                    action_policies=policies,
                    allow_unattended_from_rules=unattended,
                    **chosen,
                )
            )
    if errors:
        raise ValidationError(errors)
    before = _grants_snapshot(agent)
    agent.tool_grants.all().delete()
    ToolGrant.objects.bulk_create(rows)
    after = _grants_snapshot(agent)
    if before != after:
        audit_record(
            tenant=tenant, actor=actor, action="agent.tools_updated", obj=agent, changes={"grants": [before, after]}
        )
    return list(agent.tool_grants.select_related("connection").order_by("connection_id"))


def agent_available_tools(*, agent: Agent) -> list[dict]:
    """Every connection of the tenant with its connector's resources and actions, each marked granted or not."""
    grants = {g.connection_id: g for g in agent.tool_grants.all()}
    out = []
    for connection in Connection.objects.order_by("name", "id"):
        spec = registry.get(connection.provider)
        grant = grants.get(connection.pk)
        resources = set(grant.resources) if grant else set()
        actions = set(grant.actions) if grant else set()
        out.append(
            {
                "connection": {
                    "id": connection.pk,
                    "name": connection.name,
                    "provider": connection.provider,
                    "provider_name": spec.name if spec else connection.provider,
                    "status": connection.status,
                },
                "resources": [
                    {"name": r.name, "model": r.model, "description": r.description, "granted": r.name in resources}
                    for r in (spec.resources if spec else ())
                ],
                "actions": [
                    {
                        "name": a.name,
                        "description": a.description,
                        "granted": a.name in actions,
                        "policy": (grant.action_policies or {}).get(a.name, "allow") if grant else "allow",
                    }
                    for a in (spec.actions if spec else ())
                ],
                "allow_unattended_from_rules": bool(grant and grant.allow_unattended_from_rules),
            }
        )
    return out
