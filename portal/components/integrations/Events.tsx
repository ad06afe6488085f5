"use client";

// Recent events (webhooks, API posts, platform events) with their status, and one event's payload.
import { useState } from "react";
import useSWR from "swr";

import {
  AsyncList,
  Badge,
  Button,
  Card,
  Dialog,
  EmptyState,
  ErrorState,
  Field,
  FilterSelect,
  Loading,
  Table,
  Time,
} from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";

import { EventType, providerName, useConnectorNames } from "@/components/names";

import { ConnectionName, Json, useConnections } from "./common";

const SOURCE_LABELS: Record<string, string> = { webhook: "Webhook", api: "API", system: "Platform" };


const LIMIT = 25;
type Status = "pending" | "processed" | "failed";

function EventDetailView({ id }: { id: number }) {
  const { data, error, mutate } = useSWR(`integrations:event:${id}`, () =>
    unwrap(api.GET("/api/v1/events/{id}/", { params: { path: { id: String(id) } } })),
  );
  const names = useConnectorNames();
  if (error) return <ErrorState error={error} retry={() => mutate()} />;
  if (!data) return <Loading />;
  return (
    <div className="stack" data-testid="event-detail">
      <dl className="integ-dl">
        <dt>Type</dt>
        <dd>
          <EventType value={data.type} /> {data.raw_type && data.raw_type !== data.type ? <span className="muted">({data.raw_type})</span> : null}
        </dd>
        <dt>Status</dt>
        <dd>
          <Badge>{data.status}</Badge> {data.error ? <span className="field-error">{data.error}</span> : null}
        </dd>
        <dt>Source</dt>
        <dd>
          {SOURCE_LABELS[data.source] ?? data.source}
          {data.provider ? ` · ${providerName(data.provider, names)}` : ""}
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
        <FilterSelect
          label="Status"
          value={status}
          onChange={(value) => {
            setStatus(value as "" | Status);
            setOffset(0);
          }}
          any="All"
          options={[
            { value: "pending", label: "Pending" },
            { value: "processed", label: "Processed" },
            { value: "failed", label: "Failed" },
          ]}
        />
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
      <AsyncList
        query={{ data, error, mutate }}
        empty={<EmptyState title="No events">Events appear here when a webhook arrives or an app posts one.</EmptyState>}
        pager={{ offset, limit: LIMIT, onChange: setOffset }}
      >
        {(d) => (
          <Table
            caption="Events"
            testId="events-table"
            columns={[
              "Type",
              "Status",
              "Source",
              "Connection",
              "Received",
              <span className="visually-hidden">Details</span>,
            ]}
          >
            {d.results.map((event) => (
              <tr key={event.id}>
                <td>
                  <EventType value={event.type} />
                </td>
                <td>
                  <Badge>{event.status}</Badge>
                </td>
                <td>{SOURCE_LABELS[event.source] ?? event.source}</td>
                <td><ConnectionName connections={connections.data?.results} id={event.connection} /></td>
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
          </Table>
        )}
      </AsyncList>
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
