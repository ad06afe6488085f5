"use client";

// Controls generated from a template's parameter schema: connections with the resources and actions their
// connector offers, agents, numbers, booleans, text, and the mapping of a publishing action's input fields.
import { Field } from "@/components/ui";

import type { Agent, Connection, Connector, TemplateParam } from "./data";

export type ParamValues = Record<string, unknown>;
export type ErrorsFor = (path: string, nested?: boolean) => string[];

const MAPPING_SOURCES: { value: string; label: string }[] = [
  { value: "", label: "Not set" },
  { value: "output", label: "The agent's text" },
  { value: "title", label: "A generated title" },
  { value: "records", label: "The records read" },
  { value: "value", label: "A fixed value" },
];

export function defaultValues(params: TemplateParam[]): ParamValues {
  const values: ParamValues = {};
  for (const p of params) if (p.default !== null && p.default !== undefined) values[p.name] = p.default;
  return values;
}

/** Every parameter that names `name` as its `of` (directly or through another), to clear when it changes. */
function dependants(params: TemplateParam[], name: string): string[] {
  const out: string[] = [];
  for (const p of params) {
    if (p.of === name) out.push(p.name, ...dependants(params, p.name));
  }
  return out;
}

/** The values to send: numbers as numbers (anything else as typed, for the API to explain), blanks left out. */
export function toPayload(params: TemplateParam[], values: ParamValues): ParamValues {
  const out: ParamValues = {};
  for (const p of params) {
    const value = values[p.name];
    if (value === undefined || value === null || value === "") continue;
    if (["integer", "connection", "agent"].includes(p.type) && typeof value === "string") {
      out[p.name] = /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    } else {
      out[p.name] = value;
    }
  }
  return out;
}

type Mapping = Record<string, { path?: string; value?: unknown }>;

function MappingField({
  param,
  fields,
  value,
  onChange,
  errorsFor,
  disabled,
}: {
  param: TemplateParam;
  fields: Connector["actions"][number]["input_schema"] | null;
  value: Mapping;
  onChange: (value: Mapping) => void;
  errorsFor: ErrorsFor;
  disabled: boolean;
}) {
  const key = `parameters.${param.name}`;
  const own = errorsFor(key);
  return (
    <fieldset className="wf-mapping" disabled={disabled}>
      <legend>{param.label}</legend>
      {param.help ? <p className="field-help">Where each input field of the action comes from.</p> : null}
      {own.length ? (
        <p className="field-error" role="alert">
          {own.join(" ")}
        </p>
      ) : null}
      {!fields ? (
        <p className="muted">Choose the publishing action first.</p>
      ) : fields.length === 0 ? (
        <p className="muted">This action takes no input.</p>
      ) : (
        fields.map((f) => {
          const current = value[f.name];
          const source = current ? ("path" in current && current.path ? current.path : "value") : "";
          return (
            <div className="wf-mapping-row" key={f.name}>
              <Field
                label={`${f.label}${f.required ? "" : " (optional)"}`}
                errors={errorsFor(`${key}.${f.name}`, true)}
              >
                {(props) => (
                  <select
                    {...props}
                    value={source}
                    onChange={(e) => {
                      const next = { ...value };
                      if (!e.target.value) delete next[f.name];
                      else if (e.target.value === "value") next[f.name] = { value: "" };
                      else next[f.name] = { path: e.target.value };
                      onChange(next);
                    }}
                  >
                    {MAPPING_SOURCES.map((s) => (
                      <option key={s.value} value={s.value}>
                        {s.label}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              {source === "value" ? (
                <Field label={`${f.label}: fixed value`}>
                  {(props) => (
                    <input
                      {...props}
                      type="text"
                      value={String(current?.value ?? "")}
                      onChange={(e) => onChange({ ...value, [f.name]: { value: e.target.value } })}
                    />
                  )}
                </Field>
              ) : null}
            </div>
          );
        })
      )}
    </fieldset>
  );
}

export function ParamFields({
  params,
  values,
  onChange,
  errorsFor,
  connections,
  connectors,
  agents,
  disabled = false,
}: {
  params: TemplateParam[];
  values: ParamValues;
  onChange: (values: ParamValues) => void;
  errorsFor: ErrorsFor;
  connections: Connection[];
  connectors: Connector[];
  agents: Agent[];
  disabled?: boolean;
}) {
  const set = (name: string, value: unknown) => {
    const next = { ...values, [name]: value };
    onChange(next);
  };
  // a new connection, resource or action: the parameters chosen from it no longer apply
  const setAndClear = (name: string, value: unknown) => {
    const next: ParamValues = { ...values, [name]: value };
    for (const d of dependants(params, name)) delete next[d];
    onChange(next);
  };
  const connectorOf = (connectionParam: string | null | undefined): Connector | undefined => {
    if (!connectionParam) return undefined;
    const id = Number(values[connectionParam]);
    const connection = connections.find((c) => c.id === id);
    return connection ? connectors.find((c) => c.key === connection.provider) : undefined;
  };
  const actionOf = (actionParam: string | null | undefined) => {
    const param = params.find((p) => p.name === actionParam);
    const connector = connectorOf(param?.of);
    return connector?.actions.find((a) => a.name === values[actionParam ?? ""]);
  };

  return (
    <>
      {params.map((p) => {
        const errors = errorsFor(`parameters.${p.name}`);
        const label = `${p.label}${p.required || p.default !== null ? "" : " (optional)"}`;
        const help = p.help || undefined;
        const raw = values[p.name];
        switch (p.type) {
          case "connection":
            return (
              <Field key={p.name} label={label} help={help} errors={errors}>
                {(props) => (
                  <select
                    {...props}
                    disabled={disabled}
                    value={raw === undefined || raw === null ? "" : String(raw)}
                    onChange={(e) => setAndClear(p.name, e.target.value ? Number(e.target.value) : "")}
                  >
                    <option value="">Choose a connection…</option>
                    {connections.map((c) => (
                      <option key={c.id} value={c.id}>
                        {c.name} ({c.provider_name})
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            );
          case "resource":
          case "action": {
            const connector = connectorOf(p.of);
            const items =
              p.type === "resource"
                ? (connector?.resources ?? []).map((r) => ({
                    name: r.name,
                    text: `${r.name} — ${r.description}${r.window ? "" : " (no date filter)"}`,
                  }))
                : (connector?.actions ?? []).map((a) => ({ name: a.name, text: `${a.name} — ${a.description}` }));
            const current = typeof raw === "string" ? raw : "";
            return (
              <Field key={p.name} label={label} help={help} errors={errors}>
                {(props) => (
                  <select
                    {...props}
                    disabled={disabled || !connector}
                    value={current}
                    onChange={(e) => setAndClear(p.name, e.target.value)}
                  >
                    <option value="">{connector ? `Choose a ${p.type}…` : "Choose the connection first"}</option>
                    {current && !items.some((i) => i.name === current) ? (
                      <option value={current}>{current}</option>
                    ) : null}
                    {items.map((i) => (
                      <option key={i.name} value={i.name}>
                        {i.text}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            );
          }
          case "agent":
            return (
              <Field key={p.name} label={label} help={help} errors={errors}>
                {(props) => (
                  <select
                    {...props}
                    disabled={disabled}
                    value={raw === undefined || raw === null ? "" : String(raw)}
                    onChange={(e) => set(p.name, e.target.value ? Number(e.target.value) : "")}
                  >
                    <option value="">Choose an agent…</option>
                    {agents.map((a) => (
                      <option key={a.id} value={a.id}>
                        {a.name} — {a.role}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            );
          case "integer":
            return (
              <Field
                key={p.name}
                label={label}
                help={[help, p.minimum !== null && p.maximum !== null ? `From ${p.minimum} to ${p.maximum}.` : ""]
                  .filter(Boolean)
                  .join(". ")}
                errors={errors}
              >
                {(props) => (
                  <input
                    {...props}
                    type="number"
                    inputMode="numeric"
                    disabled={disabled}
                    min={p.minimum ?? undefined}
                    max={p.maximum ?? undefined}
                    step={1}
                    value={raw === undefined || raw === null ? "" : String(raw)}
                    onChange={(e) => set(p.name, e.target.value)}
                  />
                )}
              </Field>
            );
          case "boolean":
            return (
              <div key={p.name} className={`field ${errors.length ? "field-invalid" : ""}`}>
                <label className="checkbox">
                  <input
                    type="checkbox"
                    disabled={disabled}
                    checked={raw === true}
                    onChange={(e) => set(p.name, e.target.checked)}
                  />
                  {p.label}
                </label>
                {help ? <p className="field-help">{help}</p> : null}
                {errors.length ? (
                  <p className="field-error" role="alert">
                    {errors.join(" ")}
                  </p>
                ) : null}
              </div>
            );
          case "mapping": {
            const action = actionOf(p.of);
            const mapping = raw && typeof raw === "object" ? (raw as Mapping) : {};
            return (
              <MappingField
                key={p.name}
                param={p}
                fields={action ? action.input_schema : null}
                value={mapping}
                onChange={(next) => set(p.name, next)}
                errorsFor={errorsFor}
                disabled={disabled}
              />
            );
          }
          case "text":
            return (
              <Field key={p.name} label={label} help={help} errors={errors}>
                {(props) => (
                  <textarea
                    {...props}
                    rows={4}
                    disabled={disabled}
                    value={typeof raw === "string" ? raw : ""}
                    onChange={(e) => set(p.name, e.target.value)}
                  />
                )}
              </Field>
            );
          default:
            return (
              <Field key={p.name} label={label} help={help} errors={errors}>
                {(props) => (
                  <input
                    {...props}
                    type="text"
                    disabled={disabled}
                    value={raw === undefined || raw === null ? "" : String(raw)}
                    onChange={(e) => set(p.name, e.target.value)}
                  />
                )}
              </Field>
            );
        }
      })}
    </>
  );
}
