import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";

// A fake HTTP layer for the portal's own client: installed before the client module captures fetch.
const http = vi.hoisted(() => {
  type Handler = (req: Request) => Response | Promise<Response>;
  const state = { handler: null as Handler | null, seen: [] as { method: string; url: URL; body: unknown }[] };
  const Base = globalThis.Request;
  class PortalRequest extends Base {
    constructor(input: RequestInfo | URL, init?: RequestInit) {
      super(typeof input === "string" && input.startsWith("/") ? `http://portal.test${input}` : input, init);
    }
  }
  globalThis.Request = PortalRequest as typeof Request;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new PortalRequest(input, init);
    const text = req.method === "GET" || req.method === "DELETE" ? "" : await req.clone().text();
    state.seen.push({ method: req.method, url: new URL(req.url), body: text ? JSON.parse(text) : undefined });
    return state.handler!(req);
  }) as typeof fetch;
  return state;
});

vi.mock("next/navigation", () => ({
  useRouter: () => ({ replace: vi.fn(), push: vi.fn() }),
  usePathname: () => "/dashboard/settings",
  useSearchParams: () => new URLSearchParams(),
}));

import { AuditLog } from "@/components/settings/AuditLog";
import { ConnectedApps } from "@/components/settings/ConnectedApps";
import { Invitations } from "@/components/settings/Invitations";
import { LLMProviders } from "@/components/settings/LLMProviders";
import { Members } from "@/components/settings/Members";
import { Usage } from "@/components/settings/Usage";
import { SessionProvider } from "@/lib/session";
import { SWRConfig } from "swr";

const json = (body: unknown, status = 200) =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const page = <T,>(results: T[], count = results.length) => ({ count, next: null, previous: null, results });

const PERMISSIONS = {
  owner: {
    members: ["manage", "read"],
    invitations: ["configure", "read"],
    agents: ["configure", "read", "use"],
    audit_log: ["read"],
    tenant: ["manage", "read"],
    oauth_grants: ["manage", "read", "use"],
  },
  viewer: { members: ["read"], agents: ["read"], tenant: ["read"] },
};

function me(role: "owner" | "viewer") {
  return {
    id: 1,
    email: "me@acme.test",
    first_name: "Me",
    last_name: "",
    is_superuser: false,
    memberships: [],
    tenant: { slug: "acme", name: "Acme", role },
    permissions: PERMISSIONS[role],
  };
}

const provider = {
  id: 3,
  name: "House model",
  kind: "openai_compatible",
  kind_name: "OpenAI-compatible endpoint",
  base_url: "http://llm.internal/v1",
  api_version: "",
  default_model: "m1",
  api_key_set: true,
  last_tested_at: null,
  last_test_ok: null,
  last_test_error: "",
  created_at: "2026-11-01T00:00:00Z",
  updated_at: "2026-11-01T00:00:00Z",
};

function serve(role: "owner" | "viewer", routes: Record<string, (req: Request, url: URL) => Response | Promise<Response>>) {
  http.handler = (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/api/v1/auth/me/") return json(me(role));
    const route = routes[`${req.method} ${url.pathname}`];
    return route ? route(req, url) : json({ detail: "Not found." }, 404);
  };
}

function mount(node: React.ReactNode) {
  return render(
    <SWRConfig value={{ provider: () => new Map(), dedupingInterval: 0 }}>
      <SessionProvider fallback={<p>loading session</p>}>{node}</SessionProvider>
    </SWRConfig>,
  );
}

beforeEach(() => {
  http.seen.length = 0;
});

describe("LLM providers", () => {
  it("edits without sending the key when it is left blank, and removes it only when asked", async () => {
    const providers = [provider];
    serve("owner", {
      "GET /api/v1/llm-providers/": () => json(page(providers)),
      "PATCH /api/v1/llm-providers/3/": () => json(provider),
    });
    mount(<LLMProviders />);
    fireEvent.click(await screen.findByRole("button", { name: "Edit House model" }));
    const dialog = await screen.findByRole("dialog", { name: "Edit House model" });
    const key = within(dialog).getByLabelText("API key");
    expect(key).toHaveAttribute("type", "password");
    expect(key).toHaveValue("");
    fireEvent.change(within(dialog).getByLabelText("Default model"), { target: { value: "m2" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save provider" }));
    await waitFor(() => expect(http.seen.some((r) => r.method === "PATCH")).toBe(true));
    const patch = http.seen.find((r) => r.method === "PATCH")!;
    expect(patch.body).toEqual({
      name: "House model",
      kind: "openai_compatible",
      base_url: "http://llm.internal/v1",
      api_version: "",
      default_model: "m2",
    });

    fireEvent.click(await screen.findByRole("button", { name: "Edit House model" }));
    const again = await screen.findByRole("dialog", { name: "Edit House model" });
    fireEvent.click(within(again).getByLabelText("Remove the stored key"));
    fireEvent.click(within(again).getByRole("button", { name: "Save provider" }));
    await waitFor(() => expect(http.seen.filter((r) => r.method === "PATCH")).toHaveLength(2));
    expect((http.seen.filter((r) => r.method === "PATCH")[1].body as { api_key: string }).api_key).toBe("");
  });

  it("shows the API's field errors next to the fields and the test result", async () => {
    serve("owner", {
      "GET /api/v1/llm-providers/": () => json(page([provider])),
      "POST /api/v1/llm-providers/": () => json({ default_model: ["This field may not be blank."] }, 400),
      "POST /api/v1/llm-providers/3/test/": () =>
        json({ ok: false, latency_ms: 12, error: "401 from the provider", tested_at: "2026-11-24T00:00:00Z" }),
    });
    mount(<LLMProviders />);
    fireEvent.click(await screen.findByRole("button", { name: "Test House model" }));
    expect(await screen.findByText("Failed: 401 from the provider")).toBeInTheDocument();

    fireEvent.click(screen.getAllByRole("button", { name: "Add provider" })[0]);
    const dialog = await screen.findByRole("dialog", { name: "Add an LLM provider" });
    fireEvent.change(within(dialog).getByLabelText("Kind"), { target: { value: "anthropic" } });
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "Claude" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Add provider" }));
    const model = within(dialog).getByLabelText("Default model");
    await waitFor(() => expect(model).toHaveAttribute("aria-invalid", "true"));
    expect(model).toHaveAccessibleDescription(/This field may not be blank/);
    const post = http.seen.find((r) => r.method === "POST" && r.url.pathname === "/api/v1/llm-providers/")!;
    expect(post.body).toEqual({ name: "Claude", kind: "anthropic", base_url: "", api_version: "", default_model: "" });
  });

  it("offers a viewer no control that changes anything", async () => {
    serve("viewer", { "GET /api/v1/llm-providers/": () => json(page([provider])) });
    mount(<LLMProviders />);
    await screen.findByText("House model");
    expect(screen.queryByRole("button", { name: /add|edit|delete|test/i })).not.toBeInTheDocument();
  });
});

describe("members and invitations", () => {
  const members = [
    { id: 1, email: "me@acme.test", first_name: "Me", last_name: "", role: "owner", created_at: "2026-11-01T00:00:00Z" },
    { id: 2, email: "ann@acme.test", first_name: "Ann", last_name: "Lee", role: "member", created_at: "2026-11-02T00:00:00Z" },
  ];

  it("lets an owner change a role and remove someone after confirming", async () => {
    serve("owner", {
      "GET /api/v1/members/": () => json(page(members)),
      "PATCH /api/v1/members/2/": () => json({ ...members[1], role: "admin" }),
      "DELETE /api/v1/members/2/": () => json(null, 204),
    });
    mount(<Members />);
    const role = await screen.findByRole("combobox", { name: "Role of ann@acme.test" });
    expect(screen.queryByRole("combobox", { name: "Role of me@acme.test" })).not.toBeInTheDocument();
    fireEvent.change(role, { target: { value: "admin" } });
    await waitFor(() => expect(http.seen.find((r) => r.method === "PATCH")?.body).toEqual({ role: "admin" }));

    fireEvent.click(screen.getByRole("button", { name: "Remove" }));
    expect(http.seen.some((r) => r.method === "DELETE")).toBe(false); // asks first
    const dialog = await screen.findByRole("dialog", { name: "Remove member" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Remove" }));
    await waitFor(() => expect(http.seen.some((r) => r.method === "DELETE" && r.url.pathname === "/api/v1/members/2/")).toBe(true));
  });

  it("shows a viewer the roles without controls", async () => {
    serve("viewer", { "GET /api/v1/members/": () => json(page(members)) });
    mount(<Members />);
    await screen.findByText("ann@acme.test");
    expect(screen.queryByRole("combobox")).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Remove" })).not.toBeInTheDocument();
  });

  it("invites by email and role, shows the API's field error, and revokes after confirming", async () => {
    const invitations = [
      { id: 5, email: "bob@acme.test", role: "viewer", status: "pending", invited_by: "me@acme.test", created_at: "2026-11-20T00:00:00Z", expires_at: "2026-11-27T00:00:00Z", accepted_at: null },
    ];
    let calls = 0;
    serve("owner", {
      "GET /api/v1/invitations/": () => json(page(invitations)),
      "POST /api/v1/invitations/": () =>
        ++calls === 1 ? json({ email: ["This person is already a member."] }, 400) : json(invitations[0], 201),
      "DELETE /api/v1/invitations/5/": () => json(null, 204),
    });
    mount(<Invitations />);
    const email = await screen.findByLabelText("Email");
    fireEvent.change(email, { target: { value: "ann@acme.test" } });
    fireEvent.change(screen.getByLabelText("Role"), { target: { value: "admin" } });
    fireEvent.click(screen.getByRole("button", { name: "Send invitation" }));
    await waitFor(() => expect(email).toHaveAccessibleDescription("This person is already a member."));
    expect(http.seen.find((r) => r.method === "POST")?.body).toEqual({ email: "ann@acme.test", role: "admin" });
    fireEvent.change(email, { target: { value: "cy@acme.test" } });
    fireEvent.click(screen.getByRole("button", { name: "Send invitation" }));
    expect(await screen.findByText("Invitation emailed to cy@acme.test.")).toBeInTheDocument();

    fireEvent.click(screen.getByRole("button", { name: "Revoke" }));
    const dialog = await screen.findByRole("dialog", { name: "Revoke invitation" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Revoke" }));
    await waitFor(() => expect(http.seen.some((r) => r.method === "DELETE")).toBe(true));
  });
});

describe("connected apps", () => {
  const grant = {
    id: 7,
    client_id: "abc",
    client_name: "Desktop MCP client",
    client_uri: "",
    user_email: "ann@acme.test",
    scopes: ["mcp"],
    created_at: "2026-11-20T00:00:00Z",
    last_used_at: null,
  };

  it("lists the connected clients and disconnects one after confirming", async () => {
    let grants = [grant];
    serve("owner", {
      "GET /api/v1/oauth-grants/": () => json(page(grants)),
      "DELETE /api/v1/oauth-grants/7/": () => {
        grants = [];
        return json(null, 204);
      },
    });
    mount(<ConnectedApps />);
    const row = await screen.findByTestId("connected-app-row");
    expect(within(row).getByText("Desktop MCP client")).toBeInTheDocument();
    expect(within(row).getByText("ann@acme.test")).toBeInTheDocument();
    expect(within(row).getByText("Never")).toBeInTheDocument();
    fireEvent.click(within(row).getByRole("button", { name: "Disconnect" }));
    expect(http.seen.some((r) => r.method === "DELETE")).toBe(false); // asks first
    const dialog = await screen.findByRole("dialog", { name: "Disconnect application" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Disconnect" }));
    await waitFor(() =>
      expect(http.seen.some((r) => r.method === "DELETE" && r.url.pathname === "/api/v1/oauth-grants/7/")).toBe(true),
    );
    expect(await screen.findByText("No connected apps")).toBeInTheDocument();
  });

  it("says when nothing is connected", async () => {
    serve("viewer", { "GET /api/v1/oauth-grants/": () => json(page([])) });
    mount(<ConnectedApps />);
    expect(await screen.findByText("No connected apps")).toBeInTheDocument();
  });
});

describe("audit log", () => {
  it("sends the filters and pages through the API", async () => {
    const event = (id: number) => ({
      id,
      created_at: "2026-11-24T10:00:00Z",
      actor_type: "user",
      actor_id: "1",
      actor_label: "me@acme.test",
      action: "member.updated",
      object_type: "membership",
      object_id: "2",
      object_repr: "ann@acme.test",
      changes: { role: ["member", "admin"] },
      ip: null,
      user_agent: "",
      request_id: "",
    });
    serve("owner", {
      "GET /api/v1/audit-log/": (_req, url) =>
        url.searchParams.get("since") === "nonsense"
          ? json({ since: ["Not an ISO 8601 date-time."] }, 400)
          : json(page([event(Number(url.searchParams.get("offset") ?? 0) + 1)], 60)),
    });
    mount(<AuditLog />);
    await screen.findAllByTestId("audit-row");
    fireEvent.change(screen.getByLabelText("Action"), { target: { value: "member." } });
    fireEvent.change(screen.getByLabelText("Since"), { target: { value: "2026-11-20T08:30" } });
    fireEvent.click(screen.getByRole("button", { name: "Apply filters" }));
    await waitFor(() => {
      const last = http.seen.filter((r) => r.url.pathname === "/api/v1/audit-log/").at(-1)!.url.searchParams;
      expect(last.get("action")).toBe("member.");
      expect(last.get("since")).toBe(new Date("2026-11-20T08:30").toISOString());
      expect(last.get("offset")).toBe("0");
    });
    fireEvent.click(await screen.findByRole("button", { name: "Next" }));
    await waitFor(() =>
      expect(http.seen.filter((r) => r.url.pathname === "/api/v1/audit-log/").at(-1)!.url.searchParams.get("offset")).toBe("25"),
    );
    expect(screen.getByText("26–50 of 60")).toBeInTheDocument();

    fireEvent.click(screen.getAllByRole("button", { name: "me@acme.test" })[0]);
    await waitFor(() => {
      const last = http.seen.filter((r) => r.url.pathname === "/api/v1/audit-log/").at(-1)!.url.searchParams;
      expect([last.get("actor_type"), last.get("actor_id"), last.get("offset")]).toEqual(["user", "1", "0"]);
    });
  });
});

describe("Usage", () => {
  const limit = (key: string, fields: Record<string, unknown>) => ({
    key,
    label: key,
    unit: "connections",
    period: "none",
    kind: "capacity",
    per: "",
    limit_value: 50,
    usage: 0,
    resets_at: null,
    ...fields,
  });

  it("draws a bar per limit against its value, with the window and the figures", async () => {
    serve("owner", {
      "GET /api/v1/usage/": () =>
        json({
          limits: [
            limit("connections", { label: "Connections", usage: 45 }),
            limit("knowledge_bytes", { label: "Knowledge storage", unit: "bytes", limit_value: 1048576, usage: 2048 }),
            limit("api_requests_per_minute", {
              label: "API requests per minute",
              unit: "requests",
              period: "minute",
              kind: "rate",
              limit_value: 3,
              usage: null,
              resets_at: "2026-12-02T10:00:00Z",
            }),
          ],
        }),
    });
    mount(<Usage />);

    const connections = await screen.findByRole("meter", { name: "Connections" });
    expect(connections.getAttribute("aria-valuenow")).toBe("45");
    expect(connections.getAttribute("aria-valuemax")).toBe("50");
    expect(connections.className).toContain("usage-bar-wait"); // 90 %
    expect((connections.firstChild as HTMLElement).style.width).toBe("90%");
    expect(screen.getByRole("meter", { name: "Knowledge storage" }).getAttribute("aria-valuetext")).toBe(
      "2 KiB of 1 MiB",
    );
    const rate = screen.getByTestId("usage-api_requests_per_minute");
    expect(within(rate).getByTestId("usage-figures").textContent).toBe("unknown of 3 requests");
    expect(rate.textContent).toContain("The counters cannot be read right now. This minute; resets");
  });

  it("shows the error with a retry when the usage cannot be loaded", async () => {
    serve("owner", { "GET /api/v1/usage/": () => json({ detail: "Your role may not read usage." }, 403) });
    mount(<Usage />);

    expect((await screen.findByRole("alert")).textContent).toContain("Your role may not read usage.");
    expect(screen.getByRole("button", { name: "Try again" })).toBeTruthy();
  });
});
