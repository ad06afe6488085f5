"""CrewAI LLM classes: `BizLLM` speaks to the tenant's configured provider through apps.agents.llm_client;
`MeteredLLM` wraps whichever LLM a run uses to record each model call as a step with its token usage.

Tool calls use CrewAI's text (ReAct) format: the agent's prompt lists the tools and the model answers with
`Action:` / `Action Input:` or `Final Answer:`. That works with every provider kind we support (including
OpenAI-compatible endpoints and Ollama models without function calling), and keeps one code path for the tool
permission checks. Imported only by the runner, after CrewAI's environment is set (see runner.prepare_crewai).
"""

from __future__ import annotations

import time
from typing import Any

from crewai.llms.base_llm import BaseLLM, call_stop_override
from pydantic import PrivateAttr

from apps.accounts.quotas import QuotaExceeded
from apps.agents import llm_client
from apps.agents.runs import run_budget_check
from apps.agents.runtime import RunContext, truncate

CONTEXT_WINDOW = 32_768  # a conservative window for the models tenants configure; CrewAI reserves a margin of it
LLM_HTTP_TIMEOUT = 120.0  # seconds for one completion; the run's own deadline usually comes first


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content if part is not None
        )
    return "" if content is None else str(content)


def plain_messages(messages: str | list[dict]) -> list[dict]:
    """CrewAI's messages as plain {"role", "content"} chat messages."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for message in messages:
        role = message.get("role", "user")
        out.append(
            {
                "role": role if role in ("system", "user", "assistant") else "user",
                "content": _text(message.get("content")),
            }
        )
    return out


def approximate_tokens(messages: str | list[dict]) -> int:
    """CrewAI's own fallback estimate (four characters a token), without its warning on every call."""
    return (sum(len(m["content"]) for m in plain_messages(messages)) + 3) // 4


class BizLLM(BaseLLM):
    """The tenant's provider (an apps.agents.models.LLMProvider, held privately: its key never leaves llm_client)."""

    llm_type: str = "bizosaas"
    _provider: Any = PrivateAttr(default=None)
    _timeout: float = PrivateAttr(default=LLM_HTTP_TIMEOUT)
    _ends: float | None = PrivateAttr(default=None)  # the run's deadline (time.monotonic()): no call outlives it

    @classmethod
    def for_agent(cls, agent, *, timeout: float = LLM_HTTP_TIMEOUT, ends: float | None = None) -> BizLLM:
        provider = agent.provider
        llm = cls(
            model=(agent.model or provider.default_model).strip(),
            temperature=float(agent.temperature),
            provider=provider.kind,
        )
        llm._provider = provider
        llm._timeout = timeout
        llm._ends = ends
        return llm

    def call(
        self,
        messages,
        tools=None,
        callbacks=None,
        available_functions=None,
        from_task=None,
        from_agent=None,
        response_model=None,
    ) -> str:
        result = llm_client.chat(
            self._provider,
            model=self.model,
            messages=plain_messages(messages),
            temperature=self.temperature if self.temperature is not None else 0.7,
            tools=None,
            timeout=self._timeout,
            deadline=None if self._ends is None else max(0.0, self._ends - time.monotonic()),
        )
        self._track_token_usage_internal(
            {
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "total_tokens": result.prompt_tokens + result.completion_tokens,
            }
        )
        return self._apply_stop_words(result.content or "")

    def supports_function_calling(self) -> bool:
        return False  # the ReAct text format, see the module docstring

    def get_input_tokens_count(self, messages, tools=None, response_model=None) -> int:
        return approximate_tokens(messages)

    def get_context_window_size(self) -> int:
        return int(CONTEXT_WINDOW * 0.85)


class MeteredLLM(BaseLLM):
    """Delegates to `inner`, refusing once the run is over or the tenant's monthly LLM budget is spent, and records
    every call as an `llm` step."""

    llm_type: str = "metered"
    _inner: Any = PrivateAttr(default=None)
    _ctx: Any = PrivateAttr(default=None)

    @classmethod
    def wrap(cls, inner: BaseLLM, ctx: RunContext) -> MeteredLLM:
        llm = cls(model=inner.model or "unknown", temperature=inner.temperature, provider=inner.provider or "custom")
        llm._inner = inner
        llm._ctx = ctx
        return llm

    @property
    def inner(self) -> BaseLLM:
        return self._inner

    def call(
        self,
        messages,
        tools=None,
        callbacks=None,
        available_functions=None,
        from_task=None,
        from_agent=None,
        response_model=None,
    ) -> Any:
        ctx: RunContext = self._ctx
        ctx.ensure_open()
        before = self._inner.get_token_usage_summary()
        try:
            ctx.call(
                run_budget_check,
                tenant=ctx.tenant,
                run_id=ctx.run_id,
                model=self._inner.model or "",
                prompt_tokens=before.prompt_tokens,
                completion_tokens=before.completion_tokens,
            )
        except QuotaExceeded as exc:
            ctx.llm_error = exc  # the run fails with the budget's message, and the model is not called
            raise
        try:
            with call_stop_override(self._inner, list(self.stop_sequences)):
                answer = self._inner.call(
                    messages,
                    tools=None,
                    callbacks=callbacks,
                    available_functions=available_functions,
                    from_task=from_task,
                    from_agent=from_agent,
                    response_model=response_model,
                )
        except Exception as exc:
            if ctx.llm_error is None:
                ctx.llm_error = exc
            raise
        after = self._inner.get_token_usage_summary()
        prompt = max(after.prompt_tokens - before.prompt_tokens, 0)
        completion = max(after.completion_tokens - before.completion_tokens, 0)
        self._track_token_usage_internal(
            {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        )
        ctx.step("llm", summary=truncate(_text(answer), 1000), prompt_tokens=prompt, completion_tokens=completion)
        ctx.transcript.append({"role": "assistant", "content": _text(answer)})
        return answer

    def supports_function_calling(self) -> bool:
        return False

    def get_input_tokens_count(self, messages, tools=None, response_model=None) -> int:
        return approximate_tokens(messages)

    def supports_stop_words(self) -> bool:
        return self._inner.supports_stop_words()

    def get_context_window_size(self) -> int:
        return self._inner.get_context_window_size()
