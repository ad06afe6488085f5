"use client";

import Link from "next/link";
import { useState } from "react";
import useSWR from "swr";

import { Async, AsyncList, Badge, Button, EmptyState, Field, FormError, Table, Time } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSubmit } from "@/lib/useForm";

import { ACTIVE_RUN, type Run, type RunStep, rows } from "./types";

/** The "Thought:" of a model turn, else its text. */
export function thoughtOf(text: string): string {
  const match = /Thought:\s*([\s\S]*?)(?:\n\s*(?:Action|Final Answer)\s*:|$)/.exec(text);
  return (match ? match[1] : text).trim();
}

function pretty(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

function hasArguments(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === "object") return Object.keys(value as object).length > 0;
  return String(value).length > 0;
}

function cost(value: Run["cost_usd"]): string {
  if (value === null || value === undefined || value === "") return "—";
  const number = Number(value);
  return Number.isNaN(number) ? String(value) : `$${number.toFixed(number < 0.01 ? 6 : 4)}`;
}

const STEP_TITLES: Record<string, string> = {
  llm: "Thought",
  tool_call: "Tool call",
  tool_denied: "Tool denied",
  tool_error: "Tool failed",
  answer: "Final answer",
};

export function StepView({ step }: { step: RunStep }) {
  const title = STEP_TITLES[step.kind] ?? step.kind;
  const tokens = step.prompt_tokens + step.completion_tokens;
  return (
    <li className={`agent-step agent-step-${step.kind}`} data-testid={`step-${step.kind}`} data-kind={step.kind}>
      <div className="spread">
        <strong>
          {step.position}. {title}
          {step.tool ? (
            <>
              {" "}
              <code>{step.tool}</code>
            </>
          ) : null}
        </strong>
        <span className="row">
          {step.kind === "tool_denied" ? <Badge tone="bad">denied</Badge> : null}
          {step.kind === "tool_error" ? <Badge tone="bad">error</Badge> : null}
          {tokens ? <span className="muted">{tokens} tokens</span> : null}
        </span>
      </div>
      {step.kind === "llm" ? <p className="agent-thought">{thoughtOf(step.result_summary)}</p> : null}
      {step.kind === "answer" ? <p className="agent-answer">{step.result_summary}</p> : null}
      {step.kind !== "llm" && step.kind !== "answer" ? (
        <div className="stack agent-io">
          {hasArguments(step.arguments) ? (
            <div>
              <span className="muted">Input</span>
              <pre data-testid="step-input">{pretty(step.arguments)}</pre>
            </div>
          ) : null}
          {step.result_summary ? (
            <div>
              <span className="muted">{step.kind === "tool_call" ? "Output" : "Reason"}</span>
              <pre data-testid="step-output">{step.result_summary}</pre>
            </div>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}

/** A run as it stands: status, each step as it is recorded, the answer or the error, tokens and cost. */
export function RunView({ run, onCancel, canCancel }: { run: Run; onCancel?: () => Promise<unknown>; canCancel?: boolean }) {
  const active = ACTIVE_RUN.has(run.status);
  const steps = run.steps ?? [];
  const cancel = useSubmit(async () => onCancel?.());
  return (
    <div className="stack agent-run" data-testid="run-view" aria-busy={active || undefined}>
      <div className="spread">
        <div className="row">
          <Badge>{run.status}</Badge>
          <span className="muted">Run #{run.id}</span>
          {run.model ? <span className="muted">· {run.model}</span> : null}
        </div>
        {active && canCancel && onCancel ? (
          <Button variant="danger" busy={cancel.busy} onClick={() => cancel.submit()}>
            Cancel run
          </Button>
        ) : null}
      </div>
      <FormError error={cancel.error} />
      <div className="agent-input">
        <span className="muted">Prompt</span>
        <p>{run.input}</p>
      </div>
      <ol className="agent-steps" aria-label="Steps" aria-live="polite">
        {steps.map((step) => (
          <StepView key={step.position} step={step} />
        ))}
      </ol>
      {run.status === "waiting_approval" ? (
        <p className="alert row" role="status" data-testid="run-waiting-approval">
          Waiting for a person to approve an action. Decide it in <Link href="/dashboard/approvals">Approvals</Link>; the
          run goes on from there.
        </p>
      ) : active ? (
        <p className="muted row" role="status">
          <span className="spinner" aria-hidden="true" /> {run.status === "queued" ? "Waiting for a worker…" : "Working…"}
        </p>
      ) : null}
      {run.status === "succeeded" && run.output && !steps.some((s) => s.kind === "answer") ? (
        <div className="agent-answer" data-testid="run-output">
          {run.output}
        </div>
      ) : null}
      {run.error ? (
        <div className="alert alert-error" role="alert" data-testid="run-error">
          {run.error}
        </div>
      ) : null}
      {!active ? (
        <dl className="agent-usage" data-testid="run-usage">
          <div>
            <dt>Tokens</dt>
            <dd>
              {run.prompt_tokens} in · {run.completion_tokens} out
            </dd>
          </div>
          <div>
            <dt>Estimated cost</dt>
            <dd>{cost(run.cost_usd)}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{run.duration_ms !== null && run.duration_ms !== undefined ? `${(run.duration_ms / 1000).toFixed(1)} s` : "—"}</dd>
          </div>
        </dl>
      ) : null}
    </div>
  );
}

function useRun(id: number | null) {
  return useSWR<Run>(
    id ? `agents:run:${id}` : null,
    async () => (await unwrap(api.GET("/api/v1/runs/{id}/", { params: { path: { id: String(id) } } }))) as Run,
    { refreshInterval: (latest) => (!latest || ACTIVE_RUN.has(latest.status) ? 1000 : 0) },
  );
}

/** Start a run with a prompt, watch its steps arrive, cancel it; earlier runs below. */
export function RunPanel({ agentId, enabled, canRun }: { agentId: number; enabled: boolean; canRun: boolean }) {
  const [prompt, setPrompt] = useState("");
  const [currentId, setCurrentId] = useState<number | null>(null);
  const history = useSWR(
    `agents:runs:${agentId}`,
    async () =>
      rows<Run>(await unwrap(api.GET("/api/v1/runs/", { params: { query: { agent: agentId, limit: 10 } } }))),
    { refreshInterval: (latest) => (latest?.some((r) => ACTIVE_RUN.has(r.status)) ? 2000 : 0) },
  );
  const current = useRun(currentId);
  const start = useSubmit(async () => {
    const run = (await unwrap(
      api.POST("/api/v1/agents/{agent_id}/runs/", { params: { path: { agent_id: String(agentId) } }, body: { input: prompt } }),
    )) as Run;
    setCurrentId(run.id);
    setPrompt("");
    await history.mutate();
  });
  const busy = current.data ? ACTIVE_RUN.has(current.data.status) : false;

  return (
    <div className="stack">
      {canRun ? (
        <form
          aria-label="Run the agent"
          onSubmit={(event) => {
            event.preventDefault();
            submitIfReady();
          }}
          noValidate
        >
          <FormError error={start.error} shown={["input"]} />
          <Field
            label="Prompt"
            help={enabled ? "Ctrl+Enter runs it." : "This agent is disabled: enable it in Settings to run it."}
            errors={start.errorsFor("input")}
          >
            {(props) => (
              <textarea
                {...props}
                rows={3}
                value={prompt}
                onChange={(e) => setPrompt(e.target.value)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                    e.preventDefault();
                    submitIfReady();
                  }
                }}
              />
            )}
          </Field>
          <Button type="submit" variant="primary" busy={start.busy} disabled={!prompt.trim() || !enabled || busy}>
            Run
          </Button>
        </form>
      ) : (
        <p className="muted">Your role can read runs; a member can run agents.</p>
      )}
      {currentId ? (
        <Async data={current.data} error={current.error} retry={() => current.mutate()}>
          {(run) => (
            <RunView
              run={run}
              canCancel={canRun}
              onCancel={async () => {
                await unwrap(api.POST("/api/v1/runs/{id}/cancel/", { params: { path: { id: String(run.id) } } }));
                await current.mutate();
                await history.mutate();
              }}
            />
          )}
        </Async>
      ) : null}
      <section aria-label="Run history" className="stack">
        <h3>Recent runs</h3>
        <AsyncList
          query={history}
          empty={<EmptyState title="No runs yet">{canRun ? "Write a prompt above and run the agent." : null}</EmptyState>}
        >
          {(list) => (
            <Table columns={["Started", "Prompt", "Status", "Tokens", <span className="visually-hidden">Open</span>]}>
              {list.map((run) => (
                <tr key={run.id} aria-current={run.id === currentId ? "true" : undefined}>
                  <td>
                    <Time value={run.created_at} />
                  </td>
                  <td className="agent-clip">{run.input}</td>
                  <td>
                    <Badge>{run.status}</Badge>
                  </td>
                  <td>{run.prompt_tokens + run.completion_tokens}</td>
                  <td>
                    <Button variant="ghost" onClick={() => setCurrentId(run.id)} aria-label={`Show run ${run.id}`}>
                      Show
                    </Button>
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </AsyncList>
      </section>
    </div>
  );

  function submitIfReady() {
    if (prompt.trim() && enabled && !busy && !start.busy) start.submit();
  }
}
