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
  usePathname: () => "/dashboard/approvals",
  useSearchParams: () => new URLSearchParams(),
}));

import { Inbox, parseInput } from "@/components/approvals/Inbox";
import { SessionProvider } from "@/lib/session";
import { SWRConfig } from "swr";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const page = <T,>(results: T[]) => ({ count: results.length, next: null, previous: null, results });

function me(role: "member" | "viewer") {
  return {
    id: 1,
    email: "me@acme.test",
    first_name: "Me",
    last_name: "",
    is_superuser: false,
    memberships: [],
    tenant: { slug: "acme", name: "Acme", role },
    permissions: role === "member" ? { approvals: ["read", "use"] } : { approvals: ["read"] },
  };
}

const ID = "3f8a2c1e-0000-4000-8000-000000000001";
const agentItem = {
  kind: "agent",
  id: ID,
  title: "Sales assistant: upsert_contact on HubSpot",
  status: "pending",
  proposed_input: { email: "ada@example.com", first_name: "Ada" },
  final_input: null,
  reason: "Ada asked to join the newsletter.",
  action: "upsert_contact",
  connection: { id: 4, name: "HubSpot", provider: "hubspot" },
  agent: { id: 7, name: "Sales assistant" },
  workflow: null,
  run: 42,
  source: "agent_run",
  requested_by: "",
  requested_at: "2026-12-01T10:00:00Z",
  expires_at: "2026-12-02T10:00:00Z",
  decided_at: null,
  comment: "",
  result: null,
  error: "",
};
const workflowItem = {
  ...agentItem,
  kind: "workflow",
  id: "12",
  title: "Weekly report: publish",
  proposed_input: { title: "Week 48" },
  reason: "",
  action: "publish",
  connection: null,
  agent: null,
  workflow: { run: 9, template: "report", name: "Weekly report" },
  run: 9,
  source: "workflow",
};

function serve(role: "member" | "viewer", routes: Record<string, (req: Request) => Response | Promise<Response>>) {
  http.handler = (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/api/v1/auth/me/") return json(me(role));
    const route = routes[`${req.method} ${url.pathname}`];
    return route ? route(req) : json({ detail: "Not found." }, 404);
  };
}

function mount() {
  return render(
    <SWRConfig value={{ provider: () => new Map(), dedupingInterval: 0 }}>
      <SessionProvider fallback={<p>loading session</p>}>
        <Inbox />
      </SessionProvider>
    </SWRConfig>,
  );
}

beforeEach(() => {
  http.seen.length = 0;
});

describe("approvals inbox", () => {
  it("lists agent and workflow approvals with what was proposed, by whom and why", async () => {
    serve("member", { "GET /api/v1/approvals/": () => json(page([agentItem, workflowItem])) });
    mount();
    const agent = await screen.findByTestId(`approval-${ID}`);
    expect(agent).toHaveTextContent("Sales assistant: upsert_contact on HubSpot");
    expect(agent).toHaveTextContent("Why: Ada asked to join the newsletter.");
    expect(within(agent).getByLabelText("Proposed input")).toHaveTextContent('"email": "ada@example.com"');
    expect(within(agent).getByRole("link", { name: "Sales assistant" })).toHaveAttribute("href", "/dashboard/agents/7");
    const workflow = screen.getByTestId("approval-12");
    expect(within(workflow).getByRole("link", { name: "run #9" })).toHaveAttribute("href", "/dashboard/workflows/runs/9");
    expect(within(workflow).queryByRole("button", { name: "Edit and approve" })).toBeNull();
    expect(http.seen[1].url.searchParams.get("status")).toBe("pending");
  });

  it("approves with edited input and shows the gateway's field errors under the editor", async () => {
    let calls = 0;
    serve("member", {
      "GET /api/v1/approvals/": () => json(page([agentItem])),
      [`POST /api/v1/approvals/${ID}/approve/`]: () =>
        ++calls === 1
          ? json({ "input.email": ["Enter a valid e-mail address."] }, 400)
          : json({ ...agentItem, status: "approved" }),
    });
    mount();
    fireEvent.click(await screen.findByRole("button", { name: "Edit and approve" }));
    const dialog = await screen.findByRole("dialog", { name: "Edit and approve" });
    const editor = within(dialog).getByLabelText("Input (JSON)");
    expect(JSON.parse((editor as HTMLTextAreaElement).value)).toEqual(agentItem.proposed_input);

    fireEvent.change(editor, { target: { value: "{ not json" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Approve" }));
    expect(await within(dialog).findByText(/Not valid JSON/)).toBeInTheDocument();
    expect(http.seen.filter((r) => r.method === "POST")).toHaveLength(0);

    fireEvent.change(editor, { target: { value: '{"email": "nope"}' } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Approve" }));
    expect(await within(dialog).findByText("email: Enter a valid e-mail address.")).toBeInTheDocument();
    expect(http.seen.find((r) => r.method === "POST")!.body).toEqual({ comment: "", input: { email: "nope" } });

    fireEvent.change(editor, { target: { value: '{"email": "ada@lovelace.dev"}' } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Approve" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(http.seen.filter((r) => r.method === "POST")[1].body).toEqual({
      comment: "",
      input: { email: "ada@lovelace.dev" },
    });
  });

  it("rejects with a comment", async () => {
    serve("member", {
      "GET /api/v1/approvals/": () => json(page([agentItem])),
      [`POST /api/v1/approvals/${ID}/reject/`]: () => json({ ...agentItem, status: "rejected" }),
    });
    mount();
    fireEvent.click(await screen.findByRole("button", { name: "Reject" }));
    const dialog = await screen.findByRole("dialog", { name: "Reject" });
    fireEvent.change(within(dialog).getByLabelText("Comment (the agent is told)"), { target: { value: "Not opted in." } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Reject" }));
    await waitFor(() => expect(http.seen.some((r) => r.method === "POST")).toBe(true));
    expect(http.seen.find((r) => r.method === "POST")!.body).toEqual({ comment: "Not opted in." });
  });

  it("lets a viewer read but not decide, and says when nothing waits", async () => {
    serve("viewer", { "GET /api/v1/approvals/": () => json(page([agentItem])) });
    const { unmount } = mount();
    expect(await screen.findByText("Your role can read approvals but not decide them.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Approve" })).toBeNull();
    unmount();
    serve("member", { "GET /api/v1/approvals/": () => json(page([])) });
    mount();
    expect(await screen.findByText("Nothing to approve")).toBeInTheDocument();
  });

  it("parses only JSON objects as input", () => {
    expect(parseInput('{"a": 1}')).toEqual({ value: { a: 1 } });
    expect(parseInput("[1]").error).toBe("Must be a JSON object.");
    expect(parseInput("nope").error).toMatch(/^Not valid JSON/);
  });
});
