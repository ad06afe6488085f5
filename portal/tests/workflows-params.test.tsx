import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";

import type { Agent, Connection, Connector, TemplateParam } from "@/components/workflows/data";
import { ParamFields, type ParamValues, defaultValues, toPayload } from "@/components/workflows/ParamFields";

const param = (p: Partial<TemplateParam> & { name: string; type: string }): TemplateParam => ({
  label: p.name,
  required: true,
  default: null,
  minimum: null,
  maximum: null,
  of: null,
  help: "",
  ...p,
});

const PARAMS: TemplateParam[] = [
  param({ name: "source_connection", type: "connection", label: "Source connection" }),
  param({ name: "source_resource", type: "resource", label: "Resource to read", of: "source_connection" }),
  param({ name: "window_days", type: "integer", label: "Report period (days)", default: 7, minimum: 0, maximum: 90 }),
  param({ name: "agent", type: "agent", label: "Analysing agent" }),
  param({ name: "destination_connection", type: "connection", label: "Destination connection" }),
  param({ name: "destination_action", type: "action", label: "Publishing action", of: "destination_connection" }),
  param({ name: "destination_input", type: "mapping", label: "Action input", of: "destination_action" }),
  param({ name: "require_approval", type: "boolean", label: "Ask for approval before publishing", default: false }),
];

const field = (name: string, required = true) => ({
  name,
  label: name[0].toUpperCase() + name.slice(1),
  type: "string",
  required,
  secret: false,
  help: "",
  default: null,
  choices: [],
});

const CONNECTORS = [
  {
    key: "wordpress",
    name: "WordPress",
    resources: [{ name: "posts", model: "cms.post", description: "Blog posts", window: "updated_at" }],
    actions: [{ name: "create_draft_post", description: "Create a draft post", input_schema: [field("title"), field("content"), field("excerpt", false)] }],
  },
  {
    key: "hubspot",
    name: "HubSpot",
    resources: [{ name: "contacts", model: "crm.contact", description: "Contacts", window: null }],
    actions: [],
  },
] as unknown as Connector[];

const CONNECTIONS = [
  { id: 1, name: "Blog", provider: "wordpress", provider_name: "WordPress" },
  { id: 2, name: "CRM", provider: "hubspot", provider_name: "HubSpot" },
] as unknown as Connection[];

const AGENTS = [{ id: 9, name: "Analyst", role: "Marketing analyst" }] as unknown as Agent[];

function Harness({ errors = {}, seen }: { errors?: Record<string, string[]>; seen: { values?: ParamValues } }) {
  const [values, setValues] = useState<ParamValues>(defaultValues(PARAMS));
  seen.values = values;
  return (
    <ParamFields
      params={PARAMS}
      values={values}
      onChange={setValues}
      errorsFor={(path, nested) =>
        nested
          ? Object.entries(errors)
              .filter(([k]) => k === path || k.startsWith(`${path}.`))
              .flatMap(([, m]) => m)
          : (errors[path] ?? [])
      }
      connections={CONNECTIONS}
      connectors={CONNECTORS}
      agents={AGENTS}
    />
  );
}

describe("workflow parameter fields", () => {
  it("offers the resources and actions of the chosen connection's connector and builds the payload", async () => {
    const user = userEvent.setup();
    const seen: { values?: ParamValues } = {};
    render(<Harness seen={seen} />);
    expect(screen.getByLabelText("Resource to read")).toBeDisabled();

    await user.selectOptions(screen.getByLabelText("Source connection"), "CRM (HubSpot)");
    const resources = within(screen.getByLabelText("Resource to read")).getAllByRole("option");
    expect(resources.map((o) => o.textContent)).toEqual(["Choose a resource…", "contacts — Contacts (no date filter)"]);
    await user.selectOptions(screen.getByLabelText("Resource to read"), "contacts");

    // another source connection clears the resource chosen for the first one
    await user.selectOptions(screen.getByLabelText("Source connection"), "Blog (WordPress)");
    expect(screen.getByLabelText("Resource to read")).toHaveValue("");
    await user.selectOptions(screen.getByLabelText("Resource to read"), "posts");

    expect(screen.getByText("Choose the publishing action first.")).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Destination connection"), "Blog (WordPress)");
    await user.selectOptions(screen.getByLabelText("Publishing action"), "create_draft_post");
    await user.selectOptions(screen.getByLabelText("Title"), "A fixed value");
    await user.type(screen.getByLabelText("Title: fixed value"), "Weekly");
    await user.selectOptions(screen.getByLabelText("Content"), "The agent's text");
    await user.selectOptions(screen.getByLabelText("Analysing agent"), "Analyst — Marketing analyst");
    await user.clear(screen.getByLabelText("Report period (days)"));
    await user.type(screen.getByLabelText("Report period (days)"), "14");
    await user.click(screen.getByLabelText("Ask for approval before publishing"));

    expect(toPayload(PARAMS, seen.values ?? {})).toEqual({
      source_connection: 1,
      source_resource: "posts",
      window_days: 14,
      agent: 9,
      destination_connection: 1,
      destination_action: "create_draft_post",
      destination_input: { title: { value: "Weekly" }, content: { path: "output" } },
      require_approval: true,
    });
  });

  it("shows the API's parameters.* errors next to their fields, mapping fields included", async () => {
    const user = userEvent.setup();
    render(
      <Harness
        seen={{}}
        errors={{
          "parameters.window_days": ["Between 0 and 90."],
          "parameters.source_connection": ["This field is required."],
          "parameters.destination_input.content": ["Required by create_draft_post."],
        }}
      />,
    );
    expect(screen.getByLabelText("Report period (days)")).toHaveAccessibleDescription(/Between 0 and 90\./);
    expect(screen.getByLabelText("Source connection")).toHaveAccessibleDescription("This field is required.");
    await user.selectOptions(screen.getByLabelText("Destination connection"), "Blog (WordPress)");
    await user.selectOptions(screen.getByLabelText("Publishing action"), "create_draft_post");
    expect(screen.getByLabelText("Content")).toHaveAccessibleDescription("Required by create_draft_post.");
    expect(screen.getByLabelText("Excerpt (optional)")).not.toHaveAccessibleDescription();
  });

  it("sends what is not a whole number as typed, for the API to explain", () => {
    expect(toPayload(PARAMS, { window_days: "7.5", agent: "", require_approval: false })).toEqual({
      window_days: "7.5",
      require_approval: false,
    });
  });
});
