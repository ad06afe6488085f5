"use client";

// The automation rule builder: a trigger (event type pattern + optional connection), all/any conditions and an
// ordered list of actions whose inputs are rendered from GET /rules/action-types/. The API checks everything on
// save; its errors come back with dotted paths (conditions.1.value, actions.0.input.title) and are shown next to
// the control they name.
import { useCallback, useId, useMemo, useState } from "react";

import { actionTypeLabel, providerName, useConnectorNames } from "@/components/names";
import { Badge, Button, ConnectionOptions, Field, FormError, Table } from "@/components/ui";
import { useSubmit } from "@/lib/useForm";

export const OPERATORS = ["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in", "exists", "matches"] as const;
export type Operator = (typeof OPERATORS)[number];

export const OPERATOR_LABELS: Record<Operator, string> = {
  eq: "equals",
  ne: "does not equal",
  gt: "is greater than",
  gte: "is at least",
  lt: "is less than",
  lte: "is at most",
  contains: "contains",
  in: "is one of",
  exists: "exists",
  matches: "matches (regular expression)",
};

export type ActionTypeInfo = { type: string; label: string; fields: string[] };

export type InputFieldSpec = {
  name: string;
  label?: string;
  type?: string;
  required?: boolean;
  help?: string;
  default?: unknown;
  choices?: string[];
};
export type ConnectorActionSpec = { name: string; description?: string; input_schema: InputFieldSpec[] };

/** What the selects of the builder offer; every list comes from the API. */
export type RuleCatalog = {
  connections: { id: number; name: string; provider: string }[];
  /** Actions per provider key (from the connector catalogue). */
  connectorActions: Record<string, ConnectorActionSpec[]>;
  subscriptions: { id: number; url: string; description?: string }[];
  agents: { id: number; name: string }[];
  workflowConfigs: { id: number; name: string }[];
};

export type Mapping = { path: string } | { value: unknown };
export type ConditionBody = { field: string; op: Operator; value?: unknown };
export type ActionBody = { type: string } & Record<string, unknown>;
export type RuleBody = {
  name: string;
  description: string;
  enabled: boolean;
  trigger_event: string;
  trigger_connection: number | null;
  match: "all" | "any";
  conditions: ConditionBody[];
  actions: ActionBody[];
};

/** A saved rule as the API returns it (the parts the builder edits). */
export type RuleLike = Partial<Omit<RuleBody, "conditions" | "actions">> & {
  id?: number;
  conditions?: unknown;
  actions?: unknown;
};

type MappingDraft = { mode: "path" | "value"; text: string };
export type ConditionDraft = { key: number; field: string; op: Operator; value: string };
export type ActionDraft = {
  key: number;
  type: string;
  /** Plain fields: ids as text, the connector action's name, anything else as text (JSON when it parses). */
  values: Record<string, string>;
  /** connector_action's input: one mapping per input field of the chosen action. */
  inputs: Record<string, MappingDraft>;
  /** Single mappings (run_agent's `input`). */
  mappings: Record<string, MappingDraft>;
};
export type RuleDraft = {
  name: string;
  description: string;
  enabled: boolean;
  trigger_event: string;
  trigger_connection: string;
  match: "all" | "any";
  conditions: ConditionDraft[];
  actions: ActionDraft[];
};

// --- values --------------------------------------------------------------------------------------------------

const NUMBER = /^-?\d+(\.\d+)?$/;

/** A typed scalar from what a person typed: 55 -> number, true/false/null, "55" (quoted) -> the string "55". */
/** `text` parsed as JSON, or `fallback` when it is not JSON. */
function jsonOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

export function parseScalar(text: string): unknown {
  const trimmed = text.trim();
  if (NUMBER.test(trimmed)) return Number(trimmed);
  if (trimmed === "true") return true;
  if (trimmed === "false") return false;
  if (trimmed === "null") return null;
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) return jsonOr(trimmed, trimmed);
  return trimmed;
}

function scalarText(value: unknown): string {
  if (typeof value === "string") {
    return parseScalar(value) === value ? value : JSON.stringify(value);
  }
  if (value === undefined) return "";
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

/** The condition's value as the API wants it for this operator (undefined: leave it out). */
export function conditionValue(op: Operator, text: string): unknown {
  if (op === "exists") return undefined;
  if (op === "in") {
    return text
      .split(/[,\n]/)
      .map((item) => item.trim())
      .filter(Boolean)
      .map(parseScalar);
  }
  if (op === "matches" || op === "contains") return text;
  if (op === "gt" || op === "gte" || op === "lt" || op === "lte") {
    return NUMBER.test(text.trim()) ? Number(text.trim()) : text;
  }
  return parseScalar(text);
}

function conditionText(op: Operator, value: unknown): string {
  if (op === "exists") return "";
  if (Array.isArray(value)) return value.map(scalarText).join(", ");
  if ((op === "matches" || op === "contains") && typeof value === "string") return value;
  return scalarText(value);
}

function typedInput(spec: InputFieldSpec | undefined, text: string): unknown {
  const kind = (spec?.type ?? "string").toLowerCase();
  const trimmed = text.trim();
  if (["integer", "int", "number", "float", "decimal"].includes(kind) && NUMBER.test(trimmed)) return Number(trimmed);
  if (["boolean", "bool"].includes(kind) && (trimmed === "true" || trimmed === "false")) return trimmed === "true";
  if (["json", "object", "list", "array", "dict"].includes(kind)) return jsonOr(trimmed, text);
  return text;
}

function mappingDraft(source: unknown): MappingDraft {
  if (source && typeof source === "object" && "path" in source) return { mode: "path", text: String((source as { path: unknown }).path ?? "") };
  if (source && typeof source === "object" && "value" in source) {
    const value = (source as { value: unknown }).value;
    return { mode: "value", text: typeof value === "string" ? value : JSON.stringify(value) };
  }
  return { mode: "path", text: "" };
}

function mappingBody(draft: MappingDraft, spec?: InputFieldSpec): Mapping {
  return draft.mode === "path" ? { path: draft.text.trim() } : { value: typedInput(spec, draft.text) };
}

// --- fields of an action type ---------------------------------------------------------------------------------

export type FieldKind = "connection" | "connector-action" | "input-map" | "mapping" | "subscription" | "agent" | "workflow-config" | "text";

export function fieldKind(type: string, field: string): FieldKind {
  if (field === "connection") return "connection";
  if (type === "connector_action" && field === "action") return "connector-action";
  if (type === "connector_action" && field === "input") return "input-map";
  if (field === "input") return "mapping";
  if (field === "subscription") return "subscription";
  if (field === "agent") return "agent";
  if (field === "config") return "workflow-config";
  return "text";
}

const ID_KINDS: FieldKind[] = ["connection", "subscription", "agent", "workflow-config"];

function actionSpec(catalog: RuleCatalog, draft: ActionDraft): ConnectorActionSpec | undefined {
  const connection = catalog.connections.find((c) => String(c.id) === draft.values.connection);
  if (!connection) return undefined;
  return catalog.connectorActions[connection.provider]?.find((a) => a.name === draft.values.action);
}

// --- drafts <-> bodies ----------------------------------------------------------------------------------------

let nextKey = 1;
const key = () => nextKey++;

export function emptyCondition(): ConditionDraft {
  return { key: key(), field: "payload.", op: "eq", value: "" };
}

export function emptyAction(type: string): ActionDraft {
  return { key: key(), type, values: {}, inputs: {}, mappings: {} };
}

export function draftFromRule(rule?: RuleLike | null): RuleDraft {
  const conditions = Array.isArray(rule?.conditions) ? (rule.conditions as Record<string, unknown>[]) : [];
  const actions = Array.isArray(rule?.actions) ? (rule.actions as Record<string, unknown>[]) : [];
  return {
    name: rule?.name ?? "",
    description: rule?.description ?? "",
    enabled: rule?.enabled ?? true,
    trigger_event: rule?.trigger_event ?? "",
    trigger_connection: rule?.trigger_connection != null ? String(rule.trigger_connection) : "",
    match: rule?.match === "any" ? "any" : "all",
    conditions: conditions.map((c) => {
      const op = (OPERATORS as readonly string[]).includes(String(c.op)) ? (c.op as Operator) : "eq";
      return { key: key(), field: String(c.field ?? ""), op, value: conditionText(op, c.value) };
    }),
    actions: actions.map((a) => {
      const type = String(a.type ?? "");
      const draft = emptyAction(type);
      for (const [name, value] of Object.entries(a)) {
        if (name === "type") continue;
        const kind = fieldKind(type, name);
        if (kind === "input-map" && value && typeof value === "object") {
          for (const [input, source] of Object.entries(value as Record<string, unknown>)) draft.inputs[input] = mappingDraft(source);
        } else if (kind === "mapping") {
          draft.mappings[name] = mappingDraft(value);
        } else {
          draft.values[name] = typeof value === "string" ? value : JSON.stringify(value);
        }
      }
      return draft;
    }),
  };
}

/** The request body for POST/PATCH /rules/ from the draft. Empty choices are left out so the API names them. */
export function buildRuleBody(draft: RuleDraft, actionTypes: ActionTypeInfo[], catalog: RuleCatalog): RuleBody {
  return {
    name: draft.name,
    description: draft.description,
    enabled: draft.enabled,
    trigger_event: draft.trigger_event.trim(),
    trigger_connection: draft.trigger_connection ? Number(draft.trigger_connection) : null,
    match: draft.match,
    conditions: draft.conditions.map((c) => {
      const value = conditionValue(c.op, c.value);
      return value === undefined ? { field: c.field.trim(), op: c.op } : { field: c.field.trim(), op: c.op, value };
    }),
    actions: draft.actions.map((a) => {
      const fields = actionTypes.find((t) => t.type === a.type)?.fields ?? Object.keys(a.values);
      const body: ActionBody = { type: a.type };
      for (const field of fields) {
        const kind = fieldKind(a.type, field);
        if (kind === "input-map") {
          const spec = actionSpec(catalog, a);
          const input: Record<string, Mapping> = {};
          for (const [name, mapping] of Object.entries(a.inputs)) {
            if (!mapping.text.trim()) continue;
            input[name] = mappingBody(mapping, spec?.input_schema.find((f) => f.name === name));
          }
          body[field] = input;
        } else if (kind === "mapping") {
          const mapping = a.mappings[field];
          if (mapping && mapping.text.trim()) body[field] = mappingBody(mapping);
        } else {
          const text = a.values[field] ?? "";
          if (!text.trim()) continue;
          if (ID_KINDS.includes(kind)) body[field] = Number(text);
          else if (kind === "connector-action") body[field] = text;
          else body[field] = jsonOr(text, text);
        }
      }
      return body;
    }),
  };
}

// --- the builder ----------------------------------------------------------------------------------------------

export type RuleTestResult = {
  triggered: boolean;
  matched: boolean;
  conditions: { field: string; op: string; value?: unknown; result: boolean; actual?: unknown }[];
  actions: { position: number; type: string; input?: unknown; missing?: string[]; problems?: Record<string, string[]> }[];
  performed: boolean;
};
export type SampleEvent = { type: string; payload: unknown; connection_id?: number };

export function RuleBuilder({
  rule,
  actionTypes,
  catalog,
  onSubmit,
  onTest,
  onCancel,
  readOnly = false,
  canTest = true,
  submitLabel,
}: {
  rule?: RuleLike | null;
  actionTypes: ActionTypeInfo[];
  catalog: RuleCatalog;
  onSubmit?: (body: RuleBody) => Promise<unknown>;
  /** Given once the rule is saved: POST /rules/{id}/test/. */
  onTest?: (event: SampleEvent) => Promise<RuleTestResult>;
  onCancel?: () => void;
  readOnly?: boolean;
  canTest?: boolean;
  submitLabel?: string;
}) {
  const [draft, setDraft] = useState<RuleDraft>(() => {
    const initial = draftFromRule(rule);
    if (!rule) initial.actions = actionTypes.length ? [emptyAction(actionTypes[0].type)] : [];
    return initial;
  });
  const [saved, setSaved] = useState(false);
  const save = useCallback(async () => {
    if (!onSubmit) return;
    setSaved(false);
    await onSubmit(buildRuleBody(draft, actionTypes, catalog));
    setSaved(true);
  }, [onSubmit, draft, actionTypes, catalog]);
  const { submit, busy, error, errorsFor, setError } = useSubmit(save);

  const update = (change: (d: RuleDraft) => RuleDraft, structural = false) => {
    setDraft((d) => change(d));
    setSaved(false);
    // The API's row numbers no longer match once rows move.
    if (structural) setError(null);
  };
  const setCondition = (index: number, patch: Partial<ConditionDraft>) =>
    update((d) => ({ ...d, conditions: d.conditions.map((c, i) => (i === index ? { ...c, ...patch } : c)) }));
  const setAction = (index: number, change: (a: ActionDraft) => ActionDraft) =>
    update((d) => ({ ...d, actions: d.actions.map((a, i) => (i === index ? change(a) : a)) }));
  const moveAction = (index: number, by: number) =>
    update((d) => {
      const actions = [...d.actions];
      const [item] = actions.splice(index, 1);
      actions.splice(index + by, 0, item);
      return { ...d, actions };
    }, true);

  const [newActionType, setNewActionType] = useState(actionTypes[0]?.type ?? "");
  const disabled = readOnly || !onSubmit;

  // Every error path a control below shows; the rest go to the form-level alert.
  const shown = useMemo(() => {
    const paths = ["name", "description", "enabled", "trigger_event", "trigger_connection", "match", "conditions", "actions"];
    draft.conditions.forEach((_, i) => paths.push(`conditions.${i}`));
    draft.actions.forEach((_, i) => paths.push(`actions.${i}`));
    return paths;
  }, [draft.conditions, draft.actions]);

  return (
    <div className="rule-builder">
      <form
        aria-label="Rule"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
      >
        <FormError error={error} shown={shown} />
        {saved && !error ? (
          <div className="alert alert-ok" role="status">
            Rule saved.
          </div>
        ) : null}
        <fieldset className="rb-section" disabled={disabled}>
          <legend>Rule</legend>
          <div className="grid-2">
            <Field label="Name" errors={errorsFor("name")}>
              {(props) => <input {...props} type="text" value={draft.name} onChange={(e) => update((d) => ({ ...d, name: e.target.value }))} />}
            </Field>
            <Field label="Description" errors={errorsFor("description")}>
              {(props) => (
                <input {...props} type="text" value={draft.description} onChange={(e) => update((d) => ({ ...d, description: e.target.value }))} />
              )}
            </Field>
          </div>
          <label className="checkbox">
            <input type="checkbox" checked={draft.enabled} onChange={(e) => update((d) => ({ ...d, enabled: e.target.checked }))} />
            Enabled
          </label>
        </fieldset>

        <fieldset className="rb-section" disabled={disabled}>
          <legend>When</legend>
          <div className="grid-2">
            <Field
              label="Event type"
              help="An event type such as shopify.order.create; * stands for any segment (shopify.order.*)."
              errors={errorsFor("trigger_event")}
            >
              {(props) => (
                <input
                  {...props}
                  type="text"
                  value={draft.trigger_event}
                  placeholder="shopify.order.*"
                  onChange={(e) => update((d) => ({ ...d, trigger_event: e.target.value }))}
                />
              )}
            </Field>
            <Field label="From connection" help="Optional: only events of this connection." errors={errorsFor("trigger_connection")}>
              {(props) => (
                <select
                  {...props}
                  value={draft.trigger_connection}
                  onChange={(e) => update((d) => ({ ...d, trigger_connection: e.target.value }))}
                >
                  <option value="">Any connection</option>
                  <ConnectionOptions connections={catalog.connections} />
                </select>
              )}
            </Field>
          </div>
        </fieldset>

        <fieldset className="rb-section" disabled={disabled}>
          <legend>If</legend>
          <Field label="Match" errors={errorsFor("match")}>
            {(props) => (
              <select {...props} value={draft.match} onChange={(e) => update((d) => ({ ...d, match: e.target.value as "all" | "any" }))}>
                <option value="all">All conditions are true</option>
                <option value="any">Any condition is true</option>
              </select>
            )}
          </Field>
          {errorsFor("conditions").length ? (
            <p className="field-error" role="alert">
              {errorsFor("conditions").join(" ")}
            </p>
          ) : null}
          {draft.conditions.length === 0 ? <p className="muted">No conditions: every event of this type matches.</p> : null}
          <ol className="rb-list">
            {draft.conditions.map((condition, index) => (
              <li key={condition.key} className="rb-row" data-testid={`condition-${index}`}>
                <ConditionRow
                  index={index}
                  condition={condition}
                  errorsFor={errorsFor}
                  onChange={(patch) => setCondition(index, patch)}
                  onRemove={
                    disabled
                      ? undefined
                      : () => update((d) => ({ ...d, conditions: d.conditions.filter((_, i) => i !== index) }), true)
                  }
                />
              </li>
            ))}
          </ol>
          {disabled ? null : (
            <Button onClick={() => update((d) => ({ ...d, conditions: [...d.conditions, emptyCondition()] }), true)}>
              Add condition
            </Button>
          )}
        </fieldset>

        <fieldset className="rb-section" disabled={disabled}>
          <legend>Then</legend>
          {errorsFor("actions").length ? (
            <p className="field-error" role="alert">
              {errorsFor("actions").join(" ")}
            </p>
          ) : null}
          {draft.actions.length === 0 ? <p className="muted">Add at least one action.</p> : null}
          <ol className="rb-list">
            {draft.actions.map((action, index) => (
              <li key={action.key} className="rb-row" data-testid={`action-${index}`}>
                <ActionRow
                  index={index}
                  count={draft.actions.length}
                  action={action}
                  actionTypes={actionTypes}
                  catalog={catalog}
                  errorsFor={errorsFor}
                  disabled={disabled}
                  onChange={(change) => setAction(index, change)}
                  onMove={(by) => moveAction(index, by)}
                  onRemove={() => update((d) => ({ ...d, actions: d.actions.filter((_, i) => i !== index) }), true)}
                />
              </li>
            ))}
          </ol>
          {disabled ? null : (
            <div className="row">
              <label>
                <span className="visually-hidden">Type of the new action</span>
                <select aria-label="Type of the new action" value={newActionType} onChange={(e) => setNewActionType(e.target.value)}>
                  {actionTypes.map((t) => (
                    <option key={t.type} value={t.type}>
                      {t.label}
                    </option>
                  ))}
                </select>
              </label>
              <Button
                disabled={!newActionType}
                onClick={() => update((d) => ({ ...d, actions: [...d.actions, emptyAction(newActionType)] }), true)}
              >
                Add action
              </Button>
            </div>
          )}
        </fieldset>

        {disabled ? null : (
          <div className="form-actions">
            <Button type="submit" variant="primary" busy={busy}>
              {submitLabel ?? (rule?.id ? "Save rule" : "Create rule")}
            </Button>
            {onCancel ? <Button onClick={onCancel}>Close</Button> : null}
          </div>
        )}
      </form>
      {onTest && canTest ? <RuleTestPanel onTest={onTest} triggerEvent={draft.trigger_event} catalog={catalog} actionTypes={actionTypes} /> : null}
    </div>
  );
}

type ErrorsFor = (path: string, nested?: boolean) => string[];

function ConditionRow({
  index,
  condition,
  errorsFor,
  onChange,
  onRemove,
}: {
  index: number;
  condition: ConditionDraft;
  errorsFor: ErrorsFor;
  onChange: (patch: Partial<ConditionDraft>) => void;
  onRemove?: () => void;
}) {
  const n = index + 1;
  const own = errorsFor(`conditions.${index}`);
  return (
    <div className="rb-condition">
      <Field label={`Condition ${n}: field`} errors={errorsFor(`conditions.${index}.field`)}>
        {(props) => (
          <input {...props} type="text" value={condition.field} placeholder="payload.total" onChange={(e) => onChange({ field: e.target.value })} />
        )}
      </Field>
      <Field label={`Condition ${n}: operator`} errors={errorsFor(`conditions.${index}.op`)}>
        {(props) => (
          <select {...props} value={condition.op} onChange={(e) => onChange({ op: e.target.value as Operator })}>
            {OPERATORS.map((op) => (
              <option key={op} value={op}>
                {OPERATOR_LABELS[op]}
              </option>
            ))}
          </select>
        )}
      </Field>
      {condition.op === "exists" ? (
        <p className="muted rb-novalue">No value: true when the field is present.</p>
      ) : (
        <Field
          label={`Condition ${n}: ${condition.op === "in" ? "values" : "value"}`}
          help={
            condition.op === "in"
              ? "Separate values with commas."
              : condition.op === "matches"
                ? "A regular expression (RE2)."
                : 'Numbers, true, false and null are typed; quote to keep text ("55").'
          }
          errors={errorsFor(`conditions.${index}.value`)}
        >
          {(props) =>
            condition.op === "in" ? (
              <textarea {...props} rows={2} value={condition.value} placeholder="gold, platinum" onChange={(e) => onChange({ value: e.target.value })} />
            ) : (
              <input {...props} type="text" value={condition.value} onChange={(e) => onChange({ value: e.target.value })} />
            )
          }
        </Field>
      )}
      {onRemove ? (
        <Button variant="ghost" onClick={onRemove} aria-label={`Remove condition ${n}`}>
          Remove
        </Button>
      ) : null}
      {own.length ? (
        <p className="field-error rb-wide" role="alert">
          {own.join(" ")}
        </p>
      ) : null}
    </div>
  );
}

function ActionRow({
  index,
  count,
  action,
  actionTypes,
  catalog,
  errorsFor,
  disabled,
  onChange,
  onMove,
  onRemove,
}: {
  index: number;
  count: number;
  action: ActionDraft;
  actionTypes: ActionTypeInfo[];
  catalog: RuleCatalog;
  errorsFor: ErrorsFor;
  disabled: boolean;
  onChange: (change: (a: ActionDraft) => ActionDraft) => void;
  onMove: (by: number) => void;
  onRemove: () => void;
}) {
  const n = index + 1;
  const info = actionTypes.find((t) => t.type === action.type);
  const prefix = `actions.${index}`;
  const fields = info?.fields ?? Object.keys(action.values);
  const setValue = (field: string, value: string) => onChange((a) => ({ ...a, values: { ...a.values, [field]: value } }));
  return (
    <div className="rb-action">
      <div className="spread">
        <strong>
          Action {n}: {info?.label ?? action.type}
        </strong>
        {disabled ? null : (
          <div className="row">
            <Button variant="ghost" disabled={index === 0} onClick={() => onMove(-1)} aria-label={`Move action ${n} up`}>
              Up
            </Button>
            <Button variant="ghost" disabled={index === count - 1} onClick={() => onMove(1)} aria-label={`Move action ${n} down`}>
              Down
            </Button>
            <Button variant="ghost" onClick={onRemove} aria-label={`Remove action ${n}`}>
              Remove
            </Button>
          </div>
        )}
      </div>
      <Field label={`Action ${n}: type`} errors={errorsFor(`${prefix}.type`)}>
        {(props) => (
          <select
            {...props}
            value={action.type}
            onChange={(e) => onChange((a) => ({ ...emptyAction(e.target.value), key: a.key }))}
          >
            {info ? null : <option value={action.type}>{action.type || "Choose a type"}</option>}
            {actionTypes.map((t) => (
              <option key={t.type} value={t.type}>
                {t.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      {fields.map((field) => (
        <ActionField
          key={field}
          index={index}
          field={field}
          action={action}
          catalog={catalog}
          errorsFor={errorsFor}
          setValue={setValue}
          onChange={onChange}
        />
      ))}
      {errorsFor(prefix).length ? (
        <p className="field-error" role="alert">
          {errorsFor(prefix).join(" ")}
        </p>
      ) : null}
      <UnplacedErrors prefix={prefix} fields={fields} action={action} catalog={catalog} errorsFor={errorsFor} />
    </div>
  );
}

/** Errors under actions.N that no control of the row shows (e.g. an unknown key). */
function UnplacedErrors({
  prefix,
  fields,
  action,
  catalog,
  errorsFor,
}: {
  prefix: string;
  fields: string[];
  action: ActionDraft;
  catalog: RuleCatalog;
  errorsFor: ErrorsFor;
}) {
  const all = errorsFor(prefix, true);
  const placed = new Set<string>([...errorsFor(prefix), ...errorsFor(`${prefix}.type`)]);
  for (const field of fields) {
    if (fieldKind(action.type, field) === "input-map") {
      const spec = actionSpec(catalog, action);
      const names = new Set([...(spec?.input_schema.map((f) => f.name) ?? []), ...Object.keys(action.inputs)]);
      names.forEach((name) => errorsFor(`${prefix}.${field}.${name}`).forEach((m) => placed.add(m)));
      errorsFor(`${prefix}.${field}`).forEach((m) => placed.add(m));
    } else {
      errorsFor(`${prefix}.${field}`, true).forEach((m) => placed.add(m));
    }
  }
  const rest = all.filter((m) => !placed.has(m));
  if (!rest.length) return null;
  return (
    <p className="field-error" role="alert">
      {rest.join(" ")}
    </p>
  );
}

const FIELD_LABELS: Record<string, string> = {
  connection: "Connection",
  action: "Connector action",
  input: "Input",
  subscription: "Subscription",
  agent: "Agent",
  config: "Workflow",
};

function ActionField({
  index,
  field,
  action,
  catalog,
  errorsFor,
  setValue,
  onChange,
}: {
  index: number;
  field: string;
  action: ActionDraft;
  catalog: RuleCatalog;
  errorsFor: ErrorsFor;
  setValue: (field: string, value: string) => void;
  onChange: (change: (a: ActionDraft) => ActionDraft) => void;
}) {
  const n = index + 1;
  const names = useConnectorNames();
  const kind = fieldKind(action.type, field);
  const path = `actions.${index}.${field}`;
  const label = `Action ${n}: ${FIELD_LABELS[field] ?? field}`;
  const value = action.values[field] ?? "";

  const idSelect = (options: { id: number; label: string }[], none: string) => (
    <Field label={label} errors={errorsFor(path)}>
      {(props) => (
        <select {...props} value={value} onChange={(e) => setValue(field, e.target.value)}>
          <option value="">{none}</option>
          {options.map((o) => (
            <option key={o.id} value={o.id}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );

  if (kind === "connection") {
    return idSelect(
      catalog.connections.map((c) => ({ id: c.id, label: `${c.name} (${providerName(c.provider, names)})` })),
      "Choose a connection",
    );
  }
  if (kind === "subscription") {
    return idSelect(
      catalog.subscriptions.map((s) => ({ id: s.id, label: s.description ? `${s.description} — ${s.url}` : s.url })),
      "Choose a subscription",
    );
  }
  if (kind === "agent") return idSelect(catalog.agents.map((a) => ({ id: a.id, label: a.name })), "Choose an agent");
  if (kind === "workflow-config") {
    return idSelect(catalog.workflowConfigs.map((w) => ({ id: w.id, label: w.name })), "Choose a workflow");
  }
  if (kind === "connector-action") {
    const connection = catalog.connections.find((c) => String(c.id) === action.values.connection);
    const actions = connection ? (catalog.connectorActions[connection.provider] ?? []) : [];
    return (
      <Field label={label} errors={errorsFor(path)} help={actions.find((a) => a.name === value)?.description}>
        {(props) => (
          <select {...props} value={value} onChange={(e) => setValue(field, e.target.value)}>
            <option value="">{connection ? "Choose an action" : "Choose a connection first"}</option>
            {value && !actions.some((a) => a.name === value) ? <option value={value}>{value}</option> : null}
            {actions.map((a) => (
              <option key={a.name} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        )}
      </Field>
    );
  }
  if (kind === "input-map") {
    const spec = actionSpec(catalog, action);
    const names = [...(spec?.input_schema.map((f) => f.name) ?? [])];
    for (const name of Object.keys(action.inputs)) if (!names.includes(name)) names.push(name);
    const own = errorsFor(path);
    return (
      <div className="rb-inputs" role="group" aria-label={`${label} mapping`}>
        <p className="rb-inputs-title">
          <strong>Input</strong> <span className="muted">— each field from the event (a path such as payload.email) or a fixed value</span>
        </p>
        {names.length === 0 ? <p className="muted">Choose a connection and an action to map its input.</p> : null}
        {names.map((name) => {
          const fieldSpec = spec?.input_schema.find((f) => f.name === name);
          return (
            <MappingControl
              key={name}
              label={`Action ${n}: input ${fieldSpec?.label || name}${fieldSpec?.required ? " (required)" : ""}`}
              help={fieldSpec?.help}
              draft={action.inputs[name] ?? { mode: "path", text: "" }}
              errors={errorsFor(`${path}.${name}`)}
              onChange={(draft) => onChange((a) => ({ ...a, inputs: { ...a.inputs, [name]: draft } }))}
            />
          );
        })}
        {own.length ? (
          <p className="field-error" role="alert">
            {own.join(" ")}
          </p>
        ) : null}
      </div>
    );
  }
  if (kind === "mapping") {
    return (
      <MappingControl
        label={label}
        draft={action.mappings[field] ?? { mode: "value", text: "" }}
        errors={errorsFor(path, true)}
        onChange={(draft) => onChange((a) => ({ ...a, mappings: { ...a.mappings, [field]: draft } }))}
      />
    );
  }
  return (
    <Field label={label} help="Text, or JSON." errors={errorsFor(path, true)}>
      {(props) => <input {...props} type="text" value={value} onChange={(e) => setValue(field, e.target.value)} />}
    </Field>
  );
}

function MappingControl({
  label,
  help,
  draft,
  errors,
  onChange,
}: {
  label: string;
  help?: string;
  draft: MappingDraft;
  errors: string[];
  onChange: (draft: MappingDraft) => void;
}) {
  const ref = { current: `m${useId().replace(/:/g, "")}` };
  return (
    <div className={`field rb-mapping ${errors.length ? "field-invalid" : ""}`}>
      <label htmlFor={ref.current}>{label}</label>
      <div className="row rb-mapping-row">
        <select
          aria-label={`${label}: source`}
          value={draft.mode}
          onChange={(e) => onChange({ ...draft, mode: e.target.value as "path" | "value" })}
        >
          <option value="path">From the event</option>
          <option value="value">Fixed value</option>
        </select>
        <input
          id={ref.current}
          type="text"
          value={draft.text}
          placeholder={draft.mode === "path" ? "payload.…" : ""}
          aria-invalid={errors.length ? true : undefined}
          aria-describedby={errors.length ? `${ref.current}-error` : undefined}
          onChange={(e) => onChange({ ...draft, text: e.target.value })}
        />
      </div>
      {help ? <p className="field-help">{help}</p> : null}
      {errors.length ? (
        <p className="field-error" id={`${ref.current}-error`} role="alert">
          {errors.join(" ")}
        </p>
      ) : null}
    </div>
  );
}

// --- test against a sample event -------------------------------------------------------------------------------

function sampleType(trigger: string): string {
  if (!trigger || trigger === "*") return "custom.sample.event";
  return trigger.replace(/\*/g, "sample");
}

export function RuleTestPanel({
  onTest,
  triggerEvent,
  catalog,
  actionTypes,
}: {
  onTest: (event: SampleEvent) => Promise<RuleTestResult>;
  triggerEvent: string;
  catalog: RuleCatalog;
  actionTypes?: ActionTypeInfo[];
}) {
  const [type, setType] = useState(() => sampleType(triggerEvent));
  const [connection, setConnection] = useState("");
  const [payload, setPayload] = useState('{\n  "total": 120\n}');
  const [payloadError, setPayloadError] = useState<string | null>(null);
  const [result, setResult] = useState<RuleTestResult | null>(null);
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch (exc) {
      setPayloadError(`Not valid JSON: ${(exc as Error).message}`);
      return;
    }
    setPayloadError(null);
    const event: SampleEvent = { type: type.trim(), payload: parsed };
    if (connection) event.connection_id = Number(connection);
    setResult(await onTest(event));
  });
  const shown = ["event.type", "event.payload", "event.connection_id"];
  return (
    <section className="rb-test card" aria-labelledby="rb-test-title">
      <h3 id="rb-test-title">Test against a sample event</h3>
      <p className="muted">Evaluates the saved rule; nothing is performed, stored or sent.</p>
      <form
        noValidate
        aria-label="Sample event"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <FormError error={error} shown={shown} />
        <div className="grid-2">
          <Field label="Sample event type" errors={errorsFor("event.type")}>
            {(props) => <input {...props} type="text" value={type} onChange={(e) => setType(e.target.value)} />}
          </Field>
          <Field label="Sample connection" errors={errorsFor("event.connection_id")}>
            {(props) => (
              <select {...props} value={connection} onChange={(e) => setConnection(e.target.value)}>
                <option value="">None</option>
                <ConnectionOptions connections={catalog.connections} />
              </select>
            )}
          </Field>
        </div>
        <Field
          label="Sample payload (JSON)"
          errors={payloadError ? [payloadError, ...errorsFor("event.payload")] : errorsFor("event.payload")}
        >
          {(props) => <textarea {...props} className="mono" rows={6} value={payload} onChange={(e) => setPayload(e.target.value)} />}
        </Field>
        <Button type="submit" busy={busy}>
          Run test
        </Button>
      </form>
      {result ? <RuleTestOutcome result={result} actionTypes={actionTypes} /> : null}
    </section>
  );
}

export function RuleTestOutcome({ result, actionTypes }: { result: RuleTestResult; actionTypes?: ActionTypeInfo[] }) {
  return (
    <div className="rb-test-result" data-testid="rule-test-result" aria-live="polite">
      <p>
        {!result.triggered ? (
          <Badge tone="muted">not triggered</Badge>
        ) : result.matched ? (
          <Badge tone="ok">matched</Badge>
        ) : (
          <Badge tone="bad">no match</Badge>
        )}{" "}
        {!result.triggered
          ? "The event type or connection does not trigger this rule."
          : result.matched
            ? `${result.actions.length} action${result.actions.length === 1 ? "" : "s"} would run.`
            : "The conditions are not met; nothing would run."}
      </p>
      {result.conditions.length ? (
        <Table caption="Conditions" columns={["Field", "Operator", "Value", "Found", "Result"]}>
          {result.conditions.map((c, i) => (
            <tr key={i}>
              <td>
                <code>{c.field}</code>
              </td>
              <td>{c.op}</td>
              <td>
                <code>{c.value === undefined ? "—" : JSON.stringify(c.value)}</code>
              </td>
              <td>
                <code>{c.actual === undefined || c.actual === null ? "—" : JSON.stringify(c.actual)}</code>
              </td>
              <td>{c.result ? <Badge tone="ok">true</Badge> : <Badge tone="bad">false</Badge>}</td>
            </tr>
          ))}
        </Table>
      ) : null}
      {result.actions.length ? (
        <ol className="rb-would-run">
          {result.actions.map((a) => (
            <li key={a.position}>
              <strong>{actionTypeLabel(a.type, actionTypes)}</strong> <pre className="mono">{JSON.stringify(a.input ?? {}, null, 2)}</pre>
              {a.missing?.length ? <p className="field-error">Missing in the event: {a.missing.join(", ")}</p> : null}
              {a.problems && Object.keys(a.problems).length ? (
                <p className="field-error">
                  {Object.entries(a.problems)
                    .map(([k, v]) => `${k}: ${v.join(" ")}`)
                    .join("; ")}
                </p>
              ) : null}
            </li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}
