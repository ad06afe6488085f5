"use client";

// Approvals: what a waiting run would publish, approve or reject it (with a comment), and who decided.
import Link from "next/link";
import { useState } from "react";
import useSWR from "swr";

import { AsyncList, Button, Card, Dialog, EmptyState, Field, FormError, Time } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

import { type Approval, useMemberNames } from "./data";
import { StatusBadge } from "./Runs";

export function Preview({ preview }: { preview: unknown }) {
  const p = (preview ?? {}) as { action?: string; input?: Record<string, unknown> };
  if (!p.input || typeof p.input !== "object") {
    return <pre className="wf-json">{JSON.stringify(preview, null, 2)}</pre>;
  }
  return (
    <div className="wf-preview" data-testid="approval-preview">
      {p.action ? (
        <p>
          Action: <code>{p.action}</code>
        </p>
      ) : null}
      <dl>
        {Object.entries(p.input).map(([key, value]) => (
          <div key={key}>
            <dt>{key}</dt>
            <dd>{typeof value === "string" ? value : <pre className="wf-json">{JSON.stringify(value, null, 2)}</pre>}</dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

function Decide({ approval, onDecided }: { approval: Approval; onDecided: () => void }) {
  const [open, setOpen] = useState<null | "approve" | "reject">(null);
  const [comment, setComment] = useState("");
  const { submit, busy, error, errorsFor, setError } = useSubmit(async (decision: "approve" | "reject") => {
    const params = { params: { path: { id: String(approval.id) } }, body: { comment } };
    if (decision === "approve") await unwrap(api.POST("/api/v1/workflows/approvals/{id}/approve/", params));
    else await unwrap(api.POST("/api/v1/workflows/approvals/{id}/reject/", params));
    setOpen(null);
    onDecided();
  });
  const openWith = (decision: "approve" | "reject") => {
    setError(null);
    setComment("");
    setOpen(decision);
  };
  return (
    <>
      <div className="row">
        <Button variant="primary" onClick={() => openWith("approve")}>
          Approve
        </Button>
        <Button variant="danger" onClick={() => openWith("reject")}>
          Reject
        </Button>
      </div>
      <Dialog
        open={open !== null}
        title={open === "reject" ? "Reject and skip publishing" : "Approve and publish"}
        onClose={() => setOpen(null)}
        footer={
          <>
            <Button onClick={() => setOpen(null)}>Cancel</Button>
            <Button
              variant={open === "reject" ? "danger" : "primary"}
              busy={busy}
              onClick={() => open && void submit(open)}
            >
              {open === "reject" ? "Reject" : "Approve"}
            </Button>
          </>
        }
      >
        <FormError error={error} shown={["comment"]} />
        <Field label="Comment (optional)" errors={errorsFor("comment")}>
          {(props) => (
            <textarea {...props} rows={3} maxLength={500} value={comment} onChange={(e) => setComment(e.target.value)} />
          )}
        </Field>
      </Dialog>
    </>
  );
}

export function ApprovalItem({ approval, onDecided }: { approval: Approval; onDecided: () => void }) {
  const { can } = useSession();
  const nameOf = useMemberNames();
  return (
    <article className="wf-approval" aria-label={`Approval of ${approval.step} in run ${approval.run}`}>
      <div className="spread">
        <div>
          <strong>{approval.step}</strong> in <Link href={`/dashboard/workflows/runs/${approval.run}`}>run #{approval.run}</Link>{" "}
          <span className="muted">({approval.template})</span>
        </div>
        <StatusBadge status={approval.status} />
      </div>
      <p className="muted">
        Asked <Time value={approval.requested_at} />
        {approval.expires_at ? (
          <>
            {" "}
            · expires <Time value={approval.expires_at} />
          </>
        ) : null}
      </p>
      <Preview preview={approval.preview} />
      {approval.status === "pending" ? (
        can("workflows", "use") ? (
          <Decide approval={approval} onDecided={onDecided} />
        ) : (
          <p className="muted">Your role can read approvals but not decide them.</p>
        )
      ) : (
        <p data-testid="approval-decision">
          {approval.status === "expired" ? (
            "Expired without a decision."
          ) : (
            <>
              {approval.status === "approved" ? "Approved" : "Rejected"} by {nameOf(approval.decided_by_id)}{" "}
              <Time value={approval.decided_at} />
              {approval.comment ? <> — “{approval.comment}”</> : null}
            </>
          )}
        </p>
      )}
    </article>
  );
}

export function ApprovalsPanel({ onDecided }: { onDecided?: () => void }) {
  const pending = useSWR(
    "workflows:approvals:pending",
    () => unwrap(api.GET("/api/v1/workflows/approvals/", { params: { query: { status: "pending", limit: 50 } } })),
    { refreshInterval: 5000 },
  );
  const recent = useSWR("workflows:approvals:recent", () =>
    unwrap(api.GET("/api/v1/workflows/approvals/", { params: { query: { limit: 20 } } })),
  );
  const decided = () => {
    void pending.mutate();
    void recent.mutate();
    onDecided?.();
  };
  return (
    <div className="stack">
      <Card title="Waiting for a decision">
        <AsyncList
          query={pending}
          empty={<EmptyState title="Nothing to approve">Runs that ask for approval before publishing wait here.</EmptyState>}
        >
          {(page) => (
            <div className="stack" data-testid="pending-approvals">
              {page.results.map((a) => (
                <ApprovalItem key={a.id} approval={a} onDecided={decided} />
              ))}
            </div>
          )}
        </AsyncList>
      </Card>
      <Card title="Recently decided">
        <AsyncList
          query={recent}
          isEmpty={(d) => d.results.every((a) => a.status === "pending")}
          empty={<p className="muted">No decisions yet.</p>}
        >
          {(page) => (
            <div className="stack" data-testid="decided-approvals">
              {page.results
                .filter((a) => a.status !== "pending")
                .map((a) => (
                  <ApprovalItem key={a.id} approval={a} onDecided={decided} />
                ))}
            </div>
          )}
        </AsyncList>
      </Card>
    </div>
  );
}
