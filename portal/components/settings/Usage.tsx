"use client";

import useSWR from "swr";

import { Async, Card, EmptyState, Time } from "@/components/ui";
import { type Schemas, api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";

type Limit = Schemas["UsageLimit"];

const WINDOW: Record<Limit["period"], string> = {
  second: "this second",
  minute: "this minute",
  day: "today (UTC)",
  month: "this month (UTC)",
  none: "",
};

/** A figure with its unit ("2 KiB", "$1.50", "3 connections"); a count without the unit when `unit` is false. */
export function amount(limit: Pick<Limit, "unit">, value: number, unit = true): string {
  if (limit.unit === "USD") return `$${value.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  if (limit.unit === "bytes") {
    for (const [unit, size] of [
      ["GiB", 1024 ** 3],
      ["MiB", 1024 ** 2],
      ["KiB", 1024],
    ] as const) {
      if (value >= size) return `${(value / size).toLocaleString(undefined, { maximumFractionDigits: 1 })} ${unit}`;
    }
    return `${value} bytes`;
  }
  return unit ? `${value.toLocaleString()} ${limit.unit}` : value.toLocaleString();
}

/** 0–100, how much of the limit is used (a limit of 0 is full). */
export function share(usage: number, limitValue: number): number {
  if (limitValue <= 0) return 100;
  return Math.min(100, Math.round((usage / limitValue) * 1000) / 10);
}

function UsageBar({ limit }: { limit: Limit }) {
  const known = limit.usage !== null && limit.usage !== undefined;
  const usage = known ? Number(limit.usage) : 0;
  const value = Number(limit.limit_value);
  const percent = share(usage, value);
  const tone = percent >= 100 ? "bad" : percent >= 80 ? "wait" : "ok";
  const text = known ? `${amount(limit, usage, false)} of ${amount(limit, value)}` : `unknown of ${amount(limit, value)}`;
  const where = [limit.per ? `busiest ${limit.per}` : "", WINDOW[limit.period]].filter(Boolean).join(", ");
  return (
    <li className="usage-item" data-testid={`usage-${limit.key}`}>
      <div className="spread">
        <strong id={`usage-${limit.key}-label`}>{limit.label}</strong>
        <span data-testid="usage-figures">{text}</span>
      </div>
      <div
        className={`usage-bar usage-bar-${tone}`}
        role="meter"
        aria-labelledby={`usage-${limit.key}-label`}
        aria-valuemin={0}
        aria-valuemax={value}
        aria-valuenow={Math.min(usage, value)}
        aria-valuetext={text}
      >
        <span style={{ width: `${percent}%` }} />
      </div>
      <div className="muted usage-note">
        {known ? null : "The counters cannot be read right now. "}
        {where ? `${where[0].toUpperCase()}${where.slice(1)}` : "Frees up when something is deleted"}
        {limit.resets_at ? (
          <>
            {"; resets "}
            <Time value={limit.resets_at} />
          </>
        ) : null}
        .
      </div>
    </li>
  );
}

export function Usage() {
  const { me } = useSession();
  const { data, error, mutate } = useSWR(["usage", me.tenant?.slug], () => unwrap(api.GET("/api/v1/usage/")), {
    refreshInterval: 30_000,
  });
  return (
    <Card title="Usage and limits">
      <p className="muted">
        What this workspace uses of each of its limits. Over a rate limit the platform answers 429 until the window
        resets; at a capacity limit new items are refused (403) until something is deleted. Ask the platform&apos;s
        administrators for higher limits.
      </p>
      <Async
        data={data}
        error={error}
        retry={() => mutate()}
        isEmpty={(usage) => usage.limits.length === 0}
        empty={<EmptyState title="No limits">This workspace has no limits to show.</EmptyState>}
      >
        {(usage) => (
          <ul className="usage-list">
            {usage.limits.map((limit) => (
              <UsageBar key={limit.key} limit={limit} />
            ))}
          </ul>
        )}
      </Async>
    </Card>
  );
}
