"use client";

// A stacked time-series chart with what screen readers and keyboards need: a titled figure, a one-sentence
// summary, and the same figures as a table (collapsed under "Show as a table").
import { useId } from "react";
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

export type SeriesKey = { key: string; label: string; color: string };
export type Point = { t: string } & Record<string, number | string>;

export function bucketLabel(t: string, bucket: string): string {
  const date = new Date(t);
  if (Number.isNaN(date.getTime())) return t;
  if (bucket === "hour") return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  // daily buckets are UTC days: name the UTC date whatever the viewer's time zone
  return date.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

export function sumOf(points: Point[], key: string): number {
  return points.reduce((total, point) => total + (Number(point[key]) || 0), 0);
}

export function TimeChart({
  title,
  description,
  points,
  series,
  bucket,
  kind = "bar",
  testId,
}: {
  title: string;
  description?: string;
  points: Point[];
  series: SeriesKey[];
  bucket: string;
  kind?: "bar" | "area";
  testId?: string;
}) {
  const id = useId();
  const rows: (Point & { label: string })[] = points.map((point) => ({ ...point, label: bucketLabel(point.t, bucket) }));
  const totals = series.map((s) => ({ ...s, total: sumOf(points, s.key) }));
  const all = totals.reduce((n, s) => n + s.total, 0);
  const summary = all
    ? `${title}: ${all} in total — ${totals.map((s) => `${s.total} ${s.label.toLowerCase()}`).join(", ")}.`
    : `${title}: none in this window.`;
  const Chart = kind === "area" ? AreaChart : BarChart;
  return (
    <figure className="chart" role="group" aria-labelledby={`${id}-title`} aria-describedby={`${id}-summary`} data-testid={testId}>
      <figcaption className="chart-caption">
        <h3 id={`${id}-title`}>{title}</h3>
        {description ? <p className="muted">{description}</p> : null}
        <p id={`${id}-summary`} className="chart-summary" data-testid={testId ? `${testId}-summary` : undefined}>
          {summary}
        </p>
      </figcaption>
      <div className="chart-area" aria-hidden="true">
        <ResponsiveContainer width="100%" height="100%">
          <Chart data={rows} margin={{ top: 8, right: 8, bottom: 0, left: -16 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="label" tick={{ fontSize: 11 }} minTickGap={12} />
            <YAxis allowDecimals={false} tick={{ fontSize: 11 }} width={44} />
            <Tooltip />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            {series.map((s) =>
              kind === "area" ? (
                <Area
                  key={s.key}
                  type="monotone"
                  dataKey={s.key}
                  name={s.label}
                  stackId="1"
                  stroke={s.color}
                  fill={s.color}
                  fillOpacity={0.35}
                  isAnimationActive={false}
                />
              ) : (
                <Bar key={s.key} dataKey={s.key} name={s.label} stackId="1" fill={s.color} isAnimationActive={false} />
              ),
            )}
          </Chart>
        </ResponsiveContainer>
      </div>
      <details className="chart-table">
        <summary>Show as a table</summary>
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">{title}</caption>
            <thead>
              <tr>
                <th scope="col">{bucket === "hour" ? "Hour" : "Day (UTC)"}</th>
                {series.map((s) => (
                  <th key={s.key} scope="col">
                    {s.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.t}>
                  <th scope="row">{row.label}</th>
                  {series.map((s) => (
                    <td key={s.key}>{Number(row[s.key]) || 0}</td>
                  ))}
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Total</th>
                {totals.map((s) => (
                  <td key={s.key}>{s.total}</td>
                ))}
              </tr>
            </tfoot>
          </table>
        </div>
      </details>
    </figure>
  );
}
