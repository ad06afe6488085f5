"use client";

// Pieces shared by the connectors and CRM pages: the catalogue and the tenant's connections from the API, a status
// badge, a connector mark, a table of unified records and a cursor pager.
import { useState } from "react";
import useSWR from "swr";

import { HealthBadge } from "@/components/names";
import { Button, Time } from "@/components/ui";
import type { Schemas } from "@/lib/api/client";
import type { ApiError } from "@/lib/api/errors";
import { fetchers, queryKeys, useConnectorCatalogue } from "@/lib/api/queries";

export type Connector = Schemas["Connector"];
export type Connection = Schemas["Connection"];
export type ConnectionCheck = Schemas["ConnectionCheck"];
export type RecordPage = Schemas["Page"];

export const CATEGORY_LABELS: Record<string, string> = {
  cms: "Websites (CMS)",
  crm: "CRM",
  ecommerce: "E-commerce",
  ads: "Advertising",
  analytics: "Analytics",
  email: "E-mail marketing",
  support: "Customer support",
};

export const AUTH_LABELS: Record<string, string> = {
  none: "No authentication",
  api_key: "API key",
  basic: "User name and password",
  app_password: "Application password",
  token: "Access token",
  oauth2: "OAuth",
};

export function categoryLabel(category: string): string {
  return CATEGORY_LABELS[category] ?? category;
}

export function useConnectors() {
  return useConnectorCatalogue();
}

export function useConnections() {
  return useSWR<Connection[], ApiError>(queryKeys.connections.all, async () => (await fetchers.connections(500)).results);
}

/** A connection's health badge (components/names: one vocabulary on every page). */
export const StatusBadge = HealthBadge;

/** A coloured mark with the connector's initials (the catalogue's `logo` is a key, not an image). */
export function ConnectorMark({ connector }: { connector: Pick<Connector, "key" | "name"> }) {
  const initials = connector.name
    .split(/\s+/)
    .map((word) => word[0])
    .join("")
    .slice(0, 2)
    .toUpperCase();
  let hash = 0;
  for (const char of connector.key) hash = (hash * 31 + char.charCodeAt(0)) % 360;
  return (
    <span className="connector-mark" aria-hidden="true" style={{ background: `hsl(${hash} 55% 42%)` }}>
      {initials}
    </span>
  );
}

function cell(value: unknown): React.ReactNode {
  if (value === null || value === undefined || value === "") return <span className="muted">—</span>;
  if (Array.isArray(value)) return value.map((item) => (typeof item === "object" ? JSON.stringify(item) : String(item))).join(", ");
  if (typeof value === "object") return <code>{JSON.stringify(value)}</code>;
  if (typeof value === "boolean") return value ? "yes" : "no";
  const text = String(value);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text)) return <Time value={text} />;
  if (/^https?:\/\//.test(text)) {
    return (
      <a href={text} target="_blank" rel="noreferrer noopener">
        {text}
      </a>
    );
  }
  return text.length > 160 ? `${text.slice(0, 160)}…` : stripTags(text);
}

function stripTags(text: string): string {
  return text.includes("<") ? text.replace(/<[^>]*>/g, "").trim() : text;
}

export function titleCase(key: string): string {
  return key.replace(/_/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

/** The unified fields of a page of records, one column each. */
export function RecordsTable({ records, caption }: { records: RecordPage["records"]; caption: string }) {
  const columns: string[] = [];
  for (const record of records) for (const key of Object.keys(record.data)) if (!columns.includes(key)) columns.push(key);
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column} scope="col">
                {titleCase(column)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {records.map((record) => (
            <tr key={record.id}>
              {columns.map((column) => (
                <td key={column}>{cell(record.data[column])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Previous / next over a provider's cursors: `stack` holds the cursors of the pages before the current one. */
export function CursorPager({
  page,
  hasPrevious,
  nextCursor,
  onPrevious,
  onNext,
  label = "Pages",
}: {
  page: number;
  hasPrevious: boolean;
  nextCursor: string | null | undefined;
  onPrevious: () => void;
  onNext: (cursor: string) => void;
  label?: string;
}) {
  if (!hasPrevious && !nextCursor) return null;
  return (
    <nav className="pager" aria-label={label}>
      <Button disabled={!hasPrevious} onClick={onPrevious}>
        Previous page
      </Button>
      <span data-testid="page-number">Page {page}</span>
      <Button disabled={!nextCursor} onClick={() => nextCursor && onNext(nextCursor)}>
        Next page
      </Button>
    </nav>
  );
}

/** Cursor paging state: the cursor of the current page and those of the pages before it. */
export function useCursorPages() {
  const [stack, setStack] = useState<string[]>([]);
  return {
    cursor: stack.length ? stack[stack.length - 1] : null,
    page: stack.length + 1,
    hasPrevious: stack.length > 0,
    next: (cursor: string) => setStack((s) => [...s, cursor]),
    previous: () => setStack((s) => s.slice(0, -1)),
    reset: () => setStack([]),
  };
}
