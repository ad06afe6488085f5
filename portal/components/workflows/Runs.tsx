"use client";

// Run history: a filterable, paged table that refreshes itself while a run is going.
import Link from "next/link";
import { useState } from "react";
import useSWR from "swr";

import { Async, Badge, EmptyState, Field, Pager, Time } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";

import { ACTIVE_STATUSES, type Config, RUN_STATUSES, type Run, runDuration, statusLabel } from "./data";

const TONE: Record<string, string> = {
  running: "wait",
  waiting_approval: "wait",
  completed: "ok",
  failed: "bad",
  timed_out: "bad",
  terminated: "muted",
  cancelled: "muted",
  scheduled: "ok",
  paused: "wait",
  manual: "neutral",
  pending: "wait",
  approved: "ok",
  rejected: "bad",
  expired: "muted",
};

export function StatusBadge({ status }: { status: string }) {
  return (
    <Badge tone={TONE[status] ?? "neutral"}>
      <span data-status={status}>{statusLabel(status)}</span>
    </Badge>
  );
}

type Status = Run["status"];
const LIMIT = 20;

export function RunsTable({ config, configs }: { config?: number; configs?: Config[] }) {
  const [configFilter, setConfigFilter] = useState<string>(config ? String(config) : "");
  const [status, setStatus] = useState<string>("");
  const [offset, setOffset] = useState(0);
  const query = {
    limit: LIMIT,
    offset,
    ...(configFilter ? { config: Number(configFilter) } : {}),
    ...(status ? { status: status as Status } : {}),
  };
  const { data, error, mutate } = useSWR(
    ["workflows:runs", query.config ?? null, status, offset],
    () => unwrap(api.GET("/api/v1/workflows/runs/", { params: { query } })),
    {
      refreshInterval: (latest) =>
        latest?.results.some((r) => ACTIVE_STATUSES.includes(r.status)) ? 2000 : 15000,
    },
  );

  return (
    <div className="stack">
      <div className="row wf-filters">
        {config === undefined ? (
          <Field label="Workflow">
            {(props) => (
              <select
                {...props}
                value={configFilter}
                onChange={(e) => {
                  setConfigFilter(e.target.value);
                  setOffset(0);
                }}
              >
                <option value="">All workflows</option>
                {(configs ?? []).map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        ) : null}
        <Field label="Status">
          {(props) => (
            <select
              {...props}
              value={status}
              onChange={(e) => {
                setStatus(e.target.value);
                setOffset(0);
              }}
            >
              <option value="">Any status</option>
              {RUN_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {statusLabel(s)}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <Async
        data={data}
        error={error}
        retry={() => mutate()}
        isEmpty={(d) => d.results.length === 0}
        empty={
          <EmptyState title="No runs yet">
            {configFilter || status
              ? "No run matches these filters."
              : "Runs appear here when a schedule fires or someone runs a workflow."}
          </EmptyState>
        }
      >
        {(page) => (
          <>
            <div className="table-wrap">
              <table data-testid="runs-table">
                <caption className="visually-hidden">Workflow runs</caption>
                <thead>
                  <tr>
                    <th scope="col">Run</th>
                    <th scope="col">Workflow</th>
                    <th scope="col">Status</th>
                    <th scope="col">Trigger</th>
                    <th scope="col">Started</th>
                    <th scope="col">Finished</th>
                    <th scope="col">Duration</th>
                  </tr>
                </thead>
                <tbody>
                  {page.results.map((run) => (
                    <tr key={run.id}>
                      <td>
                        <Link href={`/dashboard/workflows/runs/${run.id}`}>Run #{run.id}</Link>
                      </td>
                      <td>{run.config_name ?? run.template}</td>
                      <td>
                        <StatusBadge status={run.status} />
                        {run.error ? (
                          <div className="muted wf-clip" title={run.error}>
                            {run.error}
                          </div>
                        ) : null}
                      </td>
                      <td>{run.trigger}</td>
                      <td>
                        <Time value={run.started_at} />
                      </td>
                      <td>
                        <Time value={run.finished_at} />
                      </td>
                      <td>{runDuration(run)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager offset={offset} limit={LIMIT} count={page.count} onChange={setOffset} />
          </>
        )}
      </Async>
    </div>
  );
}
