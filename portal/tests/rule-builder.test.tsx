import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import {
  type ActionTypeInfo,
  type RuleBody,
  RuleBuilder,
  type RuleCatalog,
  buildRuleBody,
  draftFromRule,
} from "@/components/RuleBuilder";
import { ApiError } from "@/lib/api/errors";

// As GET /rules/action-types/ answers.
const ACTION_TYPES: ActionTypeInfo[] = [
  { type: "connector_action", label: "Perform a connector action with input taken from the event", fields: ["connection", "action", "input"] },
  { type: "send_to_subscription", label: "Send the event to one outbound webhook subscription", fields: ["subscription"] },
  { type: "run_agent", label: "Ask an AI agent, with the event attached", fields: ["agent", "input"] },
];

const CATALOG: RuleCatalog = {
  connections: [{ id: 7, name: "Support desk", provider: "zendesk" }],
  connectorActions: {
    zendesk: [
      {
        name: "create_ticket",
        description: "Opens a ticket",
        input_schema: [
          { name: "title", label: "Title", type: "string", required: true },
          { name: "priority", label: "Priority", type: "integer", required: false },
        ],
      },
    ],
  },
  subscriptions: [{ id: 3, url: "https://hooks.example.com/in", description: "CRM" }],
  agents: [{ id: 11, name: "Triage" }],
  workflowConfigs: [],
};

function renderBuilder(props: Partial<React.ComponentProps<typeof RuleBuilder>> = {}) {
  const onSubmit = vi.fn<(body: RuleBody) => Promise<unknown>>(async () => ({}));
  const user = userEvent.setup();
  render(<RuleBuilder actionTypes={ACTION_TYPES} catalog={CATALOG} onSubmit={onSubmit} {...props} />);
  return { user, onSubmit };
}

describe("RuleBuilder conditions", () => {
  it("adds and removes conditions, and shows the value control the operator needs", async () => {
    const { user } = renderBuilder();
    expect(screen.getByText(/No conditions: every event/)).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Add condition" }));
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    expect(screen.getByLabelText("Condition 1: field")).toBeInTheDocument();
    expect(screen.getByLabelText("Condition 2: field")).toBeInTheDocument();

    // exists takes no value
    await user.selectOptions(screen.getByLabelText("Condition 1: operator"), "exists");
    expect(screen.queryByLabelText("Condition 1: value")).not.toBeInTheDocument();
    expect(within(screen.getByTestId("condition-0")).getByText(/No value/)).toBeInTheDocument();

    // in takes a list
    await user.selectOptions(screen.getByLabelText("Condition 2: operator"), "in");
    const values = screen.getByLabelText("Condition 2: values");
    expect(values.tagName).toBe("TEXTAREA");

    await user.click(screen.getByRole("button", { name: "Remove condition 1" }));
    expect(screen.queryByLabelText("Condition 2: field")).not.toBeInTheDocument();
    // the former second condition is now the first, with its operator kept
    expect(screen.getByLabelText("Condition 1: operator")).toHaveValue("in");
  });
});

describe("RuleBuilder request body", () => {
  it("builds the API's rule body from what was entered", async () => {
    const { user, onSubmit } = renderBuilder();
    await user.type(screen.getByLabelText("Name"), "Urgent tickets");
    await user.type(screen.getByLabelText("Event type"), "custom.order.*");
    await user.selectOptions(screen.getByLabelText("Match"), "any");

    await user.click(screen.getByRole("button", { name: "Add condition" }));
    await user.clear(screen.getByLabelText("Condition 1: field"));
    await user.type(screen.getByLabelText("Condition 1: field"), "payload.total");
    await user.selectOptions(screen.getByLabelText("Condition 1: operator"), "gt");
    await user.type(screen.getByLabelText("Condition 1: value"), "50");

    await user.click(screen.getByRole("button", { name: "Add condition" }));
    await user.clear(screen.getByLabelText("Condition 2: field"));
    await user.type(screen.getByLabelText("Condition 2: field"), "payload.tier");
    await user.selectOptions(screen.getByLabelText("Condition 2: operator"), "in");
    await user.type(screen.getByLabelText("Condition 2: values"), "gold, platinum, 3");

    await user.click(screen.getByRole("button", { name: "Add condition" }));
    await user.clear(screen.getByLabelText("Condition 3: field"));
    await user.type(screen.getByLabelText("Condition 3: field"), "payload.email");
    await user.selectOptions(screen.getByLabelText("Condition 3: operator"), "exists");

    // the first action (connector_action) is there from the start
    await user.selectOptions(screen.getByLabelText("Action 1: Connection"), "7");
    await user.selectOptions(screen.getByLabelText("Action 1: Connector action"), "create_ticket");
    await user.type(screen.getByLabelText("Action 1: input Title (required)"), "payload.subject");
    await user.selectOptions(screen.getByLabelText("Action 1: input Priority: source"), "value");
    await user.type(screen.getByLabelText("Action 1: input Priority"), "2");

    await user.selectOptions(screen.getByLabelText("Type of the new action"), "send_to_subscription");
    await user.click(screen.getByRole("button", { name: "Add action" }));
    await user.selectOptions(screen.getByLabelText("Action 2: Subscription"), "3");

    await user.click(screen.getByRole("button", { name: "Create rule" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(1));
    expect(onSubmit.mock.calls[0][0]).toEqual({
      name: "Urgent tickets",
      description: "",
      enabled: true,
      trigger_event: "custom.order.*",
      trigger_connection: null,
      match: "any",
      conditions: [
        { field: "payload.total", op: "gt", value: 50 },
        { field: "payload.tier", op: "in", value: ["gold", "platinum", 3] },
        { field: "payload.email", op: "exists" },
      ],
      actions: [
        { type: "connector_action", connection: 7, action: "create_ticket", input: { title: { path: "payload.subject" }, priority: { value: 2 } } },
        { type: "send_to_subscription", subscription: 3 },
      ],
    });
    expect(await screen.findByText("Rule saved.")).toBeInTheDocument();
  });

  it("reorders and removes actions, and the body follows the order", async () => {
    const { user, onSubmit } = renderBuilder();
    await user.selectOptions(screen.getByLabelText("Type of the new action"), "run_agent");
    await user.click(screen.getByRole("button", { name: "Add action" }));
    await user.selectOptions(screen.getByLabelText("Action 2: Agent"), "11");
    await user.type(screen.getByLabelText("Action 2: Input"), "Summarise this order");

    await user.click(screen.getByRole("button", { name: "Move action 2 up" }));
    expect(screen.getByLabelText("Action 1: Agent")).toHaveValue("11");
    await user.click(screen.getByRole("button", { name: "Remove action 2" }));
    expect(screen.queryByLabelText("Action 2: type")).not.toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Create rule" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit.mock.calls[0][0].actions).toEqual([{ type: "run_agent", agent: 11, input: { value: "Summarise this order" } }]);
  });

  it("keeps a saved rule's conditions and actions when nothing is changed", () => {
    const rule = {
      id: 4,
      name: "Big orders",
      description: "",
      enabled: false,
      trigger_event: "shopify.order.create",
      trigger_connection: 7,
      match: "all" as const,
      conditions: [
        { field: "payload.total", op: "gte", value: 100 },
        { field: "payload.code", op: "eq", value: "55" },
        { field: "payload.tags", op: "in", value: ["vip", 2, true] },
        { field: "payload.email", op: "exists" },
        { field: "payload.name", op: "matches", value: "^A.*" },
      ],
      actions: [
        { type: "connector_action", connection: 7, action: "create_ticket", input: { title: { value: "Order" }, priority: { path: "payload.p" } } },
        { type: "send_to_subscription", subscription: 3 },
      ],
    };
    const body = buildRuleBody(draftFromRule(rule), ACTION_TYPES, CATALOG);
    const { id: _id, ...expected } = rule;
    expect(body).toEqual(expected);
  });
});

describe("RuleBuilder API errors", () => {
  it("shows each field error from the API next to the control it names", async () => {
    const onSubmit = vi.fn(async () => {
      throw new ApiError(400, {
        "conditions.1.value": ["A list of 1 to 500 values."],
        "actions.0.input.title": ["Required by create_ticket: map it from the event or give a value."],
        trigger_event: ["An event type such as shopify.order.create, with * for any segment (shopify.order.*)."],
      });
    });
    const { user } = renderBuilder({ onSubmit });
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    await user.selectOptions(screen.getByLabelText("Action 1: Connection"), "7");
    await user.selectOptions(screen.getByLabelText("Action 1: Connector action"), "create_ticket");
    await user.click(screen.getByRole("button", { name: "Create rule" }));

    const second = await screen.findByTestId("condition-1");
    expect(within(second).getByText("A list of 1 to 500 values.")).toBeInTheDocument();
    expect(screen.getByLabelText("Condition 2: value")).toHaveAttribute("aria-invalid", "true");
    expect(within(screen.getByTestId("condition-0")).queryByText("A list of 1 to 500 values.")).not.toBeInTheDocument();

    const title = screen.getByLabelText("Action 1: input Title (required)");
    expect(title).toHaveAttribute("aria-invalid", "true");
    const describedBy = title.getAttribute("aria-describedby") ?? "";
    expect(document.getElementById(describedBy)).toHaveTextContent(/Required by create_ticket/);

    expect(screen.getByLabelText("Event type")).toHaveAttribute("aria-invalid", "true");
    // the form-level alert repeats none of the placed errors
    expect(screen.getByText("Please correct the highlighted fields.").closest(".alert")).not.toHaveTextContent(/Required by/);
    expect(screen.queryByText("Rule saved.")).not.toBeInTheDocument();
  });

  it("shows an error no control names in its action's row, and a form-wide one at the top", async () => {
    const onSubmit = vi.fn(async () => {
      throw new ApiError(400, { "actions.0.extra": ["Unknown key."], non_field_errors: ["Expected a JSON object."] });
    });
    const { user } = renderBuilder({ onSubmit });
    await user.click(screen.getByRole("button", { name: "Create rule" }));
    expect(await within(screen.getByTestId("action-0")).findByText("Unknown key.")).toBeInTheDocument();
    expect(screen.getAllByText("Expected a JSON object.")[0].closest(".alert")).toBeInTheDocument();
  });
});

describe("RuleBuilder roles and testing", () => {
  it("is read-only without the configure permission", () => {
    renderBuilder({
      readOnly: true,
      rule: { id: 2, name: "R", trigger_event: "a.b", conditions: [{ field: "payload.x", op: "eq", value: 1 }], actions: [] },
    });
    expect(screen.getByLabelText("Name")).toBeDisabled();
    expect(screen.getByLabelText("Condition 1: value")).toBeDisabled();
    expect(screen.queryByRole("button", { name: "Add condition" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Save rule|Create rule/ })).not.toBeInTheDocument();
  });

  it("tests a saved rule against a sample event and shows each condition's result and the actions that would run", async () => {
    const onTest = vi.fn(async () => ({
      triggered: true,
      matched: true,
      performed: false,
      conditions: [{ field: "payload.total", op: "gt", value: 50, result: true, actual: 120 }],
      actions: [{ position: 0, type: "send_to_subscription", subscription: 3 }],
    }));
    const { user } = renderBuilder({
      readOnly: true,
      onTest,
      rule: { id: 2, name: "R", trigger_event: "custom.order.*", conditions: [{ field: "payload.total", op: "gt", value: 50 }], actions: [] },
    });
    expect(screen.getByLabelText("Sample event type")).toHaveValue("custom.order.sample");
    const payload = screen.getByLabelText("Sample payload (JSON)");
    await user.clear(payload);
    await user.click(payload);
    await user.paste('{"total": 120}');
    await user.click(screen.getByRole("button", { name: "Run test" }));
    const result = await screen.findByTestId("rule-test-result");
    expect(onTest).toHaveBeenCalledWith({ type: "custom.order.sample", payload: { total: 120 } });
    expect(within(result).getByText("matched")).toBeInTheDocument();
    expect(within(result).getByText("1 action would run.")).toBeInTheDocument();
    expect(within(result).getByText("payload.total")).toBeInTheDocument();
    expect(within(result).getByText("120")).toBeInTheDocument();
    expect(within(result).getByText("Send the event to one outbound webhook subscription")).toBeInTheDocument();
  });

  it("refuses a sample payload that is not JSON without calling the API", async () => {
    const onTest = vi.fn();
    const { user } = renderBuilder({ onTest, rule: { id: 2, name: "R", trigger_event: "a.b", conditions: [], actions: [] } });
    const payload = screen.getByLabelText("Sample payload (JSON)");
    await user.clear(payload);
    await user.type(payload, "not json");
    await user.click(screen.getByRole("button", { name: "Run test" }));
    expect(await screen.findByText(/Not valid JSON/)).toBeInTheDocument();
    expect(onTest).not.toHaveBeenCalled();
  });
});
