"use client";

// Run history: a filterable, paged table that refreshes itself while a run is going.
import Link from "next/link";
import { useState } from "react";
import useSWR from "swr";

import { AsyncList, Badge, EmptyState, FilterSelect, Table, Time } from "@/components/ui";
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
          <FilterSelect
            label="Workflow"
            value={configFilter}
            onChange={(value) => {
              setConfigFilter(value);
              setOffset(0);
            }}
            any="All workflows"
            options={(configs ?? []).map((c) => ({ value: c.id, label: c.name }))}
          />
        ) : null}
        <FilterSelect
          label="Status"
          value={status}
          onChange={(value) => {
            setStatus(value);
            setOffset(0);
          }}
          any="Any status"
          options={RUN_STATUSES.map((s) => ({ value: s, label: statusLabel(s) }))}
        />
      </div>
      <AsyncList
        query={{ data, error, mutate }}
        empty={
          <EmptyState title="No runs yet">
            {configFilter || status
              ? "No run matches these filters."
              : "Runs appear here when a schedule fires or someone runs a workflow."}
          </EmptyState>
        }
        pager={{ offset, limit: LIMIT, onChange: setOffset }}
      >
        {(page) => (
          <Table
            caption="Workflow runs"
            testId="runs-table"
            columns={["Run", "Workflow", "Status", "Trigger", "Started", "Finished", "Duration"]}
          >
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
          </Table>
        )}
      </AsyncList>
    </div>
  );
}
