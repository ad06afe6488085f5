"use client";

import Link from "next/link";
import { useState } from "react";

import { Button, Field, FormError } from "@/components/ui";
import { useSubmit } from "@/lib/useForm";

import type { Agent, Provider } from "./types";

export type SettingsValues = {
  name: string;
  role: string;
  goal: string;
  backstory: string;
  provider: number | null;
  model: string;
  temperature: number;
  max_iterations: number;
  max_execution_time: number;
  enabled: boolean;
};

/** What PATCH /agents/{id}/ accepts (temperature is a decimal string). */
export type SettingsBody = Partial<Omit<SettingsValues, "temperature"> & { temperature: string }>;

const FIELDS: (keyof SettingsValues)[] = [
  "name",
  "role",
  "goal",
  "backstory",
  "provider",
  "model",
  "temperature",
  "max_iterations",
  "max_execution_time",
  "enabled",
];

export function valuesOf(agent: Agent): SettingsValues {
  return {
    name: agent.name,
    role: agent.role,
    goal: agent.goal,
    backstory: agent.backstory,
    provider: agent.provider,
    model: agent.model,
    temperature: Math.round(Number(agent.temperature) * 10) / 10,
    max_iterations: agent.max_iterations,
    max_execution_time: agent.max_execution_time,
    enabled: agent.enabled,
  };
}

/** The fields that differ from the saved agent, in the API's shape. */
export function changedBody(saved: SettingsValues, current: SettingsValues): SettingsBody {
  const body: Record<string, unknown> = {};
  for (const key of FIELDS) {
    if (saved[key] === current[key]) continue;
    body[key] = key === "temperature" ? current.temperature.toFixed(2) : current[key];
  }
  return body as SettingsBody;
}

function int(value: string): number {
  const parsed = Number.parseInt(value, 10);
  return Number.isNaN(parsed) ? 0 : parsed;
}

/** Role, goal, backstory, model and limits of an agent. Save sends what changed and shows the API's field errors
 * next to the fields; it is disabled until something changes, and says "Saved" after. */
export function AgentSettingsForm({
  agent,
  providers,
  readOnly,
  onSave,
}: {
  agent: Agent;
  providers: Provider[];
  readOnly: boolean;
  onSave: (body: SettingsBody) => Promise<Agent>;
}) {
  const [saved, setSaved] = useState<SettingsValues>(() => valuesOf(agent));
  const [values, setValues] = useState<SettingsValues>(() => valuesOf(agent));
  const [justSaved, setJustSaved] = useState(false);
  const body = changedBody(saved, values);
  const dirty = Object.keys(body).length > 0;
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    const fresh = await onSave(body);
    const next = valuesOf(fresh);
    setSaved(next);
    setValues(next);
    setJustSaved(true);
  });
  const set = <K extends keyof SettingsValues>(key: K, value: SettingsValues[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
    setJustSaved(false);
  };
  const provider = providers.find((p) => p.id === values.provider);

  return (
    <form
      aria-label="Agent settings"
      onSubmit={(event) => {
        event.preventDefault();
        if (dirty && !readOnly) submit();
      }}
      noValidate
    >
      <fieldset disabled={readOnly} className="agent-settings">
        <legend className="visually-hidden">Agent settings</legend>
        <FormError error={error} shown={FIELDS} />
        <div className="grid-2 agent-grid">
          <Field label="Name" errors={errorsFor("name")}>
            {(props) => <input {...props} type="text" value={values.name} onChange={(e) => set("name", e.target.value)} />}
          </Field>
          <Field label="Role" help="Who the agent is, in a few words." errors={errorsFor("role")}>
            {(props) => <input {...props} type="text" value={values.role} onChange={(e) => set("role", e.target.value)} />}
          </Field>
        </div>
        <Field label="Goal" help="What it tries to achieve on every run." errors={errorsFor("goal")}>
          {(props) => <textarea {...props} rows={3} value={values.goal} onChange={(e) => set("goal", e.target.value)} />}
        </Field>
        <Field label="Backstory" help="Context, tone and rules the agent keeps in mind." errors={errorsFor("backstory")}>
          {(props) => (
            <textarea {...props} rows={6} value={values.backstory} onChange={(e) => set("backstory", e.target.value)} />
          )}
        </Field>
        <div className="grid-2 agent-grid">
          <Field
            label="LLM provider"
            errors={errorsFor("provider")}
            help={
              providers.length ? undefined : (
                <>
                  No LLM provider yet. <Link href="/dashboard/settings">Add one in Settings</Link>.
                </>
              )
            }
          >
            {(props) => (
              <select
                {...props}
                value={values.provider ?? ""}
                onChange={(e) => set("provider", e.target.value ? Number(e.target.value) : null)}
              >
                <option value="">None</option>
                {providers.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name} ({p.kind_name})
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field
            label="Model"
            help={provider ? `Empty: the provider's default (${provider.default_model}).` : "Empty: the provider's default."}
            errors={errorsFor("model")}
          >
            {(props) => (
              <input
                {...props}
                type="text"
                value={values.model}
                placeholder={provider?.default_model ?? ""}
                onChange={(e) => set("model", e.target.value)}
              />
            )}
          </Field>
        </div>
        <Field
          label={
            <span className="spread">
              <span>Temperature</span>
              <output data-testid="temperature-value" aria-hidden="true">
                {values.temperature.toFixed(1)}
              </output>
            </span>
          }
          help="0 is focused and repeatable, 2 is most varied."
          errors={errorsFor("temperature")}
        >
          {(props) => (
            <input
              {...props}
              type="range"
              min={0}
              max={2}
              step={0.1}
              value={values.temperature}
              aria-valuetext={values.temperature.toFixed(1)}
              onChange={(e) => set("temperature", Math.round(Number(e.target.value) * 10) / 10)}
              className="agent-slider"
            />
          )}
        </Field>
        <div className="grid-2 agent-grid">
          <Field label="Max iterations" help="Reasoning steps before it must answer (1–50)." errors={errorsFor("max_iterations")}>
            {(props) => (
              <input
                {...props}
                type="number"
                min={1}
                max={50}
                value={values.max_iterations}
                onChange={(e) => set("max_iterations", int(e.target.value))}
              />
            )}
          </Field>
          <Field
            label="Max execution time (seconds)"
            help="A run that takes longer is stopped."
            errors={errorsFor("max_execution_time")}
          >
            {(props) => (
              <input
                {...props}
                type="number"
                min={1}
                value={values.max_execution_time}
                onChange={(e) => set("max_execution_time", int(e.target.value))}
              />
            )}
          </Field>
        </div>
        <div className={`field ${errorsFor("enabled").length ? "field-invalid" : ""}`}>
          <label className="checkbox">
            <input type="checkbox" checked={values.enabled} onChange={(e) => set("enabled", e.target.checked)} />
            Enabled (a disabled agent cannot run)
          </label>
          {errorsFor("enabled").length ? (
            <p className="field-error" role="alert">
              {errorsFor("enabled").join(" ")}
            </p>
          ) : null}
        </div>
      </fieldset>
      {readOnly ? (
        <p className="muted">Your role can read this agent; an admin can change it.</p>
      ) : (
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={busy} disabled={!dirty}>
            {justSaved && !dirty ? "Saved" : "Save"}
          </Button>
          {dirty ? (
            <Button
              onClick={() => {
                setValues(saved);
              }}
            >
              Discard changes
            </Button>
          ) : null}
        </div>
      )}
    </form>
  );
}
