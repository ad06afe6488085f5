"use client";

// The approvals inbox: what agents (and MCP clients) and workflows wait for, in one list. Approve as proposed,
// edit the input and approve (the gateway checks it against the action's schema), or reject with a comment.
import Link from "next/link";
import { useState } from "react";
import useSWR, { useSWRConfig } from "swr";

import { AsyncList, Badge, Button, Card, Dialog, EmptyState, Field, FormError, Time } from "@/components/ui";
import { type Schemas, api, unwrap } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

export type InboxItem = Schemas["InboxItem"];
export const COUNT_KEY = "approvals:count";

type Mode = null | "approve" | "edit" | "reject";

/** The edited input as an object, or the reason it is not one. */
export function parseInput(text: string): { value?: Record<string, unknown>; error?: string } {
  try {
    const value = JSON.parse(text) as unknown;
    if (!value || typeof value !== "object" || Array.isArray(value)) return { error: "Must be a JSON object." };
    return { value: value as Record<string, unknown> };
  } catch (e) {
    return { error: `Not valid JSON: ${(e as Error).message}` };
  }
}

function Decide({ item, onDecided }: { item: InboxItem; onDecided: () => void }) {
  const [mode, setMode] = useState<Mode>(null);
  const [comment, setComment] = useState("");
  const [text, setText] = useState("");
  const [parseError, setParseError] = useState<string | null>(null);
  const { submit, busy, error, setError } = useSubmit(async (decision: Exclude<Mode, null>) => {
    const path = { params: { path: { approval_id: item.id } } };
    if (decision === "reject") {
      await unwrap(api.POST("/api/v1/approvals/{approval_id}/reject/", { ...path, body: { comment } }));
    } else {
      const body: { comment: string; input?: Record<string, unknown> } = { comment };
      if (decision === "edit") {
        const parsed = parseInput(text);
        if (parsed.error) {
          setParseError(parsed.error);
          return;
        }
        body.input = parsed.value;
      }
      await unwrap(api.POST("/api/v1/approvals/{approval_id}/approve/", { ...path, body }));
    }
    setMode(null);
    onDecided();
  });
  const open = (next: Exclude<Mode, null>) => {
    setError(null);
    setParseError(null);
    setComment("");
    setText(JSON.stringify(item.proposed_input ?? {}, null, 2));
    setMode(next);
  };
  // field errors of an edited input come back as `input.<field>`: listed under the editor
  const inputErrors =
    error instanceof ApiError
      ? Object.entries(error.fields)
          .filter(([key]) => key === "input" || key.startsWith("input."))
          .map(([key, messages]) => `${key.replace(/^input\.?/, "") || "input"}: ${messages.join(" ")}`)
      : [];
  const titles = { approve: "Approve as proposed", edit: "Edit and approve", reject: "Reject" } as const;
  return (
    <>
      <div className="row">
        <Button variant="primary" onClick={() => open("approve")}>
          Approve
        </Button>
        {item.kind === "agent" ? <Button onClick={() => open("edit")}>Edit and approve</Button> : null}
        <Button variant="danger" onClick={() => open("reject")}>
          Reject
        </Button>
      </div>
      <Dialog
        open={mode !== null}
        title={mode ? titles[mode] : ""}
        onClose={() => setMode(null)}
        footer={
          <>
            <Button onClick={() => setMode(null)}>Cancel</Button>
            <Button variant={mode === "reject" ? "danger" : "primary"} busy={busy} onClick={() => mode && void submit(mode)}>
              {mode === "reject" ? "Reject" : "Approve"}
            </Button>
          </>
        }
      >
        <FormError error={error} shown={["comment", "input"]} />
        {mode === "edit" ? (
          <Field
            label="Input (JSON)"
            errors={parseError ? [parseError] : inputErrors.length ? inputErrors : undefined}
          >
            {(props) => (
              <textarea
                {...props}
                className="json-editor"
                rows={10}
                spellCheck={false}
                value={text}
                onChange={(e) => {
                  setText(e.target.value);
                  setParseError(null);
                }}
              />
            )}
          </Field>
        ) : null}
        <Field label={mode === "reject" ? "Comment (the agent is told)" : "Comment (optional)"}>
          {(props) => (
            <textarea {...props} rows={3} maxLength={1000} value={comment} onChange={(e) => setComment(e.target.value)} />
          )}
        </Field>
      </Dialog>
    </>
  );
}

function Origin({ item }: { item: InboxItem }) {
  const agent = item.agent as { id: number; name: string } | null;
  const workflow = item.workflow as { run: number; name: string } | null;
  if (agent) {
    return (
      <span>
        Agent <Link href={`/dashboard/agents/${agent.id}`}>{agent.name}</Link>
        {item.run ? (
          <>
            {" "}
            · run #{item.run}
          </>
        ) : null}
      </span>
    );
  }
  if (workflow) {
    return (
      <span>
        Workflow {workflow.name} · <Link href={`/dashboard/workflows/runs/${workflow.run}`}>run #{workflow.run}</Link>
      </span>
    );
  }
  return <span>{item.requested_by || "An MCP client"}</span>;
}

export function ApprovalCard({ item, onDecided }: { item: InboxItem; onDecided: () => void }) {
  const { can } = useSession();
  return (
    <article className="wf-approval" aria-label={item.title} data-testid={`approval-${item.id}`}>
      <div className="spread">
        <div>
          <strong>{item.title}</strong>{" "}
          <span className="muted">
            (<Origin item={item} />)
          </span>
        </div>
        <Badge>{item.status}</Badge>
      </div>
      <p className="muted">
        Asked <Time value={item.requested_at} />
        {item.expires_at ? (
          <>
            {" "}
            · expires <Time value={item.expires_at} />
          </>
        ) : null}
      </p>
      {item.reason ? (
        <p>
          <span className="muted">Why: </span>
          {item.reason}
        </p>
      ) : null}
      <pre className="wf-json" aria-label="Proposed input">
        {JSON.stringify(item.final_input ?? item.proposed_input, null, 2)}
      </pre>
      {item.status === "pending" ? (
        can("approvals", "use") ? (
          <Decide item={item} onDecided={onDecided} />
        ) : (
          <p className="muted">Your role can read approvals but not decide them.</p>
        )
      ) : (
        <p data-testid="approval-decision">
          {item.status === "expired" ? "Expired without a decision." : item.status === "approved" ? "Approved" : "Rejected"}{" "}
          {item.decided_at && item.status !== "expired" ? <Time value={item.decided_at} /> : null}
          {item.comment ? <> — “{item.comment}”</> : null}
          {item.error ? <span className="field-error"> {item.error}</span> : null}
        </p>
      )}
    </article>
  );
}

export function usePendingCount() {
  return useSWR(COUNT_KEY, () => unwrap(api.GET("/api/v1/approvals/count/")), { refreshInterval: 15000 });
}

export function Inbox() {
  const { mutate } = useSWRConfig();
  const [status, setStatus] = useState<"pending" | "">("pending");
  const list = useSWR(["approvals", status], () =>
    unwrap(api.GET("/api/v1/approvals/", { params: { query: { status: status || undefined, limit: 50 } } })),
    { refreshInterval: 5000 },
  );
  const decided = () => {
    void list.mutate();
    void mutate(COUNT_KEY);
  };
  return (
    <Card
      title={status === "pending" ? "Waiting for a decision" : "All approvals"}
      actions={
        <label>
          <span className="visually-hidden">Show</span>
          <select aria-label="Show" value={status} onChange={(e) => setStatus(e.target.value as "pending" | "")}>
            <option value="pending">Waiting</option>
            <option value="">All</option>
          </select>
        </label>
      }
    >
      <AsyncList
        query={list}
        empty={
          <EmptyState title={status === "pending" ? "Nothing to approve" : "No approvals yet"}>
            Agent actions set to “ask” and workflows that ask before publishing wait here for a person.
          </EmptyState>
        }
      >
        {(page) => (
          <div className="stack" data-testid="approvals-inbox">
            {page.results.map((item) => (
              <ApprovalCard key={`${item.kind}-${item.id}`} item={item} onDecided={decided} />
            ))}
          </div>
        )}
      </AsyncList>
    </Card>
  );
}
