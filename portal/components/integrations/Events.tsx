"use client";

// Recent events (webhooks, API posts, platform events) with their status, and one event's payload.
import { useState } from "react";
import useSWR from "swr";

import { Async, Badge, Button, Card, Dialog, EmptyState, ErrorState, Field, Loading, Pager, Time } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";

import { Json, connectionLabel, useConnections } from "./common";

const LIMIT = 25;
type Status = "pending" | "processed" | "failed";

function EventDetailView({ id }: { id: number }) {
  const { data, error, mutate } = useSWR(`integrations:event:${id}`, () =>
    unwrap(api.GET("/api/v1/events/{id}/", { params: { path: { id: String(id) } } })),
  );
  if (error) return <ErrorState error={error} retry={() => mutate()} />;
  if (!data) return <Loading />;
  return (
    <div className="stack" data-testid="event-detail">
      <dl className="integ-dl">
        <dt>Type</dt>
        <dd>
          <code>{data.type}</code> {data.raw_type && data.raw_type !== data.type ? <span className="muted">({data.raw_type})</span> : null}
        </dd>
        <dt>Status</dt>
        <dd>
          <Badge>{data.status}</Badge> {data.error ? <span className="field-error">{data.error}</span> : null}
        </dd>
        <dt>Source</dt>
        <dd>
          {data.source}
          {data.provider ? ` · ${data.provider}` : ""}
        </dd>
        <dt>Provider event id</dt>
        <dd>{data.external_id || "—"}</dd>
        <dt>Received</dt>
        <dd>
          <Time value={data.received_at} />
        </dd>
        <dt>Processed</dt>
        <dd>
          <Time value={data.processed_at} />
        </dd>
      </dl>
      <h3>Payload</h3>
      <Json value={data.payload} />
      <h3>Headers</h3>
      <Json value={data.headers} />
    </div>
  );
}

export function Events() {
  const connections = useConnections();
  const [status, setStatus] = useState<"" | Status>("");
  const [type, setType] = useState("");
  const [offset, setOffset] = useState(0);
  const [open, setOpen] = useState<number | null>(null);
  const query = { limit: LIMIT, offset, ...(status ? { status } : {}), ...(type.trim() ? { type: type.trim() } : {}) };
  const { data, error, mutate } = useSWR(["integrations:events", JSON.stringify(query)], () =>
    unwrap(api.GET("/api/v1/events/", { params: { query } })),
    { refreshInterval: 3000 },
  );
  return (
    <Card title="Events">
      <div className="row integ-filters">
        <Field label="Status">
          {(props) => (
            <select
              {...props}
              value={status}
              onChange={(e) => {
                setStatus(e.target.value as "" | Status);
                setOffset(0);
              }}
            >
              <option value="">All</option>
              <option value="pending">Pending</option>
              <option value="processed">Processed</option>
              <option value="failed">Failed</option>
            </select>
          )}
        </Field>
        <Field label="Type" help="Exact or a pattern: shopify.order.*">
          {(props) => (
            <input
              {...props}
              type="text"
              value={type}
              onChange={(e) => {
                setType(e.target.value);
                setOffset(0);
              }}
            />
          )}
        </Field>
      </div>
      <Async
        data={data}
        error={error}
        retry={() => mutate()}
        isEmpty={(d) => d.results.length === 0}
        empty={<EmptyState title="No events">Events appear here when a webhook arrives or an app posts one.</EmptyState>}
      >
        {(d) => (
          <>
            <div className="table-wrap">
              <table data-testid="events-table">
                <caption className="visually-hidden">Events</caption>
                <thead>
                  <tr>
                    <th scope="col">Type</th>
                    <th scope="col">Status</th>
                    <th scope="col">Source</th>
                    <th scope="col">Connection</th>
                    <th scope="col">Received</th>
                    <th scope="col">
                      <span className="visually-hidden">Details</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {d.results.map((event) => (
                    <tr key={event.id}>
                      <td>
                        <code>{event.type}</code>
                      </td>
                      <td>
                        <Badge>{event.status}</Badge>
                      </td>
                      <td>{event.source}</td>
                      <td>{connectionLabel(connections.data?.results, event.connection)}</td>
                      <td>
                        <Time value={event.received_at} />
                      </td>
                      <td>
                        <Button onClick={() => setOpen(event.id)} aria-label={`View event ${event.type}`}>
                          View
                        </Button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager offset={offset} limit={LIMIT} count={d.count} onChange={setOffset} />
          </>
        )}
      </Async>
      <Dialog
        open={open !== null}
        title="Event"
        onClose={() => setOpen(null)}
        footer={<Button onClick={() => setOpen(null)}>Close</Button>}
      >
        {open !== null ? <EventDetailView id={open} /> : null}
      </Dialog>
    </Card>
  );
}
