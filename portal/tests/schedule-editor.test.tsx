import { fireEvent, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { SWRConfig } from "swr";
import { describe, expect, it, vi } from "vitest";

// The gateway's schedule preview, answered by a fake HTTP layer installed before the client captures fetch.
const preview = vi.hoisted(() => {
  const state = { runs: [] as string[], asked: [] as { url: string; body: unknown }[] };
  const Base = globalThis.Request;
  class PortalRequest extends Base {
    constructor(input: RequestInfo | URL, init?: RequestInit) {
      super(typeof input === "string" && input.startsWith("/") ? `http://portal.test${input}` : input, init);
    }
  }
  globalThis.Request = PortalRequest as typeof Request;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new PortalRequest(input, init);
    state.asked.push({ url: req.url, body: await req.clone().json() });
    return new Response(JSON.stringify({ next_runs: state.runs }), { headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  return state;
});

import { NextRuns, ScheduleEditor, type ScheduleValue } from "@/components/workflows/ScheduleEditor";
import { describeCron, formatInZone, scheduleInWords } from "@/components/workflows/schedule";

function Harness({
  initial,
  onChange,
  saved,
  errors,
}: {
  initial: ScheduleValue;
  onChange?: (value: ScheduleValue) => void;
  saved?: ScheduleValue & { nextRuns: string[]; enabled: boolean };
  errors?: { schedule_cron?: string[]; timezone?: string[] };
}) {
  const [value, setValue] = useState(initial);
  // each test has a cache of its own, so a preview fetched by one is not reused by another
  const [cache] = useState(() => new Map());
  return (
    <SWRConfig value={{ provider: () => cache }}>
      <ScheduleEditor
        value={value}
        saved={saved}
        errors={errors}
        locale="en-GB"
        onChange={(next) => {
          setValue(next);
          onChange?.(next);
        }}
      />
    </SWRConfig>
  );
}

const WEEKEND_RUNS = [
  "2026-05-09T09:00:00+02:00",
  "2026-05-10T09:00:00+02:00",
  "2026-05-16T09:00:00+02:00",
];

describe("ScheduleEditor", () => {
  it("starts manual only and each preset produces its cron", async () => {
    const user = userEvent.setup();
    const changes: ScheduleValue[] = [];
    render(<Harness initial={{ cron: "", timezone: "Europe/Berlin" }} onChange={(v) => changes.push(v)} />);
    expect(screen.getByLabelText(/Manual only/)).toBeChecked();
    expect(screen.queryByLabelText("Repeat")).not.toBeInTheDocument();

    await user.click(screen.getByLabelText("On a schedule"));
    const repeat = screen.getByLabelText("Repeat");
    await user.selectOptions(repeat, "Weekends at 09:00");
    expect(changes.at(-1)).toEqual({ cron: "0 9 * * 6,0", timezone: "Europe/Berlin" });
    expect(screen.getByTestId("schedule-words")).toHaveTextContent("Weekends at 09:00 (Europe/Berlin)");

    await user.selectOptions(repeat, "Every weekday at 08:00");
    expect(changes.at(-1)?.cron).toBe("0 8 * * 1-5");
    await user.selectOptions(repeat, "Every hour");
    expect(changes.at(-1)?.cron).toBe("0 * * * *");

    await user.click(screen.getByLabelText(/Manual only/));
    expect(changes.at(-1)).toEqual({ cron: "", timezone: "Europe/Berlin" });
  });

  it("takes a custom cron, says it in words and flags one that is not valid", async () => {
    const user = userEvent.setup();
    const changes: ScheduleValue[] = [];
    render(<Harness initial={{ cron: "0 9 * * 6,0", timezone: "UTC" }} onChange={(v) => changes.push(v)} />);
    await user.selectOptions(screen.getByLabelText("Repeat"), "Custom cron expression");
    const input = screen.getByLabelText("Cron expression");
    await user.clear(input);
    await user.type(input, "30 6 * * 1");
    expect(changes.at(-1)?.cron).toBe("30 6 * * 1");
    expect(screen.getByTestId("schedule-words")).toHaveTextContent("At 06:30, only on Monday (UTC)");
    // typing a preset's cron by hand keeps the custom field open
    expect(screen.getByLabelText("Cron expression")).toBeInTheDocument();

    await user.clear(input);
    await user.type(input, "every day");
    expect(screen.getByTestId("schedule-words")).toHaveTextContent("Not a valid five-field cron expression.");
  });

  it("opens a saved custom cron in the custom field", () => {
    render(<Harness initial={{ cron: "15 7 1 * *", timezone: "UTC" }} />);
    expect(screen.getByLabelText("Repeat")).toHaveValue("custom");
    expect(screen.getByLabelText("Cron expression")).toHaveValue("15 7 1 * *");
  });

  it("chooses the time zone and shows the API's errors next to the fields", async () => {
    const user = userEvent.setup();
    const changes: ScheduleValue[] = [];
    render(
      <Harness
        initial={{ cron: "0 9 * * 6,0", timezone: "UTC" }}
        onChange={(v) => changes.push(v)}
        errors={{ timezone: ["An IANA time zone such as Europe/Berlin or UTC."], schedule_cron: ["Five fields."] }}
      />,
    );
    const zone = screen.getByLabelText("Time zone");
    expect(within(zone).getByRole("option", { name: "Asia/Tokyo" })).toBeInTheDocument();
    await user.selectOptions(zone, "America/New_York");
    expect(changes.at(-1)).toEqual({ cron: "0 9 * * 6,0", timezone: "America/New_York" });
    expect(zone).toHaveAccessibleDescription(/An IANA time zone/);
    expect(screen.getByLabelText("Repeat")).toHaveAccessibleDescription("Five fields.");
  });

  it("lists the saved schedule's next runs in its time zone, and previews a changed one from the gateway", async () => {
    preview.runs = ["2026-05-09T10:00:00+02:00", "2026-05-09T11:00:00+02:00"];
    preview.asked = [];
    const user = userEvent.setup();
    render(
      <Harness
        initial={{ cron: "0 9 * * 6,0", timezone: "Europe/Berlin" }}
        saved={{ cron: "0 9 * * 6,0", timezone: "Europe/Berlin", nextRuns: WEEKEND_RUNS, enabled: true }}
      />,
    );
    const items = within(screen.getByTestId("next-runs")).getAllByRole("listitem");
    expect(items.map((li) => li.textContent)).toEqual([
      "Sat, 9 May 2026, 09:00 CEST",
      "Sun, 10 May 2026, 09:00 CEST",
      "Sat, 16 May 2026, 09:00 CEST",
    ]);
    expect(items[0].querySelector("time")).toHaveAttribute("datetime", WEEKEND_RUNS[0]);

    await user.selectOptions(screen.getByLabelText("Repeat"), "Every hour");
    const shown = await screen.findByText("Sat, 9 May 2026, 11:00 CEST");
    expect(shown.closest("[data-testid=next-runs]")?.querySelectorAll("li")).toHaveLength(2);
    expect(preview.asked).toEqual([
      {
        url: "http://portal.test/api/v1/workflows/configs/preview-schedule/",
        body: { schedule_cron: "0 * * * *", timezone: "Europe/Berlin" },
      },
    ]);
  });

  it("says a paused schedule has no next runs", () => {
    render(
      <Harness
        initial={{ cron: "0 9 * * 6,0", timezone: "Europe/Berlin" }}
        saved={{ cron: "0 9 * * 6,0", timezone: "Europe/Berlin", nextRuns: [], enabled: false }}
      />,
    );
    expect(screen.getByText("Paused: no runs until it is resumed.")).toBeInTheDocument();
  });
});

describe("next runs and schedules in words", () => {
  it("formats the same instants in the chosen time zone", () => {
    render(<NextRuns runs={WEEKEND_RUNS.slice(0, 1)} timezone="America/New_York" locale="en-GB" />);
    expect(screen.getByRole("listitem")).toHaveTextContent("Sat, 9 May 2026, 03:00 GMT-4");
    expect(formatInZone("2026-12-05T09:00:00+01:00", "Europe/Berlin", "en-GB")).toBe("Sat, 5 Dec 2026, 09:00 CET");
    expect(formatInZone("2026-12-05T09:00:00+01:00", "Asia/Tokyo", "en-GB")).toBe("Sat, 5 Dec 2026, 17:00 GMT+9");
  });

  it("describes schedules for the list", () => {
    expect(scheduleInWords("", "UTC")).toBe("Manual only");
    expect(scheduleInWords("0  9 * * 6,0", "Europe/Berlin")).toBe("Weekends at 09:00 (Europe/Berlin)");
    expect(scheduleInWords("*/15 * * * *", "UTC")).toBe("Every 15 minutes (UTC)");
    expect(describeCron("0 9 * *")).toBeNull();
  });

  it("has every control labelled", () => {
    const onChange = vi.fn();
    render(<ScheduleEditor value={{ cron: "0 8 * * 1-5", timezone: "UTC" }} onChange={onChange} />);
    for (const control of screen.getAllByRole("combobox")) expect(control).toHaveAccessibleName();
    for (const control of screen.getAllByRole("radio")) expect(control).toHaveAccessibleName();
    fireEvent.click(screen.getByLabelText(/Manual only/));
    expect(onChange).toHaveBeenCalledWith({ cron: "", timezone: "UTC" });
  });
});
