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

import { Mcp, buildMcpTools, chosenFrom } from "@/components/settings/Mcp";
import { SessionProvider } from "@/lib/session";
import { SWRConfig } from "swr";

const json = (body: unknown, status = 200) =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const page = <T,>(results: T[], count = results.length) => ({ count, next: null, previous: null, results });

function me() {
  return {
    id: 1,
    email: "me@acme.test",
    first_name: "Me",
    last_name: "",
    is_superuser: false,
    memberships: [],
    tenant: { slug: "acme", name: "Acme", role: "admin" },
    permissions: { api_keys: ["configure", "read"], audit_log: ["read"] },
  };
}

function serve(routes: Record<string, (req: Request, url: URL) => Response | Promise<Response>>) {
  http.handler = (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/api/v1/auth/me/") return json(me());
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

const overview = {
  server_url: "https://api.example.com/mcp/",
  connections: [
    {
      id: 4,
      name: "Sales CRM",
      provider: "hubspot",
      provider_name: "HubSpot",
      status: "active",
      resources: [
        { name: "contacts", description: "" },
        { name: "deals", description: "" },
      ],
      actions: [{ name: "upsert_contact", description: "Create or update a contact" }],
    },
  ],
  collections: [{ id: 2, name: "Handbook" }],
  agents: [],
  workflows: [],
  keys: [{ id: 11, tools: ["sales-crm__contacts"] }],
};

const key = (fields: Record<string, unknown> = {}) => ({
  id: 11,
  name: "Claude",
  key_prefix: "bzs_abc123",
  scopes: ["mcp"],
  mcp_tools: [{ connection: 4, resources: ["contacts"], actions: [] }],
  status: "active",
  created_at: "2026-11-01T00:00:00Z",
  expires_at: null,
  last_used_at: null,
  revoked_at: null,
  ...fields,
});

const call = {
  id: 90,
  created_at: "2026-12-01T10:00:00Z",
  actor_type: "api_key",
  actor_id: "11",
  actor_label: "Claude (bzs_abc123)",
  action: "mcp.tool_call",
  object_type: "connectors.connection",
  object_id: "4",
  object_repr: "Sales CRM (hubspot)",
  changes: { tool: "sales-crm__contacts", kind: "read", outcome: "ok", duration_ms: 41, arguments: ["limit"] },
  ip: null,
  user_agent: "",
  request_id: "",
};

beforeEach(() => {
  http.seen.length = 0;
});

describe("Settings → MCP", () => {
  it("shows the server URL and how to connect, each mcp key's tools and the recent calls", async () => {
    serve({
      "GET /api/v1/mcp/": () => json(overview),
      "GET /api/v1/api-keys/": () => json(page([key(), key({ id: 12, name: "Zapier", scopes: ["connections:read"] })])),
      "GET /api/v1/audit-log/": () => json(page([call])),
    });
    mount(<Mcp />);
    expect(await screen.findByTestId("mcp-url")).toHaveTextContent("https://api.example.com/mcp/");
    expect(screen.getByTestId("mcp-claude-code")).toHaveTextContent(
      'claude mcp add --transport http bizosaas https://api.example.com/mcp/ --header "Authorization: Bearer bzs_…"',
    );
    expect(JSON.parse(screen.getByTestId("mcp-claude-desktop").textContent!).mcpServers.bizosaas.args).toContain(
      "https://api.example.com/mcp/",
    );
    expect(screen.getByTestId("mcp-python")).toHaveTextContent("streamable_http_client(\"https://api.example.com/mcp/\"");
    const keys = await screen.findAllByTestId("mcp-key");
    expect(keys).toHaveLength(1); // only the key with the mcp scope
    expect(within(keys[0]).getByText("sales-crm__contacts")).toBeInTheDocument();
    const row = await screen.findByTestId("mcp-call");
    expect(row).toHaveTextContent("Claude (bzs_abc123)");
    expect(row).toHaveTextContent("sales-crm__contacts");
    expect(row).toHaveTextContent("41 ms");
    const audit = http.seen.find((r) => r.url.pathname === "/api/v1/audit-log/")!;
    expect(audit.url.searchParams.get("action")).toBe("mcp.tool_call");
  });

  it("edits a key's tools like an agent's grants and shows the API's field errors at the connection", async () => {
    let fail = true;
    serve({
      "GET /api/v1/mcp/": () => json(overview),
      "GET /api/v1/api-keys/": () => json(page([key()])),
      "GET /api/v1/audit-log/": () => json(page([])),
      "PATCH /api/v1/api-keys/11/": () =>
        fail
          ? json({ "mcp_tools.0.actions.0": ["HubSpot has no action 'upsert_contact'."] }, 400)
          : json(key({ mcp_tools: [] })),
    });
    mount(<Mcp />);
    fireEvent.click(await screen.findByRole("button", { name: "Edit tools of Claude" }));
    const form = await screen.findByRole("form", { name: "MCP tools of Claude" });
    const reads = within(form).getByRole("group", { name: "Sales CRM: data it may read" });
    expect(within(reads).getByLabelText("contacts")).toBeChecked();
    fireEvent.click(within(reads).getByLabelText("deals"));
    const actions = within(form).getByRole("group", { name: "Sales CRM: actions it may perform" });
    fireEvent.click(within(actions).getByLabelText("upsert_contact"));
    fireEvent.click(within(actions).getByLabelText("Ask a person before upsert_contact"));
    fireEvent.click(within(form).getByLabelText("Handbook"));
    fireEvent.click(within(form).getByRole("button", { name: "Save tools" }));

    await waitFor(() => expect(http.seen.some((r) => r.method === "PATCH")).toBe(true));
    expect(http.seen.find((r) => r.method === "PATCH")!.body).toEqual({
      mcp_tools: [
        { connection: 4, resources: ["contacts", "deals"], actions: ["upsert_contact"], action_policies: { upsert_contact: "ask" } },
        { collections: [2], agents: [], workflows: [] },
      ],
    });
    expect(await within(form).findByText("HubSpot has no action 'upsert_contact'.")).toBeInTheDocument();
    expect(screen.getByTestId("mcp-tools-4")).toHaveClass("field-invalid");

    fail = false;
    fireEvent.click(within(form).getByRole("button", { name: "Save tools" }));
    expect(await within(form).findByRole("button", { name: "Tools saved" })).toBeInTheDocument();
  });

  it("says how to get a key when none has the mcp scope, and offers a retry when loading fails", async () => {
    serve({
      "GET /api/v1/mcp/": () => json({ ...overview, keys: [] }),
      "GET /api/v1/api-keys/": () => json(page([])),
      "GET /api/v1/audit-log/": () => json(page([])),
    });
    const { unmount } = mount(<Mcp />);
    expect(await screen.findByText("No key has the mcp scope")).toBeInTheDocument();
    expect(await screen.findByText("No calls yet")).toBeInTheDocument();
    unmount();

    serve({ "GET /api/v1/mcp/": () => json({ detail: "Server error." }, 500) });
    mount(<Mcp />);
    expect(await screen.findByTestId("error")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });

  it("keeps the saved tools when the grants round-trip", () => {
    const grants = [
      { connection: 4, resources: ["deals"], actions: ["upsert_contact"], action_policies: { upsert_contact: "ask" as const } },
      { collections: [2], agents: [], workflows: [] },
    ];
    expect(buildMcpTools(overview, chosenFrom(grants))).toEqual(grants);
  });
});
