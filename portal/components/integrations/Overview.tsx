"use client";

// GET /integrations/: per connection, its inbound endpoints, and the subscriptions and rules that reference it.
import useSWR from "swr";

import { EventType, HealthBadge, ProviderName } from "@/components/names";
import { Async, Badge, Card, EmptyState, Time } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";

type EndpointRow = {
  id: number;
  name: string;
  scheme: string;
  enabled: boolean;
  received_count: number;
  rejected_count: number;
  last_event_at: string | null;
};
type SubRow = { id: number; url: string; event_types: string[]; status: string; failed_deliveries: number };
type RuleRow = { id: number; name: string; trigger_event: string; status: string; last_run_at: string | null };
type Group = { endpoints: EndpointRow[]; subscriptions: SubRow[]; rules: RuleRow[] };
export type OverviewData = {
  connections: ({ connection: { id: number; name: string; provider: string; status: string } } & Group)[];
  unlinked: Group;
};

function GroupBody({ group }: { group: Group }) {
  const none = !group.endpoints.length && !group.subscriptions.length && !group.rules.length;
  if (none) return <p className="muted">No webhooks or rules yet.</p>;
  return (
    <ul className="integ-overview-list">
      {group.endpoints.map((e) => (
        <li key={`e${e.id}`}>
          <Badge tone={e.enabled ? "ok" : "muted"}>{e.enabled ? "inbound" : "inbound off"}</Badge> {e.name}{" "}
          <span className="muted">
            {e.received_count} received · {e.rejected_count} rejected · last <Time value={e.last_event_at} />
          </span>
        </li>
      ))}
      {group.subscriptions.map((s) => (
        <li key={`s${s.id}`}>
          <Badge tone={s.status === "active" ? "ok" : "muted"}>{s.status === "active" ? "outbound" : "outbound off"}</Badge>{" "}
          <span className="integ-url">{s.url}</span>{" "}
          <span className="muted">
            {(s.event_types ?? []).join(", ")}
            {s.failed_deliveries ? ` · ${s.failed_deliveries} failed` : ""}
          </span>
        </li>
      ))}
      {group.rules.map((r) => (
        <li key={`r${r.id}`}>
          <Badge tone={r.status === "active" ? "ok" : "muted"}>{r.status === "active" ? "rule" : "rule off"}</Badge> {r.name}{" "}
          <span className="muted">
            on <EventType value={r.trigger_event} /> · last run <Time value={r.last_run_at} />
          </span>
        </li>
      ))}
    </ul>
  );
}

export function Overview() {
  const { data, error, mutate } = useSWR("integrations:overview", async () => {
    const body = await unwrap(api.GET("/api/v1/integrations/"));
    return body as unknown as OverviewData;
  });
  return (
    <Async
      data={data}
      error={error}
      retry={() => mutate()}
      isEmpty={(d) =>
        !d.connections.length && !d.unlinked.endpoints.length && !d.unlinked.subscriptions.length && !d.unlinked.rules.length
      }
      empty={
        <EmptyState title="Nothing connected yet">
          Connect a service on the Connectors page, or create a Standard Webhooks endpoint, a subscription or a rule
          here.
        </EmptyState>
      }
    >
      {(d) => (
        <div className="grid" data-testid="integrations-overview">
          {d.connections.map((row) => (
            <Card
              key={row.connection.id}
              title={row.connection.name}
              actions={<HealthBadge status={row.connection.status} />}
            >
              <p className="muted">
                <ProviderName provider={row.connection.provider} />
              </p>
              <GroupBody group={row} />
            </Card>
          ))}
          {d.unlinked.endpoints.length || d.unlinked.subscriptions.length || d.unlinked.rules.length ? (
            <Card title="Not tied to a connection">
              <GroupBody group={d.unlinked} />
            </Card>
          ) : null}
        </div>
      )}
    </Async>
  );
}
