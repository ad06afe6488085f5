import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

import { OverviewView, WindowSelector, isEmptyOverview, type Overview } from "@/components/dashboard/Overview";
import { bucketLabel } from "@/components/dashboard/TimeChart";

// recharts' ResponsiveContainer measures its box; jsdom has no layout
globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
} as unknown as typeof ResizeObserver;

const days = ["2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z"];

function overview(overrides: Partial<Overview> = {}): Overview {
  const zeros = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, waiting_approval: 0, tokens: 0 };
  const wf = { running: 0, waiting_approval: 0, completed: 0, failed: 0, cancelled: 0, terminated: 0, timed_out: 0 };
  return {
    window: { days: 3, bucket: "day", since: days[0], until: "2026-11-25T00:00:00Z" },
    connections: {
      total: 2,
      by_status: { active: 1, error: 1, pending: 0, needs_reauth: 0 },
      items: [
        { id: 7, name: "Blog", provider: "wordpress", status: "active", last_checked_at: days[2], last_latency_ms: 42, last_error: "" },
        { id: 9, name: "CRM", provider: "hubspot", status: "error", last_checked_at: null, last_latency_ms: null, last_error: "401 Unauthorized" },
      ],
    },
    series: {
      events: days.map((t, i) => ({ t, pending: 0, processed: i + 1, failed: i === 2 ? 1 : 0 })),
      deliveries: days.map((t, i) => ({ t, delivered: i * 2, failed: i === 1 ? 1 : 0, pending: 0 })),
      agent_runs: days.map((t, i) => ({ t, ...zeros, succeeded: i, tokens: i * 100 })),
      workflow_runs: days.map((t) => ({ t, ...wf })),
    },
    totals: {
      events: { total: 7, pending: 0, processed: 6, failed: 1 },
      deliveries: { total: 7, delivered: 6, failed: 1, pending: 0 },
      agent_runs: { ...zeros, total: 3, succeeded: 3, tokens: 300 },
      workflow_runs: { ...wf, total: 0 },
    },
    ...overrides,
  };
}

describe("overview dashboard", () => {
  it("shows totals, connection health with links, and charts with a summary and a table", () => {
    render(<OverviewView data={overview()} />);
    expect(screen.getByTestId("total-events")).toHaveTextContent("7");
    expect(screen.getByTestId("total-deliveries")).toHaveTextContent("7");
    expect(screen.getByText("86% delivered, 1 failed")).toBeInTheDocument();
    expect(screen.getByTestId("total-agent-runs")).toHaveTextContent("3");

    const cards = screen.getAllByTestId("connection-card");
    expect(cards).toHaveLength(2);
    expect(within(cards[0]).getByRole("link", { name: "Blog" })).toHaveAttribute("href", "/dashboard/connectors/7");
    expect(within(cards[0]).getByText("Healthy")).toHaveClass("badge-ok");
    expect(within(cards[1]).getByText("Failing")).toHaveClass("badge-bad");
    expect(within(cards[1]).getByText("401 Unauthorized")).toBeInTheDocument();

    const deliveries = screen.getByRole("group", { name: "Webhook deliveries" });
    expect(deliveries).toHaveAccessibleDescription("Webhook deliveries: 7 in total — 6 delivered, 0 pending, 1 failed.");
    const table = within(deliveries).getByRole("table", { name: "Webhook deliveries" });
    const rows = within(table).getAllByRole("row");
    expect(rows).toHaveLength(1 + 3 + 1); // header, three days, total
    expect(within(rows[3]).getAllByRole("cell").map((c) => c.textContent)).toEqual(["4", "0", "0"]);
    expect(within(rows[4]).getAllByRole("cell").map((c) => c.textContent)).toEqual(["6", "0", "1"]);
    expect(screen.getByRole("group", { name: "Workflow runs" })).toHaveAccessibleDescription(
      "Workflow runs: none in this window.",
    );
  });

  it("points a new workspace to the connectors", () => {
    const empty = overview({
      connections: { total: 0, by_status: { active: 0, error: 0, pending: 0, needs_reauth: 0 }, items: [] },
    });
    const blank = {
      ...empty,
      totals: {
        events: { total: 0, pending: 0, processed: 0, failed: 0 },
        deliveries: { total: 0, delivered: 0, failed: 0, pending: 0 },
        agent_runs: { ...empty.totals.agent_runs, total: 0 },
        workflow_runs: { ...empty.totals.workflow_runs, total: 0 },
      },
    };
    expect(isEmptyOverview(empty)).toBe(false);
    expect(isEmptyOverview(blank)).toBe(true);
    render(<OverviewView data={blank} />);
    expect(screen.getByRole("link", { name: "Connect your first service" })).toHaveAttribute("href", "/dashboard/connectors");
    expect(screen.queryByRole("group", { name: "Events received" })).not.toBeInTheDocument();
  });

  it("names daily buckets by their UTC date and offers three windows", () => {
    expect(bucketLabel("2026-11-24T00:00:00Z", "day")).toMatch(/24/);
    const change = vi.fn();
    render(<WindowSelector days={7} onChange={change} />);
    const group = screen.getByRole("group", { name: "Time window" });
    expect(within(group).getByRole("button", { name: "7 days" })).toHaveAttribute("aria-pressed", "true");
    fireEvent.click(within(group).getByRole("button", { name: "24 hours" }));
    fireEvent.click(within(group).getByRole("button", { name: "30 days" }));
    expect(change.mock.calls).toEqual([[1], [30]]);
  });
});
