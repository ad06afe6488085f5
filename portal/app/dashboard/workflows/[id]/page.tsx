"use client";

// One workflow configuration: its schedule and next runs in its time zone, run now / pause / delete, the
// settings form (admins) or a read-only summary, and its runs.
import Link from "next/link";
import { useParams, useRouter, useSearchParams } from "next/navigation";
import useSWR from "swr";

import { ConfigForm } from "@/components/workflows/ConfigForm";
import { PauseButton, RunNowButton } from "@/components/workflows/Configs";
import {
  type Config,
  type Template,
  useAgents,
  useConnections,
  useTemplates,
} from "@/components/workflows/data";
import { RunsTable, StatusBadge } from "@/components/workflows/Runs";
import { NextRuns } from "@/components/workflows/ScheduleEditor";
import { OVERLAP_POLICIES, scheduleInWords } from "@/components/workflows/schedule";
import { Async, Card, ConfirmButton, Loading, PageHeader, Time, withSuspense } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";

function Summary({ config, template }: { config: Config; template?: Template }) {
  const connections = useConnections();
  const agents = useAgents();
  const values = (config.parameters ?? {}) as Record<string, unknown>;
  const show = (type: string, value: unknown): string => {
    if (value === undefined || value === null || value === "") return "—";
    if (type === "connection") {
      const c = connections.data?.results.find((x) => x.id === value);
      return c ? `${c.name} (${c.provider_name})` : `connection #${String(value)}`;
    }
    if (type === "agent") return agents.data?.results.find((x) => x.id === value)?.name ?? `agent #${String(value)}`;
    if (type === "boolean") return value ? "Yes" : "No";
    if (typeof value === "object") {
      return Object.entries(value as Record<string, { path?: string; value?: unknown }>)
        .map(([k, v]) => `${k} ← ${v.path ?? JSON.stringify(v.value)}`)
        .join(", ");
    }
    return String(value);
  };
  return (
    <dl className="wf-summary">
      {(template?.parameters ?? []).map((p) => (
        <div key={p.name}>
          <dt>{p.label}</dt>
          <dd>{show(p.type, values[p.name])}</dd>
        </div>
      ))}
      <div>
        <dt>When a run is still going</dt>
        <dd>{OVERLAP_POLICIES.find((o) => o.value === config.overlap_policy)?.label ?? config.overlap_policy}</dd>
      </div>
    </dl>
  );
}

function ConfigPage() {
  const { id: rawId } = useParams<{ id: string }>();
  const id = Number(rawId);
  const router = useRouter();
  const search = useSearchParams();
  const { can } = useSession();
  const templates = useTemplates();
  const { data, error, mutate } = useSWR(Number.isInteger(id) ? ["workflows:config", id] : null, () =>
    unwrap(api.GET("/api/v1/workflows/configs/{id}/", { params: { path: { id: String(id) } } })),
  );

  return (
    <Async data={data} error={error ?? (Number.isInteger(id) ? undefined : new Error("Not a workflow id."))} retry={() => mutate()}>
      {(config) => {
        const template = templates.data?.find((t) => t.key === config.template);
        return (
          <>
            <PageHeader
              title={config.name}
              description={
                <>
                  {template?.name ?? config.template} · <Link href="/dashboard/workflows">All workflows</Link>
                </>
              }
              actions={
                <div className="row">
                  {can("workflows", "use") ? <RunNowButton config={config} /> : null}
                  {can("workflows", "configure") && config.schedule_cron ? (
                    <PauseButton config={config} onDone={(saved) => void mutate(saved, { revalidate: false })} />
                  ) : null}
                  {can("workflows", "configure") ? (
                    <ConfirmButton
                      label="Delete"
                      title="Delete this workflow"
                      message={`“${config.name}” and its schedule will be deleted. Its past runs stay in the history.`}
                      confirmLabel="Delete workflow"
                      onConfirm={async () => {
                        await unwrap(
                          api.DELETE("/api/v1/workflows/configs/{id}/", { params: { path: { id: String(config.id) } } }),
                        );
                        router.push("/dashboard/workflows");
                      }}
                    />
                  ) : null}
                </div>
              }
            />
            {search.get("created") ? (
              <p className="alert alert-ok" role="status">
                Workflow created.
              </p>
            ) : null}
            {config.schedule_error ? (
              <div className="alert alert-error" role="alert" data-testid="schedule-error">
                The schedule is not in sync with the workflow engine: {config.schedule_error} It is retried
                automatically; saving again also retries.
              </div>
            ) : null}
            <div className="grid-2 wf-detail">
              <Card title="Schedule" actions={<StatusBadge status={config.schedule} />}>
                <p data-testid="config-schedule">{scheduleInWords(config.schedule_cron, config.timezone)}</p>
                {config.schedule_cron ? (
                  <>
                    <h3 className="wf-subhead">Next runs ({config.timezone})</h3>
                    <NextRuns
                      runs={config.next_runs}
                      timezone={config.timezone}
                      empty={config.enabled ? "No upcoming runs." : "Paused: no runs until it is resumed."}
                    />
                    <p className="muted">
                      In sync since <Time value={config.schedule_synced_at} />
                    </p>
                  </>
                ) : (
                  <p className="muted">Runs only when someone runs it, or a rule starts it.</p>
                )}
              </Card>
              <Card title="Runs">
                <RunsTable config={config.id} />
              </Card>
            </div>
            <Card title="Settings">
              {can("workflows", "configure") && template ? (
                <ConfigForm
                  key={config.updated_at}
                  template={template}
                  config={config}
                  onSaved={() => void mutate()}
                />
              ) : templates.data || templates.error ? (
                <Summary config={config} template={template} />
              ) : (
                <Loading />
              )}
            </Card>
          </>
        );
      }}
    </Async>
  );
}

export default withSuspense(ConfigPage);
