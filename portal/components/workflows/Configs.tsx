"use client";

// The tenant's configured workflows: schedule in words, state, next and last run, and quick actions.
import Link from "next/link";
import { useRouter } from "next/navigation";

import { Button, Table, Time } from "@/components/ui";
import { type Schemas, api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

import type { Config, Template } from "./data";
import { StatusBadge } from "./Runs";
import { formatInZone, scheduleInWords } from "./schedule";

function LastRun({ run }: { run: Config["last_run"] }) {
  if (!run) return <span className="muted">Never run</span>;
  return (
    <Link href={`/dashboard/workflows/runs/${run.id}`} aria-label={`Last run #${run.id}: ${run.status}`}>
      <StatusBadge status={run.status} /> <Time value={run.at} />
    </Link>
  );
}

/** A button acting on a workflow in a table row, with its error next to it. */
function InlineAction({
  label,
  ariaLabel,
  busy,
  error,
  onClick,
  failed,
}: {
  label: string;
  ariaLabel: string;
  busy: boolean;
  error: unknown;
  onClick: () => unknown;
  failed: string;
}) {
  return (
    <span className="wf-inline-action">
      <Button busy={busy} onClick={() => void onClick()} aria-label={ariaLabel}>
        {label}
      </Button>
      {error ? (
        <span className="field-error" role="alert">
          {error instanceof Error ? error.message : failed}
        </span>
      ) : null}
    </span>
  );
}

export function RunNowButton({ config, label = "Run now" }: { config: Config; label?: string }) {
  const router = useRouter();
  const { submit, busy, error } = useSubmit(async () => {
    const run = await unwrap(
      api.POST("/api/v1/workflows/configs/{id}/run/", { params: { path: { id: String(config.id) } } }),
    );
    router.push(`/dashboard/workflows/runs/${run.id}`);
  });
  return (
    <InlineAction
      label={label}
      ariaLabel={`${label}: ${config.name}`}
      busy={busy}
      error={error}
      onClick={submit}
      failed="Could not start it."
    />
  );
}

export function PauseButton({ config, onDone }: { config: Config; onDone: (c: Config) => void }) {
  const { submit, busy, error } = useSubmit(async () => {
    const saved = await unwrap(
      api.PATCH("/api/v1/workflows/configs/{id}/", {
        params: { path: { id: String(config.id) } },
        body: { enabled: !config.enabled } as Schemas["PatchedWorkflowConfigWriteRequest"],
      }),
    );
    onDone(saved);
  });
  const label = config.enabled ? "Pause" : "Resume";
  return (
    <InlineAction
      label={label}
      ariaLabel={`${label} ${config.name}`}
      busy={busy}
      error={error}
      onClick={submit}
      failed="Could not change it."
    />
  );
}

export function ConfigsTable({
  configs,
  templates,
  onChanged,
}: {
  configs: Config[];
  templates: Template[];
  onChanged: () => void;
}) {
  const { can } = useSession();
  const templateName = (key: string) => templates.find((t) => t.key === key)?.name ?? key;
  return (
    <Table
      caption="Configured workflows"
      testId="configs-table"
      columns={["Name", "Template", "Schedule", "State", "Next run", "Last run", can("workflows", "use") ? "Actions" : null]}
    >
      {configs.map((c) => (
        <tr key={c.id} data-testid={`config-row-${c.id}`}>
          <td>
            <Link href={`/dashboard/workflows/${c.id}`}>{c.name}</Link>
          </td>
          <td>{templateName(c.template)}</td>
          <td>
            <span data-testid="config-schedule">{scheduleInWords(c.schedule_cron, c.timezone)}</span>
            {c.schedule_error ? (
              <div className="field-error" role="note">
                Schedule not in sync: {c.schedule_error}
              </div>
            ) : null}
          </td>
          <td>
            <StatusBadge status={c.schedule} />
          </td>
          <td>
            {c.next_runs[0] ? (
              <time dateTime={c.next_runs[0]}>{formatInZone(c.next_runs[0], c.timezone)}</time>
            ) : (
              <span className="muted">—</span>
            )}
          </td>
          <td>
            <LastRun run={c.last_run} />
          </td>
          {can("workflows", "use") ? (
            <td>
              <div className="row wf-row-actions">
                <RunNowButton config={c} />
                {can("workflows", "configure") && c.schedule_cron ? (
                  <PauseButton config={c} onDone={onChanged} />
                ) : null}
              </div>
            </td>
          ) : null}
        </tr>
      ))}
    </Table>
  );
}
