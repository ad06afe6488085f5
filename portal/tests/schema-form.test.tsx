import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { type ConfigField, SchemaForm, buildConfig, initialValues } from "@/components/SchemaForm";
import { ApiError } from "@/lib/api/errors";

function field(name: string, label: string, extra: Partial<ConfigField> = {}): ConfigField {
  return { name, label, type: "string", required: true, secret: false, help: "", default: null, choices: [], ...extra };
}

// Every field type apps/connectors/base.py declares, as the catalogue describes them.
const SCHEMA: ConfigField[] = [
  field("site_url", "Site URL", { type: "url", help: "e.g. https://blog.example.com" }),
  field("username", "User name"),
  field("application_password", "Application password", { type: "secret", secret: true }),
  field("notes", "Notes", { type: "text", required: false }),
  field("contact_email", "Contact email", { type: "email", required: false }),
  field("page_size", "Page size", { type: "integer", required: false, default: 50 }),
  field("sandbox", "Use the sandbox", { type: "boolean", required: false, default: false }),
  field("region", "Data centre", { type: "choice", choices: ["com", "eu", "in"], default: "com" }),
];

describe("SchemaForm", () => {
  it("renders a labelled control of the right kind for each field type, with required markers and help", () => {
    render(<SchemaForm schema={SCHEMA} name="My blog" onSubmit={() => undefined} />);
    expect(screen.getByLabelText("Connection name")).toHaveValue("My blog");
    expect(screen.getByLabelText("Site URL")).toHaveAttribute("type", "url");
    expect(screen.getByLabelText("Site URL")).toBeRequired();
    expect(screen.getByLabelText("Site URL")).toHaveAccessibleDescription("e.g. https://blog.example.com");
    expect(screen.getByLabelText("User name")).toHaveAttribute("type", "text");
    expect(screen.getByLabelText("Application password")).toHaveAttribute("type", "password");
    expect(screen.getByLabelText("Notes").tagName).toBe("TEXTAREA");
    expect(screen.getByLabelText("Notes")).not.toBeRequired();
    expect(screen.getByLabelText("Contact email")).toHaveAttribute("type", "email");
    expect(screen.getByLabelText("Page size")).toHaveAttribute("type", "number");
    expect(screen.getByLabelText("Page size")).toHaveValue(50); // the schema's default
    expect(screen.getByLabelText("Use the sandbox")).not.toBeChecked();
    const region = screen.getByLabelText("Data centre");
    expect(region.tagName).toBe("SELECT");
    expect(region).toHaveValue("com");
    expect(within(region).getAllByRole("option").map((o) => o.textContent)).toEqual(["com", "eu", "in"]);
    // required fields are marked for assistive technology (the visible "*" follows aria-required in CSS)
    expect(screen.getByLabelText("User name")).toHaveAttribute("aria-required", "true");
    expect(screen.getByLabelText("Contact email")).not.toHaveAttribute("aria-required");
  });

  it("never prefills a secret on edit and says a stored one is kept when left blank", () => {
    render(
      <SchemaForm
        schema={SCHEMA}
        editing
        name="Blog"
        config={{ site_url: "https://blog.example.com", username: "editor", region: "eu", sandbox: true, page_size: 20 }}
        secretsSet={{ application_password: "********" }}
        onSubmit={() => undefined}
      />,
    );
    expect(screen.getByLabelText("Site URL")).toHaveValue("https://blog.example.com");
    expect(screen.getByLabelText("Data centre")).toHaveValue("eu");
    expect(screen.getByLabelText("Use the sandbox")).toBeChecked();
    const secret = screen.getByLabelText("Application password");
    expect(secret).toHaveValue("");
    expect(secret).not.toBeRequired();
    expect(secret).toHaveAccessibleDescription(/stored; leave blank to keep it/);
    expect(document.body.innerHTML).not.toContain("********");
  });

  it("submits typed values under config on create", async () => {
    const onSubmit = vi.fn();
    render(<SchemaForm schema={SCHEMA} name="Blog" onSubmit={onSubmit} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Site URL"), "https://blog.example.com");
    await user.type(screen.getByLabelText("User name"), "editor");
    await user.type(screen.getByLabelText("Application password"), "abcd efgh");
    await user.clear(screen.getByLabelText("Page size"));
    await user.type(screen.getByLabelText("Page size"), "25");
    await user.click(screen.getByLabelText("Use the sandbox"));
    await user.selectOptions(screen.getByLabelText("Data centre"), "in");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(onSubmit).toHaveBeenCalledWith({
      name: "Blog",
      config: {
        site_url: "https://blog.example.com",
        username: "editor",
        application_password: "abcd efgh",
        page_size: 25,
        sandbox: true,
        region: "in",
      },
    });
  });

  it("on edit leaves a blank secret out (kept) and sends a new one", async () => {
    const onSubmit = vi.fn();
    const props = {
      schema: SCHEMA,
      editing: true,
      name: "Blog",
      config: { site_url: "https://blog.example.com", username: "editor", region: "com" },
      secretsSet: { application_password: "********" },
      onSubmit,
    };
    const { unmount } = render(<SchemaForm {...props} />);
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(onSubmit.mock.calls[0][0].config).not.toHaveProperty("application_password");
    expect(onSubmit.mock.calls[0][0].config.site_url).toBe("https://blog.example.com");
    unmount();

    render(<SchemaForm {...props} />);
    await user.type(screen.getByLabelText("Application password"), "new secret");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(onSubmit.mock.calls[1][0].config.application_password).toBe("new secret");
  });

  it("shows the API's field errors next to their fields, nested config/credentials paths included", () => {
    const error = new ApiError(400, {
      name: ["This field may not be blank."],
      "config.site_url": ["Enter a valid URL."],
      config: { region: ["One of: com, eu, in."] },
      "credentials.application_password": ["This field is required."],
      "config.unknown_thing": ["Unknown field."],
    });
    render(<SchemaForm schema={SCHEMA} name="" error={error} onSubmit={() => undefined} />);
    const site = screen.getByLabelText("Site URL");
    expect(site).toHaveAttribute("aria-invalid", "true");
    expect(site).toHaveAccessibleDescription(/Enter a valid URL\./);
    expect(screen.getByLabelText("Data centre")).toHaveAccessibleDescription("One of: com, eu, in.");
    expect(screen.getByLabelText("Application password")).toHaveAccessibleDescription("This field is required.");
    expect(screen.getByLabelText("Connection name")).toHaveAccessibleDescription(/may not be blank/);
    expect(screen.getByLabelText("User name")).not.toHaveAttribute("aria-invalid");
    // the form-level alert lists only what no control shows
    const alerts = screen.getAllByRole("alert");
    const formAlert = alerts.find((a) => a.classList.contains("alert-error")) as HTMLElement;
    expect(formAlert).toHaveTextContent("config.unknown_thing");
    expect(formAlert).not.toHaveTextContent("Enter a valid URL");
  });

  it("is read only for roles that cannot configure: disabled controls and no submit button", () => {
    const onSubmit = vi.fn();
    render(<SchemaForm schema={SCHEMA} name="Blog" editing readOnly config={{ site_url: "https://a.example" }} onSubmit={onSubmit} />);
    expect(screen.getByLabelText("Site URL")).toBeDisabled();
    expect(screen.getByLabelText("Data centre")).toBeDisabled();
    expect(screen.queryByRole("button", { name: "Save" })).toBeNull();
  });
});

describe("buildConfig and initialValues", () => {
  it("leave optional blanks out on create, keep secrets blank and send bad integers as typed for the API to refuse", () => {
    const values = { ...initialValues(SCHEMA, null), page_size: "twelve", notes: "" };
    const config = buildConfig(SCHEMA, values, false);
    expect(config).not.toHaveProperty("notes");
    expect(config.page_size).toBe("twelve");
    expect(config.application_password).toBe(""); // required on create: the API answers "This field is required."
    expect(initialValues(SCHEMA, { application_password: "leaked?" }).application_password).toBe("");
  });
});
