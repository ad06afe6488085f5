"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useMemo, useState } from "react";

import {
  AUTH_LABELS,
  type Connection,
  type Connector,
  ConnectorMark,
  StatusBadge,
  categoryLabel,
  useConnections,
  useConnectors,
} from "@/components/connectors/shared";
import { Async, Badge, EmptyState, ErrorState, FilterSelect, PageHeader, Table, Time, withSuspense } from "@/components/ui";
import { useSession } from "@/lib/session";

function matches(connector: Connector, query: string): boolean {
  if (!query) return true;
  const haystack = [connector.name, connector.key, connector.description, connector.category, categoryLabel(connector.category)]
    .join(" ")
    .toLowerCase();
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => haystack.includes(word));
}

function ConnectorCard({ connector, connections, canConfigure }: { connector: Connector; connections: Connection[]; canConfigure: boolean }) {
  const titleId = `connector-${connector.key}`;
  const connected = connections.length > 0;
  return (
    <article className="card connector-card" aria-labelledby={titleId} data-testid="connector-card" data-connector={connector.key}>
      <div className="connector-card-head">
        <ConnectorMark connector={connector} />
        <div>
          <h2 id={titleId}>{connector.name}</h2>
          <div className="row">
            <Badge tone="neutral">{categoryLabel(connector.category)}</Badge>
            {connected ? <Badge tone="ok">Connected</Badge> : null}
          </div>
        </div>
      </div>
      <p className="connector-description">{connector.description}</p>
      <p className="muted small">
        {AUTH_LABELS[connector.auth_type] ?? connector.auth_type} · {connector.resources.map((r) => r.name).join(", ") || "no resources"}
      </p>
      {connected ? (
        <ul className="connector-connections" aria-label={`${connector.name} connections`}>
          {connections.map((connection) => (
            <li key={connection.id}>
              <Link href={`/dashboard/connectors/${connection.id}`}>{connection.name}</Link> <StatusBadge status={connection.status} />
            </li>
          ))}
        </ul>
      ) : null}
      <div className="connector-card-actions">
        {canConfigure ? (
          <Link
            className={connected ? "btn" : "btn btn-primary"}
            href={`/dashboard/connectors/new?connector=${connector.key}`}
            aria-label={connected ? `Add another ${connector.name} connection` : `Connect ${connector.name}`}
          >
            {connected ? "Add another" : "Connect"}
          </Link>
        ) : connected ? null : (
          <span className="muted small">An admin can connect this.</span>
        )}
        {connector.docs_url ? (
          <a className="btn btn-ghost" href={connector.docs_url} target="_blank" rel="noreferrer noopener">
            API docs<span className="visually-hidden"> for {connector.name}</span>
          </a>
        ) : null}
      </div>
    </article>
  );
}

function YourConnections({ connections, connectors }: { connections: Connection[]; connectors: Connector[] }) {
  if (!connections.length) return null;
  const names = Object.fromEntries(connectors.map((c) => [c.key, c.name]));
  return (
    <section className="card" aria-labelledby="your-connections">
      <div className="card-header">
        <h2 id="your-connections">Your connections</h2>
        <span className="muted">{connections.length}</span>
      </div>
      <Table columns={["Name", "Connector", "Health", "Last checked", "Latency"]}>
        {connections.map((connection) => (
          <tr key={connection.id}>
            <td>
              <Link href={`/dashboard/connectors/${connection.id}`}>{connection.name}</Link>
            </td>
            <td>{names[connection.provider] ?? connection.provider_name}</td>
            <td>
              <StatusBadge status={connection.status} />
              {connection.last_error ? <div className="field-error small">{connection.last_error}</div> : null}
            </td>
            <td>
              <Time value={connection.last_checked_at} />
            </td>
            <td>{connection.last_latency_ms === null ? "—" : `${connection.last_latency_ms} ms`}</td>
          </tr>
        ))}
      </Table>
    </section>
  );
}

function Catalogue() {
  const params = useSearchParams();
  const { can } = useSession();
  const canConfigure = can("connections", "configure");
  const catalogue = useConnectors();
  const connections = useConnections();
  const [query, setQuery] = useState("");
  const [category, setCategory] = useState(params.get("category") ?? "");

  const categories = useMemo(() => [...new Set((catalogue.data ?? []).map((c) => c.category))], [catalogue.data]);
  const byProvider = useMemo(() => {
    const map: Record<string, Connection[]> = {};
    for (const connection of connections.data ?? []) (map[connection.provider] ??= []).push(connection);
    return map;
  }, [connections.data]);

  return (
    <>
      <PageHeader
        title="Connectors"
        description="Connect the services your business runs on. Each connection is tested, health-checked and readable live."
      />
      {connections.error ? <ErrorState error={connections.error} retry={() => connections.mutate()} /> : null}
      {connections.data && catalogue.data ? <YourConnections connections={connections.data} connectors={catalogue.data} /> : null}
      <Async data={catalogue.data} error={catalogue.error} retry={() => catalogue.mutate()}>
        {(connectors) => {
          const shown = connectors.filter((c) => (!category || c.category === category) && matches(c, query));
          return (
            <>
              <div className="connector-filters" role="search" aria-label="Filter connectors">
                <div className="field">
                  <label htmlFor="connector-search">Search connectors</label>
                  <input
                    id="connector-search"
                    type="search"
                    placeholder="Name or what it does"
                    value={query}
                    onChange={(e) => setQuery(e.target.value)}
                  />
                </div>
                <FilterSelect
                  id="connector-category"
                  label="Category"
                  value={category}
                  onChange={setCategory}
                  any="All categories"
                  options={categories.map((key) => ({ value: key, label: categoryLabel(key) }))}
                />
              </div>
              <p className="muted" aria-live="polite" data-testid="connector-count">
                Showing {shown.length} of {connectors.length} connectors
              </p>
              {shown.length ? (
                <div className="grid connector-grid">
                  {shown.map((connector) => (
                    <ConnectorCard
                      key={connector.key}
                      connector={connector}
                      connections={byProvider[connector.key] ?? []}
                      canConfigure={canConfigure}
                    />
                  ))}
                </div>
              ) : (
                <EmptyState title="No connector matches">Try another word or category.</EmptyState>
              )}
            </>
          );
        }}
      </Async>
    </>
  );
}

export default withSuspense(Catalogue);
