"""Going on with a run that paused for an approval, in whichever worker picks it up next.

CrewAI keeps its agent loop in memory only, so a paused run is not continued in place: its next execution builds a
new crew whose task carries the transcript so far (the model's earlier answers and the tools' observations, kept
in AgentRun.resume_state) followed by the decided call's outcome: the approved action's result (performed first,
with the approved input, the grant checked again) or the rejection and its comment. The model then goes on from
there. Runs on the run's own thread, in its tenant schema.
"""

from __future__ import annotations

import json

from apps.agents.models import AgentRun
from apps.agents.runtime import RunContext, truncate

TRANSCRIPT_CHARS = 24_000  # what the resumed task keeps of the transcript (the most recent part)


class RunPaused(Exception):
    """A tool call is waiting for an approval: the run stops here and is resumed later."""


def resume_text(transcript: list) -> str:
    if not transcript:
        return ""
    lines = []
    for entry in transcript:
        content = str(entry.get("content") or "")
        lines.append(content if entry.get("role") == "assistant" else f"Observation: {content}")
    text = "\n\n".join(lines)
    if len(text) > TRANSCRIPT_CHARS:
        text = "…" + text[-TRANSCRIPT_CHARS:]
    return (
        "\n\n---\n"
        "Earlier in this task you already took these steps (oldest first). They happened: do not repeat them, "
        "go on from the last observation.\n\n"
        f"{text}"
    )


def _rejection(decision: dict) -> str:
    comment = (decision.get("comment") or "").strip()
    return (
        "A person rejected this action; it was NOT performed. "
        + (f"Their comment: {comment}" if comment else "They gave no comment.")
        + " Take this into account and go on without performing it."
    )


def apply_decision(run: AgentRun, ctx: RunContext) -> None:
    """Performs the decided call of a resumed run (or tells the model it was rejected), once: the outcome is
    stored before the model is called, so a redelivered task does not perform it again."""
    # heavy: the tools import crewai; loaded only when a resumed run performs its decided call
    from apps.agents.runtime.tools import PerformActionTool

    state = dict(run.resume_state or {})
    decision, pending = state.get("decision"), state.get("pending")
    if not decision or not pending:
        return
    # stored first: a worker lost while performing it does not perform it again (as for rule actions)
    state.pop("decision")
    state.pop("pending")
    AgentRun.objects.filter(pk=run.pk).update(resume_state=state)
    if decision.get("decision") == "approved":
        arguments = {**(pending.get("arguments") or {}), "input": decision.get("input") or {}}
        text = PerformActionTool().bind(ctx)._guarded(arguments, approved=True)
    else:
        text = _rejection(decision)
    ctx.transcript.append({"role": "observation", "content": truncate(text, 12_000)})
    state["transcript"] = ctx.transcript
    AgentRun.objects.filter(pk=run.pk).update(resume_state=json.loads(json.dumps(state, default=str)))
