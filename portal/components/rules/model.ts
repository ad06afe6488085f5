// The rule builder's model: the API's rule body, the draft the builder edits, and the pure conversions between
// them (draft-from-rule, rule-from-draft), the condition and action helpers the builder's parts change a draft
// with, and the checks made before anything is sent. No React: everything here is unit-testable.

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

export type MappingDraft = { mode: "path" | "value"; text: string };
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

/** `text` parsed as JSON, or `fallback` when it is not JSON. */
export function jsonOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

/** A typed scalar from what a person typed: 55 -> number, true/false/null, "55" (quoted) -> the string "55". */
export function parseScalar(text: string): unknown {
  const trimmed = text.trim();
  if (NUMBER.test(trimmed)) return Number(trimmed);
  if (trimmed === "true") return true;
  if (trimmed === "false") return false;
  if (trimmed === "null") return null;
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) return jsonOr(trimmed, trimmed);
  return trimmed;
}

export function scalarText(value: unknown): string {
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

export function conditionText(op: Operator, value: unknown): string {
  if (op === "exists") return "";
  if (Array.isArray(value)) return value.map(scalarText).join(", ");
  if ((op === "matches" || op === "contains") && typeof value === "string") return value;
  return scalarText(value);
}

export function typedInput(spec: InputFieldSpec | undefined, text: string): unknown {
  const kind = (spec?.type ?? "string").toLowerCase();
  const trimmed = text.trim();
  if (["integer", "int", "number", "float", "decimal"].includes(kind) && NUMBER.test(trimmed)) return Number(trimmed);
  if (["boolean", "bool"].includes(kind) && (trimmed === "true" || trimmed === "false")) return trimmed === "true";
  if (["json", "object", "list", "array", "dict"].includes(kind)) return jsonOr(trimmed, text);
  return text;
}

export function mappingDraft(source: unknown): MappingDraft {
  if (source && typeof source === "object" && "path" in source) return { mode: "path", text: String((source as { path: unknown }).path ?? "") };
  if (source && typeof source === "object" && "value" in source) {
    const value = (source as { value: unknown }).value;
    return { mode: "value", text: typeof value === "string" ? value : JSON.stringify(value) };
  }
  return { mode: "path", text: "" };
}

export function mappingBody(draft: MappingDraft, spec?: InputFieldSpec): Mapping {
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

export function actionSpec(catalog: RuleCatalog, draft: ActionDraft): ConnectorActionSpec | undefined {
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

/** The first draft of the builder: the rule's, or for a new rule one action of the first type offered. */
export function initialDraft(rule: RuleLike | null | undefined, actionTypes: ActionTypeInfo[]): RuleDraft {
  const initial = draftFromRule(rule);
  if (!rule) initial.actions = actionTypes.length ? [emptyAction(actionTypes[0].type)] : [];
  return initial;
}

// --- condition and action helpers (each returns a new draft) ---------------------------------------------------

export function addCondition(draft: RuleDraft): RuleDraft {
  return { ...draft, conditions: [...draft.conditions, emptyCondition()] };
}

export function updateCondition(draft: RuleDraft, index: number, patch: Partial<ConditionDraft>): RuleDraft {
  return { ...draft, conditions: draft.conditions.map((c, i) => (i === index ? { ...c, ...patch } : c)) };
}

export function removeCondition(draft: RuleDraft, index: number): RuleDraft {
  return { ...draft, conditions: draft.conditions.filter((_, i) => i !== index) };
}

export function addAction(draft: RuleDraft, type: string): RuleDraft {
  return { ...draft, actions: [...draft.actions, emptyAction(type)] };
}

export function updateAction(draft: RuleDraft, index: number, change: (a: ActionDraft) => ActionDraft): RuleDraft {
  return { ...draft, actions: draft.actions.map((a, i) => (i === index ? change(a) : a)) };
}

/** The action at `index` moved `by` places (-1: up, 1: down). */
export function moveAction(draft: RuleDraft, index: number, by: number): RuleDraft {
  const actions = [...draft.actions];
  const [item] = actions.splice(index, 1);
  actions.splice(index + by, 0, item);
  return { ...draft, actions };
}

export function removeAction(draft: RuleDraft, index: number): RuleDraft {
  return { ...draft, actions: draft.actions.filter((_, i) => i !== index) };
}

/** The action with another type: its fields start empty, its row (key) stays. */
export function changeActionType(action: ActionDraft, type: string): ActionDraft {
  return { ...emptyAction(type), key: action.key };
}

export function setActionValue(action: ActionDraft, field: string, value: string): ActionDraft {
  return { ...action, values: { ...action.values, [field]: value } };
}

export function setActionInput(action: ActionDraft, name: string, mapping: MappingDraft): ActionDraft {
  return { ...action, inputs: { ...action.inputs, [name]: mapping } };
}

export function setActionMapping(action: ActionDraft, field: string, mapping: MappingDraft): ActionDraft {
  return { ...action, mappings: { ...action.mappings, [field]: mapping } };
}

/** The fields an action's row shows: its type's, or (a type the API no longer offers) the ones it has. */
export function actionFields(action: ActionDraft, actionTypes: ActionTypeInfo[]): string[] {
  return actionTypes.find((t) => t.type === action.type)?.fields ?? Object.keys(action.values);
}

/** The connector actions the chosen connection's provider offers, and that connection (undefined: none chosen). */
export function connectorActionsFor(
  catalog: RuleCatalog,
  action: ActionDraft,
): { connection?: RuleCatalog["connections"][number]; actions: ConnectorActionSpec[] } {
  const connection = catalog.connections.find((c) => String(c.id) === action.values.connection);
  return { connection, actions: connection ? (catalog.connectorActions[connection.provider] ?? []) : [] };
}

/** The input fields a connector action's row maps: the action's schema, then any the draft has beyond it. */
export function inputNames(spec: ConnectorActionSpec | undefined, action: ActionDraft): string[] {
  const names = [...(spec?.input_schema.map((f) => f.name) ?? [])];
  for (const name of Object.keys(action.inputs)) if (!names.includes(name)) names.push(name);
  return names;
}

// --- errors ------------------------------------------------------------------------------------------------------

/** The API's messages for a dotted path (`nested`: also those of the paths under it), as useSubmit gives them. */
export type ErrorsFor = (path: string, nested?: boolean) => string[];

/** Every error path a control of the builder shows; the rest go to the form-level alert. */
export function shownErrorPaths(draft: Pick<RuleDraft, "conditions" | "actions">): string[] {
  const paths = ["name", "description", "enabled", "trigger_event", "trigger_connection", "match", "conditions", "actions"];
  draft.conditions.forEach((_, i) => paths.push(`conditions.${i}`));
  draft.actions.forEach((_, i) => paths.push(`actions.${i}`));
  return paths;
}

/** Errors under actions.N (`prefix`) that no control of the row shows (e.g. an unknown key). */
export function unplacedErrors(
  prefix: string,
  fields: string[],
  action: ActionDraft,
  catalog: RuleCatalog,
  errorsFor: ErrorsFor,
): string[] {
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
  return all.filter((m) => !placed.has(m));
}

/** The words of an action's field in its label ("Action 1: Connection"). */
export const FIELD_LABELS: Record<string, string> = {
  connection: "Connection",
  action: "Connector action",
  input: "Input",
  subscription: "Subscription",
  agent: "Agent",
  config: "Workflow",
};

/** The help under a condition's value for its operator. */
export function conditionValueHelp(op: Operator): string {
  if (op === "in") return "Separate values with commas.";
  if (op === "matches") return "A regular expression (RE2).";
  return 'Numbers, true, false and null are typed; quote to keep text ("55").';
}

// --- testing against a sample event ---------------------------------------------------------------------------

export type RuleTestResult = {
  triggered: boolean;
  matched: boolean;
  conditions: { field: string; op: string; value?: unknown; result: boolean; actual?: unknown }[];
  actions: { position: number; type: string; input?: unknown; missing?: string[]; problems?: Record<string, string[]> }[];
  performed: boolean;
};
export type SampleEvent = { type: string; payload: unknown; connection_id?: number };

export const DEFAULT_SAMPLE_PAYLOAD = '{\n  "total": 120\n}';

/** The sample event type the test panel starts with: the trigger with its wildcards filled in. */
export function sampleType(trigger: string): string {
  if (!trigger || trigger === "*") return "custom.sample.event";
  return trigger.replace(/\*/g, "sample");
}

/** The sample event from the test panel's fields, or the message shown under the payload when it is not JSON. */
export function sampleEvent(type: string, connection: string, payload: string): { event: SampleEvent } | { error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (exc) {
    return { error: `Not valid JSON: ${(exc as Error).message}` };
  }
  const event: SampleEvent = { type: type.trim(), payload: parsed };
  if (connection) event.connection_id = Number(connection);
  return { event };
}

/** What the test outcome says in its first line. */
export function testSummary(result: Pick<RuleTestResult, "triggered" | "matched" | "actions">): string {
  if (!result.triggered) return "The event type or connection does not trigger this rule.";
  if (result.matched) return `${result.actions.length} action${result.actions.length === 1 ? "" : "s"} would run.`;
  return "The conditions are not met; nothing would run.";
}

/** How the builder's parts change the draft: `structural` when rows are added, removed or moved (the API's row
 * numbers in its errors no longer match then). */
export type DraftUpdate = (change: (draft: RuleDraft) => RuleDraft, structural?: boolean) => void;

/** What every part of the rule form takes: the draft, how to change it, its errors and whether it is locked. */
export type SectionProps = {
  draft: RuleDraft;
  update: DraftUpdate;
  errorsFor: ErrorsFor;
  disabled: boolean;
};
