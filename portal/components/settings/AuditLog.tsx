"use client";

import { useState } from "react";
import useSWR from "swr";

import { PAGE_SIZE } from "@/components/settings/shared";
import { AsyncList, Button, Card, EmptyState, Field, Table, Time } from "@/components/ui";
import { type Page, type Schemas, api, unwrap } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";
import { useSession } from "@/lib/session";

type AuditEvent = Schemas["AuditEvent"];
type ActorType = "user" | "api_key" | "system";
type Filters = { action: string; actor_type: "" | ActorType; actor_id: string; since: string; until: string };

const EMPTY: Filters = { action: "", actor_type: "", actor_id: "", since: "", until: "" };

/** A datetime-local value (the viewer's time) as an ISO 8601 instant for the API. */
export function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? local : date.toISOString();
}

export function auditQuery(filters: Filters, offset: number) {
  return {
    limit: PAGE_SIZE,
    offset,
    ...(filters.action ? { action: filters.action.trim() } : {}),
    ...(filters.actor_type ? { actor_type: filters.actor_type } : {}),
    ...(filters.actor_id ? { actor_id: filters.actor_id.trim() } : {}),
    ...(filters.since ? { since: toIso(filters.since) } : {}),
    ...(filters.until ? { until: toIso(filters.until) } : {}),
  };
}

export function AuditLog() {
  const { me } = useSession();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [offset, setOffset] = useState(0);
  const { data, error, mutate } = useSWR<Page<AuditEvent>>(["audit-log", me.tenant?.slug, filters, offset], () =>
    unwrap(api.GET("/api/v1/audit-log/", { params: { query: auditQuery(filters, offset) } })),
  );
  const fieldErrors = (name: string) => (error instanceof ApiError ? error.forField(name) : []);
  const apply = (next: Filters) => {
    setDraft(next);
    setFilters(next);
    setOffset(0);
  };
  const set = (key: keyof Filters) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
    setDraft((d) => ({ ...d, [key]: e.target.value }));
  const badFilter = error instanceof ApiError && error.status === 400;
  return (
    <Card title="Audit log">
      <form
        className="filters"
        role="search"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        <Field label="Action" help="Exact, or a prefix ending in '.', e.g. member." errors={fieldErrors("action")}>
          {(props) => <input {...props} type="text" value={draft.action} onChange={set("action")} />}
        </Field>
        <Field label="Actor type" errors={fieldErrors("actor_type")}>
          {(props) => (
            <select {...props} value={draft.actor_type} onChange={set("actor_type")}>
              <option value="">Anyone</option>
              <option value="user">Person</option>
              <option value="api_key">API key</option>
              <option value="system">System</option>
            </select>
          )}
        </Field>
        <Field label="Actor id" errors={fieldErrors("actor_id")}>
          {(props) => <input {...props} type="text" value={draft.actor_id} onChange={set("actor_id")} />}
        </Field>
        <Field label="Since" errors={fieldErrors("since")}>
          {(props) => <input {...props} type="datetime-local" value={draft.since} onChange={set("since")} />}
        </Field>
        <Field label="Until" errors={fieldErrors("until")}>
          {(props) => <input {...props} type="datetime-local" value={draft.until} onChange={set("until")} />}
        </Field>
        <div className="form-actions">
          <Button type="submit" variant="primary">
            Apply filters
          </Button>
          <Button onClick={() => apply(EMPTY)}>Clear</Button>
        </div>
      </form>
      {badFilter ? (
        <p className="alert alert-error" role="alert">
          {error.message}
        </p>
      ) : (
        <AsyncList
          query={{ data, error, mutate }}
          isEmpty={(page) => page.count === 0}
          empty={<EmptyState title="No matching entries">Changes to the workspace are recorded here.</EmptyState>}
          pager={{ offset, limit: PAGE_SIZE, onChange: setOffset }}
        >
          {(page) => (
            <Table columns={["When", "Actor", "Action", "Object", "Changes"]}>
              {page.results.map((event) => (
                <tr key={event.id} data-testid="audit-row">
                  <td>
                    <Time value={event.created_at} />
                  </td>
                  <td>
                    <Button
                      variant="ghost"
                      className="link-button"
                      title="Show only this actor"
                      onClick={() =>
                        apply({ ...filters, actor_type: event.actor_type as ActorType, actor_id: event.actor_id ?? "" })
                      }
                    >
                      {event.actor_label || event.actor_type}
                    </Button>
                    <div className="muted">{event.actor_type}</div>
                  </td>
                  <td>
                    <code>{event.action}</code>
                  </td>
                  <td>
                    {event.object_repr || event.object_type}
                    {event.object_id ? <span className="muted"> #{event.object_id}</span> : null}
                  </td>
                  <td>
                    {event.changes && Object.keys(event.changes as object).length ? (
                      <details>
                        <summary>Show</summary>
                        <pre>{JSON.stringify(event.changes, null, 2)}</pre>
                      </details>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </AsyncList>
      )}
    </Card>
  );
}
