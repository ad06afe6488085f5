import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { AgentSettingsForm, type SettingsBody } from "@/components/agents/AgentSettingsForm";
import { ToolsEditor, buildGrants } from "@/components/agents/ToolsEditor";
import type { Agent, AvailableConnection, Grant, Provider } from "@/components/agents/types";
import { ApiError } from "@/lib/api/errors";

const provider = {
  id: 3,
  name: "Team OpenAI",
  kind: "openai",
  kind_name: "OpenAI",
  base_url: "",
  api_version: "",
  default_model: "gpt-4o-mini",
  api_key_set: true,
  last_tested_at: null,
  last_test_ok: null,
  last_test_error: "",
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
} as unknown as Provider;

function agent(overrides: Partial<Agent> = {}): Agent {
  return {
    id: 7,
    name: "Scout",
    role: "Sales assistant",
    goal: "Keep the CRM tidy",
    backstory: "You work for a bakery.",
    provider: 3,
    provider_name: "Team OpenAI",
    model: "",
    effective_model: "gpt-4o-mini",
    temperature: 0.7,
    max_iterations: 10,
    max_execution_time: 120,
    enabled: true,
    template: "",
    grants: [],
    collections: [],
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...overrides,
  } as Agent;
}

const available: AvailableConnection[] = [
  {
    connection: { id: 11, name: "Blog", provider: "wordpress", provider_name: "WordPress", status: "active" },
    resources: [
      { name: "posts", description: "Blog posts", granted: false },
      { name: "pages", description: "Pages", granted: false },
    ],
    actions: [{ name: "create_draft_post", description: "Create a draft", granted: false }],
  },
  {
    connection: { id: 12, name: "CRM", provider: "hubspot", provider_name: "HubSpot", status: "active" },
    resources: [
      { name: "contacts", description: "Contacts", granted: true },
      { name: "deals", description: "Deals", granted: false },
    ],
    actions: [
      { name: "upsert_contact", description: "Create or update a contact", granted: false },
      { name: "create_deal", description: "Create a deal", granted: false },
    ],
  },
];

describe("agent settings form", () => {
  it("shows the temperature slider's value next to its label and saves only what changed", async () => {
    const onSave = vi.fn(async (body: SettingsBody) => agent({ temperature: Number(body.temperature) }));
    render(<AgentSettingsForm agent={agent()} providers={[provider]} readOnly={false} onSave={onSave} />);

    const slider = screen.getByRole("slider", { name: "Temperature" });
    expect(slider).toHaveAttribute("min", "0");
    expect(slider).toHaveAttribute("max", "2");
    expect(slider).toHaveAttribute("step", "0.1");
    expect(slider).toHaveValue("0.7");
    expect(screen.getByTestId("temperature-value")).toHaveTextContent("0.7");
    const save = screen.getByRole("button", { name: "Save" });
    expect(save).toBeDisabled();

    fireEvent.change(slider, { target: { value: "1.3" } });
    expect(screen.getByTestId("temperature-value")).toHaveTextContent("1.3");
    expect(slider).toHaveAttribute("aria-valuetext", "1.3");
    expect(save).toBeEnabled();

    await userEvent.click(save);
    expect(onSave).toHaveBeenCalledWith({ temperature: "1.30" });
    const saved = await screen.findByRole("button", { name: "Saved" });
    expect(saved).toBeDisabled();

    await userEvent.type(screen.getByLabelText("Role"), "!");
    expect(screen.getByRole("button", { name: "Save" })).toBeEnabled();
  });

  it("puts the API's field errors next to their fields", async () => {
    const onSave = vi.fn(async () => {
      throw new ApiError(400, {
        role: ["This field may not be blank."],
        max_iterations: ["Between 1 and 50."],
      });
    });
    render(<AgentSettingsForm agent={agent()} providers={[provider]} readOnly={false} onSave={onSave} />);
    await userEvent.clear(screen.getByLabelText("Role"));
    await userEvent.clear(screen.getByLabelText("Max iterations"));
    await userEvent.type(screen.getByLabelText("Max iterations"), "99");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));

    expect(onSave).toHaveBeenCalledWith({ role: "", max_iterations: 99 });
    const role = screen.getByLabelText("Role");
    await waitFor(() => expect(role).toHaveAttribute("aria-invalid", "true"));
    expect(role.closest(".field")).toHaveTextContent("This field may not be blank.");
    expect(screen.getByLabelText("Max iterations").closest(".field")).toHaveTextContent("Between 1 and 50.");
    expect(screen.getByLabelText("Goal").closest(".field")).not.toHaveTextContent("Between 1 and 50.");
    expect(screen.getByRole("button", { name: "Save" })).toBeEnabled();
  });

  it("is read-only for a viewer: no save button and disabled controls", () => {
    render(<AgentSettingsForm agent={agent()} providers={[provider]} readOnly onSave={vi.fn()} />);
    expect(screen.queryByRole("button", { name: /Save/ })).toBeNull();
    expect(screen.getByRole("slider", { name: "Temperature" })).toBeDisabled();
    expect(screen.getByLabelText("Backstory")).toBeDisabled();
  });

  it("offers a link to settings when the tenant has no LLM provider", () => {
    render(<AgentSettingsForm agent={agent({ provider: null })} providers={[]} readOnly={false} onSave={vi.fn()} />);
    expect(screen.getByRole("link", { name: /Add one in Settings/ })).toHaveAttribute("href", "/dashboard/settings");
  });
});

describe("tools editor", () => {
  it("builds the grants body from the ticked checkboxes, per connection, in the connector's order", async () => {
    const onSave = vi.fn(async (_grants: Grant[]) => undefined);
    render(<ToolsEditor available={available} readOnly={false} onSave={onSave} />);
    const crm = screen.getByTestId("tools-12");
    expect(within(crm).getByRole("checkbox", { name: /^contacts/ })).toBeChecked();
    expect(screen.getByRole("button", { name: "Save tools" })).toBeDisabled();

    await userEvent.click(within(crm).getByRole("checkbox", { name: /^create_deal/ }));
    await userEvent.click(within(crm).getByRole("checkbox", { name: /^upsert_contact/ }));
    await userEvent.click(within(screen.getByTestId("tools-11")).getByRole("checkbox", { name: /^posts/ }));
    await userEvent.click(screen.getByRole("button", { name: "Save tools" }));

    expect(onSave).toHaveBeenCalledWith([
      { connection: 11, resources: ["posts"], actions: [], action_policies: {}, allow_unattended_from_rules: false },
      {
        connection: 12,
        resources: ["contacts"],
        actions: ["upsert_contact", "create_deal"],
        action_policies: { upsert_contact: "allow", create_deal: "allow" },
        allow_unattended_from_rules: false,
      },
    ]);
    expect(await screen.findByRole("button", { name: "Tools saved" })).toBeDisabled();
  });

  it("drops a connection with nothing ticked", () => {
    const none = { 11: { resources: [], actions: [] }, 12: { resources: [], actions: ["create_deal"] } };
    expect(buildGrants(available, none)).toEqual([
      {
        connection: 12,
        resources: [],
        actions: ["create_deal"],
        action_policies: { create_deal: "allow" },
        allow_unattended_from_rules: false,
      },
    ]);
  });

  it("lets an admin choose ask per granted action and unattended writes from rules", async () => {
    const onSave = vi.fn(async (_grants: Grant[]) => undefined);
    render(<ToolsEditor available={available} readOnly={false} onSave={onSave} />);
    const crm = screen.getByTestId("tools-12");
    await userEvent.click(within(crm).getByRole("checkbox", { name: /^upsert_contact/ }));
    const policies = screen.getByTestId("policies-12");
    await userEvent.selectOptions(within(policies).getByLabelText("upsert_contact: allow or ask"), "ask");
    await userEvent.click(within(policies).getByRole("checkbox", { name: /started by a rule/ }));
    await userEvent.click(screen.getByRole("button", { name: "Save tools" }));

    expect(onSave).toHaveBeenCalledWith([
      {
        connection: 12,
        resources: ["contacts"],
        actions: ["upsert_contact"],
        action_policies: { upsert_contact: "ask" },
        allow_unattended_from_rules: true,
      },
    ]);
  });

  it("shows an error at grants.N next to the checkboxes of the connection sent at index N", async () => {
    const onSave = vi.fn(async () => {
      throw new ApiError(400, { "grants.0.actions.1": ["HubSpot has no action 'create_deal'."] });
    });
    render(<ToolsEditor available={available} readOnly={false} onSave={onSave} />);
    const crm = screen.getByTestId("tools-12");
    await userEvent.click(within(crm).getByRole("checkbox", { name: /^upsert_contact/ }));
    await userEvent.click(within(crm).getByRole("checkbox", { name: /^create_deal/ }));
    await userEvent.click(screen.getByRole("button", { name: "Save tools" }));

    // only the CRM has ticks, so it is grants.0 in the body although it is second on the page
    expect(await within(crm).findByRole("alert")).toHaveTextContent("HubSpot has no action 'create_deal'.");
    expect(crm).toHaveAttribute("aria-describedby", "tools-12-error");
    expect(within(screen.getByTestId("tools-11")).queryByRole("alert")).toBeNull();
  });

  it("explains what to do when there is no connection", () => {
    render(<ToolsEditor available={[]} readOnly={false} onSave={vi.fn()} />);
    expect(screen.getByRole("link", { name: "Connectors" })).toHaveAttribute("href", "/dashboard/connectors");
  });
});
