"use client";

import Link from "next/link";

import { HealthBadge, ProviderName } from "@/components/names";

import { TimeChart, type Point, type SeriesKey } from "@/components/dashboard/TimeChart";
import { Badge, Card, EmptyState, Time } from "@/components/ui";
import type { Schemas } from "@/lib/api/client";

export type Overview = Schemas["Overview"];

export const WINDOWS = [
  { days: 1, label: "24 hours" },
  { days: 7, label: "7 days" },
  { days: 30, label: "30 days" },
] as const;

const OK = "#2f9e44";
const BAD = "#e03131";
const WAIT = "#f59f00";
const INFO = "#3b5bdb";
const MUTED = "#868e96";

// The label and colour of each status in the charts.
const SERIES: Record<string, [label: string, color: string]> = {
  processed: ["Processed", OK],
  delivered: ["Delivered", OK],
  succeeded: ["Succeeded", OK],
  completed: ["Completed", OK],
  running: ["Running", INFO],
  queued: ["Queued", WAIT],
  pending: ["Pending", WAIT],
  waiting_approval: ["Waiting for approval", WAIT],
  failed: ["Failed", BAD],
  timed_out: ["Timed out", "#c2255c"],
  cancelled: ["Cancelled", MUTED],
  terminated: ["Terminated", "#495057"],
};

function seriesOf(...keys: string[]): SeriesKey[] {
  return keys.map((key) => ({ key, label: SERIES[key][0], color: SERIES[key][1] }));
}


export function WindowSelector({ days, onChange }: { days: number; onChange: (days: number) => void }) {
  return (
    <div className="segmented" role="group" aria-label="Time window">
      {WINDOWS.map((w) => (
        <button
          key={w.days}
          type="button"
          className={w.days === days ? "btn btn-primary" : "btn"}
          aria-pressed={w.days === days}
          onClick={() => onChange(w.days)}
        >
          {w.label}
        </button>
      ))}
    </div>
  );
}

function Stat({ label, value, detail, testId }: { label: string; value: number | string; detail?: string; testId: string }) {
  return (
    <div className="card stat-card">
      <div className="muted">{label}</div>
      <div className="stat" data-testid={testId}>
        {value}
      </div>
      {detail ? <div className="muted stat-detail">{detail}</div> : null}
    </div>
  );
}

export function isEmptyOverview(data: Overview): boolean {
  const t = data.totals;
  return (
    data.connections.total === 0 &&
    t.events.total === 0 &&
    t.deliveries.total === 0 &&
    t.agent_runs.total === 0 &&
    t.workflow_runs.total === 0
  );
}

export function ConnectionHealth({ connections }: { connections: Overview["connections"] }) {
  const { by_status: s } = connections;
  return (
    <Card
      title="Connections"
      actions={
        <Link className="btn" href="/dashboard/connectors">
          All connectors
        </Link>
      }
    >
      {connections.total === 0 ? (
        <EmptyState
          title="No connections yet"
          action={
            <Link className="btn btn-primary" href="/dashboard/connectors">
              Browse connectors
            </Link>
          }
        >
          Connect a service to see its health here.
        </EmptyState>
      ) : (
        <>
          <p className="muted" data-testid="connection-summary">
            {s.active} healthy, {s.error + s.needs_reauth} failing, {s.pending} not tested — {connections.total} in total.
          </p>
          <ul className="grid connection-cards" aria-label="Connection health">
            {connections.items.map((c) => (
              <li key={c.id} className="card connection-card" data-testid="connection-card">
                <div className="spread">
                  <Link href={`/dashboard/connectors/${c.id}`}>
                    <strong>{c.name}</strong>
                  </Link>
                  <HealthBadge status={c.status} />
                </div>
                <div className="muted">
                  <ProviderName provider={c.provider} />
                </div>
                <div className="muted">
                  Last check: <Time value={c.last_checked_at} />
                  {c.last_latency_ms != null ? ` (${c.last_latency_ms} ms)` : ""}
                </div>
                {c.status !== "active" && c.last_error ? <p className="connection-error">{c.last_error}</p> : null}
              </li>
            ))}
          </ul>
        </>
      )}
    </Card>
  );
}

export function OverviewView({ data }: { data: Overview }) {
  const { totals, series, window } = data;
  const bucket = window.bucket;
  const span = window.days === 1 ? "in the last 24 hours" : `in the last ${window.days} days`;
  const delivered = totals.deliveries.total
    ? Math.round((totals.deliveries.delivered / totals.deliveries.total) * 100)
    : null;
  if (isEmptyOverview(data)) {
    return (
      <Card>
        <EmptyState
          title="Nothing to show yet"
          action={
            <Link className="btn btn-primary" href="/dashboard/connectors">
              Connect your first service
            </Link>
          }
        >
          Your workspace has no connections, events or runs yet. Start by connecting a service on the Connectors
          page; its health, events, deliveries and runs will appear here.
        </EmptyState>
      </Card>
    );
  }
  const stats: { label: string; value: number; detail: string; testId: string }[] = [
    {
      label: "Connections",
      value: data.connections.total,
      detail: `${data.connections.by_status.active} healthy`,
      testId: "total-connections",
    },
    { label: "Events received", value: totals.events.total, detail: `${totals.events.failed} failed`, testId: "total-events" },
    {
      label: "Webhook deliveries",
      value: totals.deliveries.total,
      detail: delivered == null ? "none yet" : `${delivered}% delivered, ${totals.deliveries.failed} failed`,
      testId: "total-deliveries",
    },
    {
      label: "Agent runs",
      value: totals.agent_runs.total,
      detail: `${totals.agent_runs.tokens.toLocaleString()} tokens`,
      testId: "total-agent-runs",
    },
    {
      label: "Workflow runs",
      value: totals.workflow_runs.total,
      detail: `${totals.workflow_runs.failed} failed`,
      testId: "total-workflow-runs",
    },
  ];
  const charts: Omit<React.ComponentProps<typeof TimeChart>, "bucket">[] = [
    {
      title: "Events received",
      description: `By status, ${span}.`,
      kind: "area",
      points: series.events as unknown as Point[],
      series: seriesOf("processed", "pending", "failed"),
      testId: "chart-events",
    },
    {
      title: "Webhook deliveries",
      description: `By outcome, ${span}.`,
      points: series.deliveries as unknown as Point[],
      series: seriesOf("delivered", "pending", "failed"),
      testId: "chart-deliveries",
    },
    {
      title: "Agent runs",
      description: `By status, ${span}; ${totals.agent_runs.tokens.toLocaleString()} tokens used.`,
      points: series.agent_runs as unknown as Point[],
      series: seriesOf("succeeded", "running", "queued", "failed", "cancelled"),
      testId: "chart-agent-runs",
    },
    {
      title: "Workflow runs",
      description: `By status, ${span}.`,
      points: series.workflow_runs as unknown as Point[],
      series: seriesOf("completed", "running", "waiting_approval", "failed", "timed_out", "cancelled", "terminated"),
      testId: "chart-workflow-runs",
    },
  ];
  return (
    <div className="stack">
      <section className="stat-grid" aria-label={`Totals ${span}`}>
        {stats.map((stat) => (
          <Stat key={stat.testId} {...stat} />
        ))}
      </section>
      <ConnectionHealth connections={data.connections} />
      <div className="chart-grid">
        {charts.map((chart) => (
          <Card key={chart.testId}>
            <TimeChart {...chart} bucket={bucket} />
          </Card>
        ))}
      </div>
    </div>
  );
}
