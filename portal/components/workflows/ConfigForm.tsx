"use client";

// Create or edit a workflow configuration: name, the template's parameters, the schedule, overlap policy and
// whether it is enabled. The API's field errors (parameters.* included) show next to their controls.
import { useState } from "react";

import { Async, Button, Field, FormError } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";
import { useSubmit } from "@/lib/useForm";

import { type Config, type Template, useAgents, useConnections, useConnectors } from "./data";
import { ParamFields, type ParamValues, defaultValues, toPayload } from "./ParamFields";
import { OVERLAP_POLICIES, browserTimeZone } from "./schedule";
import { ScheduleEditor, type ScheduleValue } from "./ScheduleEditor";

type Overlap = Config["overlap_policy"];

export function ConfigForm({
  template,
  config,
  onSaved,
  onCancel,
  defaultTimeZone,
}: {
  template: Template;
  config?: Config;
  /** The saved config; `error` when it was saved but its schedule could not be synced (503). */
  onSaved: (id: number, error?: ApiError) => void;
  onCancel?: () => void;
  defaultTimeZone?: string;
}) {
  const connections = useConnections();
  const connectors = useConnectors();
  const agents = useAgents();
  const [name, setName] = useState(config?.name ?? "");
  const [values, setValues] = useState<ParamValues>(() => ({
    ...defaultValues(template.parameters),
    ...((config?.parameters as ParamValues | undefined) ?? {}),
  }));
  const [schedule, setSchedule] = useState<ScheduleValue>({
    cron: config?.schedule_cron ?? "",
    timezone: config?.timezone ?? defaultTimeZone ?? browserTimeZone(),
  });
  const [overlap, setOverlap] = useState<Overlap>(config?.overlap_policy ?? "skip");
  const [enabled, setEnabled] = useState(config?.enabled ?? true);

  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    const body = {
      name,
      template: template.key,
      parameters: toPayload(template.parameters, values),
      schedule_cron: schedule.cron.trim(),
      timezone: schedule.timezone,
      overlap_policy: overlap,
      enabled,
    };
    try {
      const saved = config
        ? await unwrap(
            api.PATCH("/api/v1/workflows/configs/{id}/", { params: { path: { id: String(config.id) } }, body }),
          )
        : await unwrap(api.POST("/api/v1/workflows/configs/", { body }));
      onSaved(saved.id);
    } catch (err) {
      // saved, but Temporal could not take the schedule: the config exists and says so
      const savedId = (err instanceof ApiError && (err.body as { config?: unknown } | null)?.config) as unknown;
      if (err instanceof ApiError && err.status === 503 && typeof savedId === "number") {
        onSaved(savedId, err);
        return;
      }
      throw err;
    }
  });

  const shown = [
    "name",
    "template",
    "schedule_cron",
    "timezone",
    "overlap_policy",
    "enabled",
    ...template.parameters.map((p) => `parameters.${p.name}`),
  ];
  const lists =
    connections.data && connectors.data && agents.data
      ? { connections: connections.data.results, connectors: connectors.data, agents: agents.data.results }
      : undefined;

  return (
    <form
      className="stack wf-form"
      noValidate
      aria-label={config ? `Edit ${config.name}` : `New ${template.name} workflow`}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <FormError error={error} shown={shown} />
      <Field label="Name" errors={errorsFor("name")}>
        {(props) => <input {...props} type="text" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Async
        data={lists}
        error={connections.error ?? connectors.error ?? agents.error}
        retry={() => {
          void connections.mutate();
          void connectors.mutate();
          void agents.mutate();
        }}
      >
        {(data) => (
          <fieldset className="wf-params">
            <legend>Parameters</legend>
            {template.parameters.some((p) => p.type === "connection") && data.connections.length === 0 ? (
              <p className="alert alert-info">
                This template reads or writes through a connection: <a href="/dashboard/connectors">connect a
                service</a> first.
              </p>
            ) : null}
            {template.parameters.some((p) => p.type === "agent") && data.agents.length === 0 ? (
              <p className="alert alert-info">
                This template needs an agent: <a href="/dashboard/agents">create one</a> first.
              </p>
            ) : null}
            <ParamFields
              params={template.parameters}
              values={values}
              onChange={setValues}
              errorsFor={errorsFor}
              connections={data.connections}
              connectors={data.connectors}
              agents={data.agents}
            />
          </fieldset>
        )}
      </Async>
      <ScheduleEditor
        value={schedule}
        onChange={setSchedule}
        errors={{ schedule_cron: errorsFor("schedule_cron"), timezone: errorsFor("timezone") }}
        saved={
          config
            ? {
                cron: config.schedule_cron,
                timezone: config.timezone,
                nextRuns: config.next_runs,
                enabled: config.enabled,
              }
            : undefined
        }
      />
      <Field
        label="When a run is still going at the next start"
        errors={errorsFor("overlap_policy")}
      >
        {(props) => (
          <select {...props} value={overlap} onChange={(e) => setOverlap(e.target.value as Overlap)}>
            {OVERLAP_POLICIES.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <div className="field">
        <label className="checkbox">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
          Enabled (a disabled workflow's schedule is paused; it can still be run by hand)
        </label>
        {errorsFor("enabled").length ? <p className="field-error">{errorsFor("enabled").join(" ")}</p> : null}
      </div>
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={busy}>
          {config ? "Save changes" : "Create workflow"}
        </Button>
        {onCancel ? <Button onClick={onCancel}>Cancel</Button> : null}
      </div>
    </form>
  );
}
