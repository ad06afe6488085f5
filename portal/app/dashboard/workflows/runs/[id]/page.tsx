"use client";

// One run: status, per-step results, error, the agent run, approvals; refreshes while it is going; cancel and retry.
import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import useSWR from "swr";

import { ApprovalItem } from "@/components/workflows/Approvals";
import { ACTIVE_STATUSES, type RunDetail, type Step, runDuration, statusLabel } from "@/components/workflows/data";
import { StatusBadge } from "@/components/workflows/Runs";
import { Async, Button, Card, ConfirmButton, EmptyState, PageHeader, Time, withSuspense } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

function Steps({ steps }: { steps: Step[] }) {
  if (!steps.length) return <EmptyState title="No steps yet">The first step starts in a moment.</EmptyState>;
  return (
    <ol className="wf-steps" data-testid="run-steps">
      {steps.map((step, index) => (
        <li key={`${step.name}-${index}`} className="wf-step">
          <div className="spread">
            <strong>{statusLabel(step.name)}</strong>
            <StatusBadge status={step.status} />
          </div>
          <p className="muted">
            <Time value={step.started_at} /> → <Time value={step.finished_at} />
          </p>
          {step.error ? (
            <p className="field-error" role="note">
              {step.error}
            </p>
          ) : null}
          {step.result !== null && step.result !== undefined ? (
            <details>
              <summary>Result</summary>
              <pre className="wf-json">{JSON.stringify(step.result, null, 2)}</pre>
            </details>
          ) : null}
        </li>
      ))}
    </ol>
  );
}

function Actions({ run, onChange }: { run: RunDetail; onChange: () => void }) {
  const router = useRouter();
  const { can } = useSession();
  const retry = useSubmit(async () => {
    const next = await unwrap(api.POST("/api/v1/workflows/runs/{id}/retry/", { params: { path: { id: String(run.id) } } }));
    router.push(`/dashboard/workflows/runs/${next.id}`);
  });
  if (!can("workflows", "use")) return null;
  const active = ACTIVE_STATUSES.includes(run.status);
  return (
    <div className="row">
      {active ? (
        <ConfirmButton
          label="Cancel run"
          title="Cancel this run"
          message="The run stops where it is; a step already done (such as a published post) is not undone."
          confirmLabel="Cancel run"
          onConfirm={async () => {
            await unwrap(api.POST("/api/v1/workflows/runs/{id}/cancel/", { params: { path: { id: String(run.id) } } }));
            onChange();
          }}
        />
      ) : (
        <Button busy={retry.busy} onClick={() => void retry.submit()}>
          Retry
        </Button>
      )}
      {retry.error ? (
        <span className="field-error" role="alert">
          {retry.error instanceof Error ? retry.error.message : "Could not retry."}
        </span>
      ) : null}
    </div>
  );
}

function RunPage() {
  const { id: rawId } = useParams<{ id: string }>();
  const id = Number(rawId);
  const { data, error, mutate } = useSWR(
    Number.isInteger(id) ? ["workflows:run", id] : null,
    () => unwrap(api.GET("/api/v1/workflows/runs/{id}/", { params: { path: { id: String(id) } } })),
    { refreshInterval: (latest) => (latest && ACTIVE_STATUSES.includes(latest.status) ? 1500 : 0) },
  );
  return (
    <Async data={data} error={error} retry={() => mutate()}>
      {(run) => {
        const params = (run.parameters ?? {}) as Record<string, unknown>;
        const agentId = typeof params.agent === "number" ? params.agent : null;
        const live = ACTIVE_STATUSES.includes(run.status);
        return (
          <>
            <PageHeader
              title={`Run #${run.id}`}
              description={
                <>
                  {run.config ? (
                    <Link href={`/dashboard/workflows/${run.config}`}>{run.config_name ?? run.template}</Link>
                  ) : (
                    run.template
                  )}{" "}
                  · <Link href="/dashboard/workflows?tab=runs">Run history</Link>
                </>
              }
              actions={<Actions run={run} onChange={() => void mutate()} />}
            />
            <Card>
              <dl className="wf-summary" aria-live="polite">
                <div>
                  <dt>Status</dt>
                  <dd data-testid="run-status">
                    <StatusBadge status={run.status} />
                    {live ? <span className="muted"> (updating live)</span> : null}
                  </dd>
                </div>
                <div>
                  <dt>Trigger</dt>
                  <dd>{run.trigger}</dd>
                </div>
                <div>
                  <dt>Started</dt>
                  <dd>
                    <Time value={run.started_at} />
                  </dd>
                </div>
                <div>
                  <dt>Finished</dt>
                  <dd>
                    <Time value={run.finished_at} />
                  </dd>
                </div>
                <div>
                  <dt>Duration</dt>
                  <dd>{runDuration(run)}</dd>
                </div>
                {run.agent_run ? (
                  <div>
                    <dt>Agent run</dt>
                    <dd>
                      {agentId ? (
                        <Link href={`/dashboard/agents/${agentId}`}>Agent run #{run.agent_run}</Link>
                      ) : (
                        <>Agent run #{run.agent_run}</>
                      )}
                    </dd>
                  </div>
                ) : null}
              </dl>
              {run.error ? (
                <div className="alert alert-error" role="alert" data-testid="run-error">
                  {run.error}
                </div>
              ) : null}
            </Card>
            {run.approvals.length ? (
              <Card title="Approvals">
                <div className="stack">
                  {run.approvals.map((a) => (
                    <ApprovalItem key={a.id} approval={a} onDecided={() => void mutate()} />
                  ))}
                </div>
              </Card>
            ) : null}
            <Card title="Steps">
              <Steps steps={Array.isArray(run.steps) ? (run.steps as Step[]) : []} />
            </Card>
            {run.result && typeof run.result === "object" && Object.keys(run.result).length ? (
              <Card title="Result">
                <pre className="wf-json">{JSON.stringify(run.result, null, 2)}</pre>
              </Card>
            ) : null}
          </>
        );
      }}
    </Async>
  );
}

export default withSuspense(RunPage);
