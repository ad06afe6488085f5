"""The one LLM client: a chat completion against any configured provider kind, through the connector HTTP client
(so timeouts, private-host refusal, rate-limit handling and typed errors are the same as for connectors).

Messages and tools are given in the OpenAI shape (`{"role", "content"}`; assistant `tool_calls` either as OpenAI
sends them or as `ChatResult.tool_calls`; `{"role": "tool", "tool_call_id", "content"}` for results; tools as
`{"type": "function", "function": {name, description, parameters}}` or simply `{name, description, parameters}`)
and translated for Anthropic. The API key never leaves this module except in the provider's auth header.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from django.conf import settings

from apps.connectors.exceptions import BadResponseError, ConfigurationError, ConnectorError
from apps.connectors.http import ProviderHTTP
from bizosaas.tenancy import current_schema

if TYPE_CHECKING:
    from apps.agents.models import LLMProvider

OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com/v1"
ANTHROPIC_VERSION = "2023-06-01"
ANTHROPIC_DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI-style APIs default to the model's limit
CHAT_MAX_RETRIES = 2  # 429s are retried by ProviderHTTP (honouring Retry-After); POSTs are never repeated on 5xx

KIND_LABELS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "azure_openai": "Azure OpenAI",
    "ollama": "Ollama",
    "openai_compatible": "OpenAI-compatible endpoint",
}
# OpenAI reasoning models refuse `max_tokens` and any temperature but the default.
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


@dataclass
class ChatResult:
    content: str
    tool_calls: list[dict] = field(default_factory=list)  # [{"id", "name", "arguments": dict}]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""


# --- prices --------------------------------------------------------------------------------------------------

# USD per million tokens (input, output), public list prices; the longest matching prefix wins, so dated versions
# (`gpt-4o-2024-08-06`, `claude-3-5-sonnet-20241022`) price like their family.
PRICES_PER_MILLION: dict[str, tuple[str, str]] = {
    "gpt-4o-mini": ("0.15", "0.60"),
    "gpt-4o": ("2.50", "10.00"),
    "gpt-4.1-nano": ("0.10", "0.40"),
    "gpt-4.1-mini": ("0.40", "1.60"),
    "gpt-4.1": ("2.00", "8.00"),
    "gpt-4-turbo": ("10.00", "30.00"),
    "gpt-4": ("30.00", "60.00"),
    "gpt-3.5-turbo": ("0.50", "1.50"),
    "o1-mini": ("1.10", "4.40"),
    "o1": ("15.00", "60.00"),
    "o3-mini": ("1.10", "4.40"),
    "o3": ("2.00", "8.00"),
    "o4-mini": ("1.10", "4.40"),
    "claude-3-haiku": ("0.25", "1.25"),
    "claude-3-5-haiku": ("0.80", "4.00"),
    "claude-3-5-sonnet": ("3.00", "15.00"),
    "claude-3-7-sonnet": ("3.00", "15.00"),
    "claude-sonnet-4": ("3.00", "15.00"),
    "claude-3-opus": ("15.00", "75.00"),
    "claude-opus-4": ("15.00", "75.00"),
}
_MILLION = Decimal(1_000_000)


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal | None:
    """Estimated USD cost (6 decimal places) for a well-known model; None when the model's price is unknown."""
    name = (model or "").strip().lower().rsplit("/", 1)[-1]  # `openai/gpt-4o` as some gateways spell it
    matches = [prefix for prefix in PRICES_PER_MILLION if name == prefix or name.startswith(f"{prefix}-")]
    if not matches:
        return None
    prompt_price, completion_price = PRICES_PER_MILLION[max(matches, key=len)]
    cost = (
        Decimal(prompt_tokens or 0) * Decimal(prompt_price)
        + Decimal(completion_tokens or 0) * Decimal(completion_price)
    ) / _MILLION
    return cost.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


# --- endpoints -----------------------------------------------------------------------------------------------


def _api_key(provider: LLMProvider) -> str:
    return str((provider.credentials or {}).get("api_key") or "")


def base_url_for(provider: LLMProvider) -> str:
    """Where the provider's API lives: the configured override, else the kind's public endpoint."""
    base = (provider.base_url or "").strip().rstrip("/")
    if base:
        return base
    if provider.kind == "openai":
        return OPENAI_URL
    if provider.kind == "anthropic":
        return ANTHROPIC_URL
    raise ConfigurationError(f"{KIND_LABELS.get(provider.kind, provider.kind)} needs a base URL.")


def _client(
    provider: LLMProvider, *, timeout: float, max_retries: int, deadline: float | None = None
) -> tuple[ProviderHTTP, str]:
    """The HTTP session for this provider and the chat path relative to its base URL."""
    kind = provider.kind
    label = KIND_LABELS.get(kind, kind)
    key = _api_key(provider)
    base = base_url_for(provider)
    if kind in ("openai", "anthropic", "azure_openai") and not key:
        raise ConfigurationError(f"{label} needs an API key.")
    if kind == "anthropic":
        headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        path = "messages"
    elif kind == "azure_openai":
        headers = {"api-key": key}
        path = "openai/deployments/{deployment}/chat/completions"
    elif kind == "ollama":
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        path = "chat/completions" if urlsplit(base).path.rstrip("/").endswith("/v1") else "v1/chat/completions"
    elif kind in ("openai", "openai_compatible"):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        path = "chat/completions"
    else:
        raise ConfigurationError(f"Unknown LLM provider kind {kind!r}.")
    http = ProviderHTTP(
        provider=label,
        base_url=base,
        connection_key=f"llm:{current_schema()}:{provider._meta.db_table}:{provider.pk}",
        headers=lambda: dict(headers),
        timeout=timeout,
        deadline=min(settings.LLM_CALL_DEADLINE, deadline) if deadline is not None else settings.LLM_CALL_DEADLINE,
        max_retries=max_retries,
    )
    return http, path


# --- request and response shapes -----------------------------------------------------------------------------


def _tool_spec(tool: dict) -> dict:
    """{name, description, parameters} from either tool shape."""
    spec = tool.get("function") or tool
    return {
        "name": spec["name"],
        "description": spec.get("description", ""),
        "parameters": spec.get("parameters") or spec.get("input_schema") or {"type": "object", "properties": {}},
    }


def _arguments(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {"_raw": str(value)}  # the model produced invalid JSON; the caller sees what it sent
    return parsed if isinstance(parsed, dict) else {"_value": parsed}


def _openai_tool_call(call: dict) -> dict:
    if "function" in call:
        return call
    arguments = call.get("arguments", {})
    return {
        "id": call.get("id", ""),
        "type": "function",
        "function": {
            "name": call["name"],
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        },
    }


def _openai_messages(messages: list[dict]) -> list[dict]:
    out = []
    for message in messages:
        item = dict(message)
        if item.get("tool_calls"):
            item["tool_calls"] = [_openai_tool_call(call) for call in item["tool_calls"]]
        out.append(item)
    return out


def _is_reasoning(model: str) -> bool:
    name = model.lower().rsplit("/", 1)[-1]
    return any(name == prefix or name.startswith(f"{prefix}-") for prefix in REASONING_PREFIXES)


def _openai_body(provider: LLMProvider, *, model: str, messages, temperature, tools, max_tokens: int | None) -> dict:
    body: dict[str, Any] = {"messages": _openai_messages(messages)}
    if provider.kind != "azure_openai":  # Azure names the model (deployment) in the URL
        body["model"] = model
    reasoning = provider.kind in ("openai", "azure_openai") and _is_reasoning(model)
    if not reasoning:
        body["temperature"] = float(temperature)
    if max_tokens is not None:
        body["max_completion_tokens" if reasoning else "max_tokens"] = max_tokens
    if tools:
        body["tools"] = [{"type": "function", "function": _tool_spec(tool)} for tool in tools]
    return body


def _openai_result(data: Any, *, label: str, model: str) -> ChatResult:
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise BadResponseError(f"{label} answered without a chat completion choice.") from None
    calls = [
        {
            "id": call.get("id", ""),
            "name": call.get("function", {}).get("name", ""),
            "arguments": _arguments(call.get("function", {}).get("arguments")),
        }
        for call in message.get("tool_calls") or []
    ]
    usage = data.get("usage") or {}
    return ChatResult(
        content=message.get("content") or "",
        tool_calls=calls,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        model=data.get("model") or model,
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _anthropic_messages(messages: list[dict]) -> tuple[str, list[dict]]:
    """(system prompt, messages): system messages are lifted out; tool calls and results become content blocks;
    consecutive messages of the same role are merged, as the Messages API expects alternating turns."""
    system: list[str] = []
    out: list[dict] = []

    def add(role: str, blocks: list[dict]) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for message in messages:
        role = message.get("role")
        if role == "system":
            system.append(_text(message.get("content")))
        elif role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": _text(message.get("content")),
            }
            add("user", [block])
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = _text(message.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in message.get("tool_calls") or []:
                spec = call.get("function", call)
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id", ""),
                        "name": spec.get("name", ""),
                        "input": _arguments(spec.get("arguments")),
                    }
                )
            add("assistant", blocks or [{"type": "text", "text": ""}])
        else:
            add("user", [{"type": "text", "text": _text(message.get("content"))}])
    return "\n\n".join(part for part in system if part), out


def _anthropic_body(*, model: str, messages, temperature, tools, max_tokens: int | None) -> dict:
    system, converted = _anthropic_messages(messages)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens or ANTHROPIC_DEFAULT_MAX_TOKENS,
        "messages": converted,
        "temperature": min(float(temperature), 1.0),  # Anthropic's range is 0..1
    }
    if system:
        body["system"] = system
    if tools:
        body["tools"] = [
            {"name": spec["name"], "description": spec["description"], "input_schema": spec["parameters"]}
            for spec in map(_tool_spec, tools)
        ]
    return body


def _anthropic_result(data: Any, *, model: str) -> ChatResult:
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise BadResponseError("Anthropic answered without message content.")
    texts, calls = [], []
    for block in data["content"]:
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append(
                {"id": block.get("id", ""), "name": block.get("name", ""), "arguments": block.get("input") or {}}
            )
    usage = data.get("usage") or {}
    return ChatResult(
        content="".join(texts),
        tool_calls=calls,
        prompt_tokens=int(usage.get("input_tokens") or 0),
        completion_tokens=int(usage.get("output_tokens") or 0),
        model=data.get("model") or model,
    )


# --- public --------------------------------------------------------------------------------------------------


def chat(
    provider: LLMProvider,
    *,
    model: str | None,
    messages: list[dict],
    temperature: float,
    tools: list[dict] | None = None,
    timeout: float = 60,
    deadline: float | None = None,
    max_tokens: int | None = None,
    max_retries: int = CHAT_MAX_RETRIES,
) -> ChatResult:
    """One chat completion. Raises apps.connectors.exceptions types: AuthenticationError (bad key),
    RateLimitedError (429 after the retries), ProviderUnavailableError (timeout, network, 5xx),
    ProviderRequestError (other 4xx), BadResponseError, ConfigurationError (incomplete provider)."""
    model = (model or provider.default_model or "").strip()
    label = KIND_LABELS.get(provider.kind, provider.kind)
    if not model:
        raise ConfigurationError(f"{label}: no model configured.")
    http, path = _client(provider, timeout=timeout, max_retries=max_retries, deadline=deadline)
    with http:
        if provider.kind == "anthropic":
            body = _anthropic_body(
                model=model, messages=messages, temperature=temperature, tools=tools, max_tokens=max_tokens
            )
            return _anthropic_result(http.json("POST", path, json_body=body), model=model)
        params = None
        if provider.kind == "azure_openai":
            if not provider.api_version:
                raise ConfigurationError("Azure OpenAI needs an API version.")
            path = path.format(deployment=quote(model, safe=""))
            params = {"api-version": provider.api_version}
        body = _openai_body(
            provider, model=model, messages=messages, temperature=temperature, tools=tools, max_tokens=max_tokens
        )
        return _openai_result(http.json("POST", path, params=params, json_body=body), label=label, model=model)


def test_provider(provider: LLMProvider) -> tuple[bool, int, str]:
    """One tiny real call with the default model (a one-token chat; for OpenAI itself, reading the model), so the
    key, the endpoint and the model are all checked: (ok, latency in ms, error safe to show; empty when ok)."""
    started = time.perf_counter()
    error = ""
    try:
        if provider.kind == "openai" and provider.default_model:
            # free, and reasoning models may refuse a one-token completion
            http, _path = _client(provider, timeout=20, max_retries=0)
            with http:
                http.json("GET", f"models/{quote(provider.default_model, safe='')}")
            return True, int((time.perf_counter() - started) * 1000), ""
        chat(
            provider,
            model=None,
            messages=[{"role": "user", "content": "ping"}],
            temperature=0,
            timeout=20,
            max_tokens=1,
            max_retries=0,
        )
    except ConnectorError as exc:
        error = exc.message
    return not error, int((time.perf_counter() - started) * 1000), error[:500]


test_provider.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported into one
