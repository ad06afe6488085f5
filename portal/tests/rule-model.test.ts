import { describe, expect, it } from "vitest";

import {
  type ActionTypeInfo,
  type ErrorsFor,
  type RuleCatalog,
  type RuleLike,
  addAction,
  addCondition,
  buildRuleBody,
  changeActionType,
  conditionValue,
  conditionValueHelp,
  connectorActionsFor,
  draftFromRule,
  emptyAction,
  fieldKind,
  initialDraft,
  inputNames,
  moveAction,
  parseScalar,
  removeAction,
  removeCondition,
  sampleEvent,
  sampleType,
  setActionInput,
  setActionValue,
  shownErrorPaths,
  testSummary,
  unplacedErrors,
  updateCondition,
} from "@/components/rules/model";

const ACTION_TYPES: ActionTypeInfo[] = [
  { type: "connector_action", label: "Perform a connector action", fields: ["connection", "action", "input"] },
  { type: "send_to_subscription", label: "Send the event to a subscription", fields: ["subscription"] },
  { type: "run_agent", label: "Ask an AI agent", fields: ["agent", "input"] },
  { type: "start_workflow", label: "Start a workflow", fields: ["config", "params"] },
];

const CATALOG: RuleCatalog = {
  connections: [{ id: 7, name: "Support desk", provider: "zendesk" }],
  connectorActions: {
    zendesk: [
      {
        name: "create_ticket",
        input_schema: [
          { name: "title", type: "string", required: true },
          { name: "priority", type: "integer" },
          { name: "urgent", type: "boolean" },
          { name: "tags", type: "list" },
        ],
      },
    ],
  },
  subscriptions: [{ id: 3, url: "https://hooks.example.com/in" }],
  agents: [{ id: 11, name: "Triage" }],
  workflowConfigs: [{ id: 5, name: "Onboarding" }],
};

/** errorsFor over a flat {path: messages} map, as useSubmit gives it. */
function errorsFrom(errors: Record<string, string[]>): ErrorsFor {
  return (path, nested = false) =>
    Object.entries(errors)
      .filter(([key]) => key === path || (nested && key.startsWith(`${path}.`)))
      .flatMap(([, messages]) => messages);
}

describe("rule model: values", () => {
  it("types what a person typed", () => {
    expect(parseScalar(" 55 ")).toBe(55);
    expect(parseScalar("-1.5")).toBe(-1.5);
    expect(parseScalar("true")).toBe(true);
    expect(parseScalar("false")).toBe(false);
    expect(parseScalar("null")).toBeNull();
    expect(parseScalar('"55"')).toBe("55");
    expect(parseScalar("gold")).toBe("gold");
  });

  it("gives each operator the value the API wants", () => {
    expect(conditionValue("exists", "anything")).toBeUndefined();
    expect(conditionValue("in", "gold, platinum\n3")).toEqual(["gold", "platinum", 3]);
    expect(conditionValue("in", " , ")).toEqual([]);
    expect(conditionValue("contains", "55")).toBe("55");
    expect(conditionValue("matches", "^a+$")).toBe("^a+$");
    expect(conditionValue("gt", "100")).toBe(100);
    expect(conditionValue("lte", "lots")).toBe("lots");
    expect(conditionValue("eq", "true")).toBe(true);
  });

  it("says how to write a condition's value", () => {
    expect(conditionValueHelp("in")).toBe("Separate values with commas.");
    expect(conditionValueHelp("matches")).toBe("A regular expression (RE2).");
    expect(conditionValueHelp("eq")).toMatch(/quote to keep text/);
  });

  it("knows what each field of an action is", () => {
    expect(fieldKind("connector_action", "connection")).toBe("connection");
    expect(fieldKind("connector_action", "action")).toBe("connector-action");
    expect(fieldKind("connector_action", "input")).toBe("input-map");
    expect(fieldKind("run_agent", "input")).toBe("mapping");
    expect(fieldKind("run_agent", "agent")).toBe("agent");
    expect(fieldKind("send_to_subscription", "subscription")).toBe("subscription");
    expect(fieldKind("start_workflow", "config")).toBe("workflow-config");
    expect(fieldKind("start_workflow", "params")).toBe("text");
  });
});

describe("rule model: draft <-> body", () => {
  const RULE: RuleLike = {
    id: 4,
    name: "Big orders",
    description: "Tickets for big orders",
    enabled: false,
    trigger_event: "shopify.order.*",
    trigger_connection: 7,
    match: "any",
    conditions: [
      { field: "payload.total", op: "gte", value: 100 },
      { field: "payload.tier", op: "in", value: ["gold", 3, "55"] },
      { field: "payload.note", op: "exists" },
      { field: "payload.code", op: "eq", value: "55" },
      { field: "payload.email", op: "matches", value: "@example\\.com$" },
    ],
    actions: [
      {
        type: "connector_action",
        connection: 7,
        action: "create_ticket",
        input: {
          title: { path: "payload.name" },
          priority: { value: 2 },
          urgent: { value: true },
          tags: { value: ["vip", "big"] },
        },
      },
      { type: "send_to_subscription", subscription: 3 },
      { type: "run_agent", agent: 11, input: { path: "payload" } },
      { type: "start_workflow", config: 5, params: { region: "eu" } },
    ],
  };

  it("gives back the rule it was made from", () => {
    const { id: _id, ...expected } = RULE;
    expect(buildRuleBody(draftFromRule(RULE), ACTION_TYPES, CATALOG)).toEqual(expected);
  });

  it("drafts what the controls show", () => {
    const draft = draftFromRule(RULE);
    expect(draft.trigger_connection).toBe("7");
    expect(draft.conditions.map((c) => c.value)).toEqual(["100", 'gold, 3, "55"', "", '"55"', "@example\\.com$"]);
    expect(draft.actions[0].values).toEqual({ connection: "7", action: "create_ticket" });
    expect(draft.actions[0].inputs.title).toEqual({ mode: "path", text: "payload.name" });
    expect(draft.actions[0].inputs.tags).toEqual({ mode: "value", text: '["vip","big"]' });
    expect(draft.actions[2].mappings.input).toEqual({ mode: "path", text: "payload" });
    expect(draft.actions[3].values.params).toBe('{"region":"eu"}');
    // every row has its own key
    const keys = [...draft.conditions, ...draft.actions].map((row) => row.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("starts a new rule empty, with one action of the first type offered", () => {
    const draft = initialDraft(null, ACTION_TYPES);
    expect(draft).toMatchObject({ name: "", enabled: true, match: "all", trigger_connection: "", conditions: [] });
    expect(draft.actions.map((a) => a.type)).toEqual(["connector_action"]);
    expect(initialDraft(null, []).actions).toEqual([]);
    expect(initialDraft(RULE, ACTION_TYPES).actions).toHaveLength(4);
  });

  it("reads an unknown operator as equals and a missing list as none", () => {
    const draft = draftFromRule({ conditions: [{ field: "payload.x", op: "almost", value: 1 }], actions: "nope" });
    expect(draft.conditions[0]).toMatchObject({ op: "eq", value: "1" });
    expect(draft.actions).toEqual([]);
  });

  it("leaves out what was not chosen so the API names it", () => {
    let draft = initialDraft(null, ACTION_TYPES);
    draft = addCondition(draft);
    draft = updateCondition(draft, 0, { field: " payload.total ", op: "exists" });
    draft = addAction(draft, "run_agent");
    const body = buildRuleBody({ ...draft, trigger_event: " order.* " }, ACTION_TYPES, CATALOG);
    expect(body.trigger_event).toBe("order.*");
    expect(body.trigger_connection).toBeNull();
    expect(body.conditions).toEqual([{ field: "payload.total", op: "exists" }]);
    expect(body.actions).toEqual([{ type: "connector_action", input: {} }, { type: "run_agent" }]);
  });

  it("types a connector action's fixed inputs by the action's schema", () => {
    let action = emptyAction("connector_action");
    action = setActionValue(setActionValue(action, "connection", "7"), "action", "create_ticket");
    action = setActionInput(action, "priority", { mode: "value", text: "3" });
    action = setActionInput(action, "urgent", { mode: "value", text: "false" });
    action = setActionInput(action, "title", { mode: "value", text: "42" });
    action = setActionInput(action, "tags", { mode: "value", text: "not json" });
    action = setActionInput(action, "empty", { mode: "path", text: "  " });
    const body = buildRuleBody({ ...initialDraft(null, []), actions: [action] }, ACTION_TYPES, CATALOG);
    expect(body.actions[0]).toEqual({
      type: "connector_action",
      connection: 7,
      action: "create_ticket",
      input: { priority: { value: 3 }, urgent: { value: false }, title: { value: "42" }, tags: { value: "not json" } },
    });
  });
});

describe("rule model: condition and action helpers", () => {
  it("adds, changes and removes conditions without touching the draft it was given", () => {
    const start = initialDraft(null, []);
    const two = addCondition(addCondition(start));
    expect(start.conditions).toEqual([]);
    const changed = updateCondition(two, 1, { field: "payload.b" });
    expect(changed.conditions.map((c) => c.field)).toEqual(["payload.", "payload.b"]);
    expect(removeCondition(changed, 0).conditions.map((c) => c.key)).toEqual([two.conditions[1].key]);
  });

  it("moves and removes actions", () => {
    let draft = initialDraft(null, []);
    for (const type of ["a", "b", "c"]) draft = addAction(draft, type);
    expect(moveAction(draft, 0, 1).actions.map((a) => a.type)).toEqual(["b", "a", "c"]);
    expect(moveAction(draft, 2, -1).actions.map((a) => a.type)).toEqual(["a", "c", "b"]);
    expect(removeAction(draft, 1).actions.map((a) => a.type)).toEqual(["a", "c"]);
    expect(draft.actions.map((a) => a.type)).toEqual(["a", "b", "c"]);
  });

  it("empties an action whose type changes but keeps its row", () => {
    const action = setActionValue(emptyAction("run_agent"), "agent", "11");
    const changed = changeActionType(action, "send_to_subscription");
    expect(changed).toEqual({ key: action.key, type: "send_to_subscription", values: {}, inputs: {}, mappings: {} });
  });

  it("offers the chosen connection's actions and maps their inputs", () => {
    const none = emptyAction("connector_action");
    expect(connectorActionsFor(CATALOG, none)).toEqual({ connection: undefined, actions: [] });
    const chosen = setActionInput(setActionValue(none, "connection", "7"), "extra", { mode: "path", text: "payload.x" });
    const { connection, actions } = connectorActionsFor(CATALOG, chosen);
    expect(connection?.name).toBe("Support desk");
    expect(actions.map((a) => a.name)).toEqual(["create_ticket"]);
    expect(inputNames(actions[0], chosen)).toEqual(["title", "priority", "urgent", "tags", "extra"]);
    expect(inputNames(undefined, chosen)).toEqual(["extra"]);
  });
});

describe("rule model: errors", () => {
  it("lists the paths the builder's controls show", () => {
    const draft = addAction(addCondition(initialDraft(null, [])), "run_agent");
    expect(shownErrorPaths(draft)).toEqual([
      "name",
      "description",
      "enabled",
      "trigger_event",
      "trigger_connection",
      "match",
      "conditions",
      "actions",
      "conditions.0",
      "actions.0",
    ]);
  });

  it("finds the messages under an action that no control shows", () => {
    const action = setActionValue(setActionValue(emptyAction("connector_action"), "connection", "7"), "action", "create_ticket");
    const errorsFor = errorsFrom({
      "actions.0": ["Row message."],
      "actions.0.type": ["Type message."],
      "actions.0.connection": ["Connection message."],
      "actions.0.input": ["Input message."],
      "actions.0.input.title": ["Required by create_ticket: map it from the event or give a value."],
      "actions.0.input.unknown": ["Not an input of create_ticket."],
      "actions.0.colour": ["Not a field of this action type."],
    });
    expect(unplacedErrors("actions.0", ACTION_TYPES[0].fields, action, CATALOG, errorsFor)).toEqual([
      "Not an input of create_ticket.",
      "Not a field of this action type.",
    ]);
    expect(unplacedErrors("actions.1", ACTION_TYPES[0].fields, action, CATALOG, errorsFor)).toEqual([]);
  });
});

describe("rule model: sample events", () => {
  it("fills the trigger's wildcards for the sample type", () => {
    expect(sampleType("")).toBe("custom.sample.event");
    expect(sampleType("*")).toBe("custom.sample.event");
    expect(sampleType("shopify.order.*")).toBe("shopify.order.sample");
    expect(sampleType("shopify.order.create")).toBe("shopify.order.create");
  });

  it("builds the sample event, or says why the payload is not JSON", () => {
    expect(sampleEvent(" order.create ", "", '{"total": 120}')).toEqual({ event: { type: "order.create", payload: { total: 120 } } });
    expect(sampleEvent("order.create", "7", "[]")).toEqual({ event: { type: "order.create", payload: [], connection_id: 7 } });
    const invalid = sampleEvent("order.create", "", "{total: 120}");
    expect(invalid).toEqual({ error: expect.stringMatching(/^Not valid JSON: /) });
  });

  it("sums up the outcome", () => {
    expect(testSummary({ triggered: false, matched: false, actions: [] })).toBe("The event type or connection does not trigger this rule.");
    expect(testSummary({ triggered: true, matched: false, actions: [] })).toBe("The conditions are not met; nothing would run.");
    expect(testSummary({ triggered: true, matched: true, actions: [{ position: 0, type: "run_agent" }] })).toBe("1 action would run.");
    expect(testSummary({ triggered: true, matched: true, actions: [] })).toBe("0 actions would run.");
  });
});
