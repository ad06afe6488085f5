import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { SWRConfig } from "swr";
import { describe, expect, it, vi } from "vitest";

// The portal's API client binds fetch when it is created: route it through a replaceable fake first.
const http = vi.hoisted(() => {
  const state = { handler: (_request: Request): Response | Promise<Response> => new Response("{}", { status: 404 }) };
  // same-origin paths, as in the browser
  const BaseRequest = globalThis.Request;
  globalThis.Request = class extends BaseRequest {
    constructor(input: RequestInfo | URL, init?: RequestInit) {
      super(typeof input === "string" && input.startsWith("/") ? `http://portal.test${input}` : input, init);
    }
  } as typeof Request;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) =>
    state.handler(input instanceof Request ? input : new Request(input, init))) as typeof fetch;
  return state;
});

import { RunPanel, RunView, thoughtOf } from "@/components/agents/RunPanel";
import type { Run, RunStep } from "@/components/agents/types";

function step(position: number, kind: string, fields: Partial<RunStep> = {}): RunStep {
  return {
    position,
    kind,
    tool: "",
    arguments: {},
    result_summary: "",
    prompt_tokens: 0,
    completion_tokens: 0,
    created_at: "2026-01-01T00:00:00Z",
    ...fields,
  };
}

function run(fields: Partial<Run> = {}): Run {
  return {
    id: 41,
    agent: 7,
    agent_name: "Scout",
    conversation: null,
    input: "Who are our first two contacts?",
    status: "succeeded",
    output: "Two contacts: First1, First2.",
    error: "",
    model: "gpt-4o-mini",
    prompt_tokens: 820,
    completion_tokens: 50,
    cost_usd: "0.000153",
    duration_ms: 2300,
    source: "api",
    created_at: "2026-01-01T00:00:00Z",
    started_at: "2026-01-01T00:00:01Z",
    finished_at: "2026-01-01T00:00:03Z",
    steps: [],
    ...fields,
  };
}

const ALL_KINDS = [
  step(1, "llm", {
    result_summary: 'Thought: I should look the contacts up.\nAction: read_connector_resource\nAction Input: {"connection": 3}',
    prompt_tokens: 410,
    completion_tokens: 25,
  }),
  step(2, "tool_call", {
    tool: "read_connector_resource",
    arguments: { connection: 3, resource: "contacts", limit: 2 },
    result_summary: '[{"email": "person1@example.com"}]',
  }),
  step(3, "tool_denied", {
    tool: "perform_connector_action",
    arguments: { connection: 3, action: "delete_everything" },
    result_summary: "This agent may not perform delete_everything on HubSpot.",
  }),
  step(4, "tool_error", {
    tool: "search_knowledge",
    arguments: { query: "prices" },
    result_summary: "The knowledge search failed: timeout.",
  }),
  step(5, "answer", { result_summary: "Two contacts: First1, First2." }),
];

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

describe("run view", () => {
  it("renders each kind of step: thought, tool call with input and output, denied, failed, final answer", () => {
    render(<RunView run={run({ steps: ALL_KINDS })} />);
    const steps = within(screen.getByRole("list", { name: "Steps" })).getAllByRole("listitem");
    expect(steps.map((item) => item.dataset.kind)).toEqual(["llm", "tool_call", "tool_denied", "tool_error", "answer"]);

    expect(steps[0]).toHaveTextContent("Thought");
    expect(steps[0]).toHaveTextContent("I should look the contacts up.");
    expect(steps[0]).not.toHaveTextContent("Action Input");
    expect(steps[0]).toHaveTextContent("435 tokens");

    expect(steps[1]).toHaveTextContent("Tool call read_connector_resource");
    expect(JSON.parse(within(steps[1]).getByTestId("step-input").textContent ?? "")).toEqual({
      connection: 3,
      resource: "contacts",
      limit: 2,
    });
    expect(within(steps[1]).getByTestId("step-output")).toHaveTextContent("person1@example.com");

    expect(steps[2]).toHaveTextContent("Tool denied perform_connector_action");
    expect(steps[2]).toHaveTextContent("denied");
    expect(within(steps[2]).getByTestId("step-output")).toHaveTextContent("may not perform delete_everything");

    expect(steps[3]).toHaveTextContent("Tool failed search_knowledge");
    expect(steps[3]).toHaveTextContent("timeout");

    expect(steps[4]).toHaveTextContent("Final answer");
    expect(steps[4]).toHaveTextContent("Two contacts: First1, First2.");

    const usage = screen.getByTestId("run-usage");
    expect(usage).toHaveTextContent("820 in · 50 out");
    expect(usage).toHaveTextContent("$0.000153");
    expect(usage).toHaveTextContent("2.3 s");
  });

  it("shows a failed run's error and offers cancel only while a run is active", async () => {
    const { rerender } = render(<RunView run={run({ status: "failed", error: "The model provider failed: 401." })} />);
    expect(screen.getByTestId("run-error")).toHaveTextContent("The model provider failed: 401.");
    expect(screen.queryByRole("button", { name: "Cancel run" })).toBeNull();

    const onCancel = vi.fn(async () => undefined);
    rerender(<RunView run={run({ status: "running", output: "", steps: ALL_KINDS.slice(0, 1) })} canCancel onCancel={onCancel} />);
    expect(screen.getByRole("status")).toHaveTextContent("Working");
    expect(screen.queryByTestId("run-usage")).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Cancel run" }));
    expect(onCancel).toHaveBeenCalledTimes(1);
  });

  it("takes the thought out of a model turn", () => {
    expect(thoughtOf("Thought: check it\nAction: x\nAction Input: {}")).toBe("check it");
    expect(thoughtOf("Thought: I now know the final answer\nFinal Answer: 42")).toBe("I now know the final answer");
    expect(thoughtOf("plain text")).toBe("plain text");
  });
});

describe("run panel", () => {
  it("starts a run and shows its steps as the polled run gains them", async () => {
    const posted: unknown[] = [];
    let polls = 0;
    http.handler = async (request) => {
      const url = new URL(request.url);
      if (request.method === "POST" && url.pathname === "/api/v1/agents/7/runs/") {
        posted.push(await request.json());
        return json(run({ status: "queued", output: "", steps: undefined }), 202);
      }
      if (url.pathname === "/api/v1/runs/41/") {
        polls += 1;
        if (polls === 1) return json(run({ status: "running", output: "", steps: ALL_KINDS.slice(0, 2) }));
        return json(run({ steps: [ALL_KINDS[0], ALL_KINDS[1], ALL_KINDS[4]] }));
      }
      if (url.pathname === "/api/v1/runs/") return json({ count: 0, results: [] });
      return json({ detail: "Not found." }, 404);
    };
    render(
      <SWRConfig value={{ provider: () => new Map(), dedupingInterval: 0 }}>
        <RunPanel agentId={7} enabled canRun />
      </SWRConfig>,
    );
    expect(await screen.findByText("No runs yet")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Prompt"), "Who are our first two contacts?");
    await userEvent.click(screen.getByRole("button", { name: "Run" }));

    expect(posted).toEqual([{ input: "Who are our first two contacts?" }]);
    const tool = await screen.findByTestId("step-tool_call");
    expect(tool).toHaveTextContent("read_connector_resource");
    expect(screen.queryByTestId("step-answer")).toBeNull();
    expect(await screen.findByTestId("step-answer", {}, { timeout: 4000 })).toHaveTextContent(
      "Two contacts: First1, First2.",
    );
    expect(polls).toBeGreaterThanOrEqual(2);
  });

  it("is read-only without the right to run", () => {
    http.handler = () => json({ count: 0, results: [] });
    render(
      <SWRConfig value={{ provider: () => new Map() }}>
        <RunPanel agentId={7} enabled canRun={false} />
      </SWRConfig>,
    );
    expect(screen.queryByLabelText("Prompt")).toBeNull();
    expect(screen.queryByRole("button", { name: "Run" })).toBeNull();
    expect(screen.getByText(/a member can run agents/)).toBeInTheDocument();
  });
});
