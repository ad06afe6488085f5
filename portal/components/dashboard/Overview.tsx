"use client";

import Link from "next/link";

import { TimeChart, type Point } from "@/components/dashboard/TimeChart";
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

const STATUS_LABELS: Record<string, string> = {
  active: "Healthy",
  pending: "Not tested",
  error: "Error",
  needs_reauth: "Needs re-authorisation",
};
const STATUS_TONES: Record<string, string> = { active: "ok", pending: "wait", error: "bad", needs_reauth: "bad" };

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
                  <Badge tone={STATUS_TONES[c.status]}>{STATUS_LABELS[c.status] ?? c.status}</Badge>
                </div>
                <div className="muted">{c.provider}</div>
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
  return (
    <div className="stack">
      <section className="stat-grid" aria-label={`Totals ${span}`}>
        <Stat
          label="Connections"
          value={data.connections.total}
          detail={`${data.connections.by_status.active} healthy`}
          testId="total-connections"
        />
        <Stat
          label="Events received"
          value={totals.events.total}
          detail={`${totals.events.failed} failed`}
          testId="total-events"
        />
        <Stat
          label="Webhook deliveries"
          value={totals.deliveries.total}
          detail={delivered == null ? "none yet" : `${delivered}% delivered, ${totals.deliveries.failed} failed`}
          testId="total-deliveries"
        />
        <Stat
          label="Agent runs"
          value={totals.agent_runs.total}
          detail={`${totals.agent_runs.tokens.toLocaleString()} tokens`}
          testId="total-agent-runs"
        />
        <Stat
          label="Workflow runs"
          value={totals.workflow_runs.total}
          detail={`${totals.workflow_runs.failed} failed`}
          testId="total-workflow-runs"
        />
      </section>
      <ConnectionHealth connections={data.connections} />
      <div className="chart-grid">
        <Card>
          <TimeChart
            title="Events received"
            description={`By status, ${span}.`}
            kind="area"
            bucket={bucket}
            points={series.events as unknown as Point[]}
            series={[
              { key: "processed", label: "Processed", color: OK },
              { key: "pending", label: "Pending", color: WAIT },
              { key: "failed", label: "Failed", color: BAD },
            ]}
            testId="chart-events"
          />
        </Card>
        <Card>
          <TimeChart
            title="Webhook deliveries"
            description={`By outcome, ${span}.`}
            bucket={bucket}
            points={series.deliveries as unknown as Point[]}
            series={[
              { key: "delivered", label: "Delivered", color: OK },
              { key: "pending", label: "Pending", color: WAIT },
              { key: "failed", label: "Failed", color: BAD },
            ]}
            testId="chart-deliveries"
          />
        </Card>
        <Card>
          <TimeChart
            title="Agent runs"
            description={`By status, ${span}; ${totals.agent_runs.tokens.toLocaleString()} tokens used.`}
            bucket={bucket}
            points={series.agent_runs as unknown as Point[]}
            series={[
              { key: "succeeded", label: "Succeeded", color: OK },
              { key: "running", label: "Running", color: INFO },
              { key: "queued", label: "Queued", color: WAIT },
              { key: "failed", label: "Failed", color: BAD },
              { key: "cancelled", label: "Cancelled", color: MUTED },
            ]}
            testId="chart-agent-runs"
          />
        </Card>
        <Card>
          <TimeChart
            title="Workflow runs"
            description={`By status, ${span}.`}
            bucket={bucket}
            points={series.workflow_runs as unknown as Point[]}
            series={[
              { key: "completed", label: "Completed", color: OK },
              { key: "running", label: "Running", color: INFO },
              { key: "waiting_approval", label: "Waiting for approval", color: WAIT },
              { key: "failed", label: "Failed", color: BAD },
              { key: "timed_out", label: "Timed out", color: "#c2255c" },
              { key: "cancelled", label: "Cancelled", color: MUTED },
              { key: "terminated", label: "Terminated", color: "#495057" },
            ]}
            testId="chart-workflow-runs"
          />
        </Card>
      </div>
    </div>
  );
}
