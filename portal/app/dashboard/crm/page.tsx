"use client";

// Contacts read live from the tenant's CRM connection (FluentCRM, Zoho CRM, HubSpot, Pipedrive...): any connection
// whose connector has a resource of the unified `crm.contact` model.
import Link from "next/link";
import { useMemo, useState } from "react";
import useSWR from "swr";

import {
  type Connection,
  type Connector,
  CursorPager,
  type RecordPage,
  StatusBadge,
  useConnections,
  useConnectors,
  useCursorPages,
} from "@/components/connectors/shared";
import { Card, EmptyState, ErrorState, Loading, PageHeader, Table, Time } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import type { ApiError } from "@/lib/api/errors";

const PAGE_SIZE = 25;
const CONTACT_MODEL = "crm.contact";

type Contact = {
  id: string;
  email?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  phone?: string | null;
  company?: string | null;
  updated_at?: string | null;
};

function contactResources(connector: Connector | undefined) {
  return (connector?.resources ?? []).filter((r) => r.model === CONTACT_MODEL);
}

function fullName(contact: Contact): string {
  return [contact.first_name, contact.last_name].filter(Boolean).join(" ");
}

function ContactsTable({ contacts, caption }: { contacts: Contact[]; caption: string }) {
  return (
    <Table caption={caption} testId="contacts-table" columns={["Name", "Email", "Phone", "Company", "Updated"]}>
      {contacts.map((contact) => (
        <tr key={contact.id}>
          <td>{fullName(contact) || <span className="muted">—</span>}</td>
          <td>{contact.email ? <a href={`mailto:${contact.email}`}>{contact.email}</a> : <span className="muted">—</span>}</td>
          <td>{contact.phone || <span className="muted">—</span>}</td>
          <td>{contact.company || <span className="muted">—</span>}</td>
          <td>
            <Time value={contact.updated_at} />
          </td>
        </tr>
      ))}
    </Table>
  );
}

function Contacts({ connection, connector }: { connection: Connection; connector: Connector }) {
  const resources = contactResources(connector);
  const [resource, setResource] = useState(resources[0]?.name ?? "");
  const [filter, setFilter] = useState("");
  const pages = useCursorPages();
  const { data, error, mutate, isLoading } = useSWR<RecordPage, ApiError>(
    ["crm-contacts", connection.id, resource, pages.cursor],
    () =>
      unwrap(
        api.GET("/api/v1/connections/{id}/resources/{resource_name}/", {
          params: {
            path: { id: String(connection.id), resource_name: resource },
            query: { limit: PAGE_SIZE, ...(pages.cursor ? { cursor: pages.cursor } : {}) },
          },
        }),
      ),
    { revalidateOnFocus: false, shouldRetryOnError: false },
  );
  const contacts = useMemo(() => (data?.records ?? []).map((r) => ({ ...(r.data as Contact), id: r.id })), [data]);
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = contacts.filter((c) => {
    const text = [fullName(c), c.email, c.phone, c.company].filter(Boolean).join(" ").toLowerCase();
    return words.every((w) => text.includes(w));
  });
  return (
    <Card
      title={
        <>
          {connection.name} <StatusBadge status={connection.status} />
        </>
      }
      actions={<Link href={`/dashboard/connectors/${connection.id}`}>Connection settings</Link>}
    >
      <div className="crm-controls">
        {resources.length > 1 ? (
          <div className="field">
            <label htmlFor="crm-resource">List</label>
            <select
              id="crm-resource"
              value={resource}
              onChange={(e) => {
                setResource(e.target.value);
                pages.reset();
              }}
            >
              {resources.map((r) => (
                <option key={r.name} value={r.name}>
                  {r.description || r.name}
                </option>
              ))}
            </select>
          </div>
        ) : null}
        <div className="field">
          <label htmlFor="crm-filter">Search contacts on this page</label>
          <input
            id="crm-filter"
            type="search"
            placeholder="Name, email, phone or company"
            value={filter}
            aria-describedby="crm-filter-help"
            onChange={(e) => setFilter(e.target.value)}
          />
          <p className="field-help" id="crm-filter-help">
            {connector.name}&apos;s contacts are read live, page by page; its API offers no search here, so this filters
            the page shown.
          </p>
        </div>
      </div>
      {error ? (
        <ErrorState error={error} retry={() => mutate()} />
      ) : isLoading || !data ? (
        <Loading label="Reading contacts…" />
      ) : contacts.length === 0 ? (
        <EmptyState title="No contacts">{connector.name} returned no contacts{pages.page > 1 ? " on this page" : ""}.</EmptyState>
      ) : (
        <>
          <p className="muted small" aria-live="polite" data-testid="contacts-summary">
            {words.length ? `${shown.length} of ${contacts.length} contacts on page ${pages.page} match` : `${contacts.length} contacts on page ${pages.page}`}
            {data.cached ? " · from the cache" : " · read live"}
          </p>
          {shown.length ? (
            <ContactsTable contacts={shown} caption={`Contacts from ${connection.name}`} />
          ) : (
            <EmptyState title="No contact on this page matches">Clear the search or go to another page.</EmptyState>
          )}
        </>
      )}
      {data && !error ? (
        <CursorPager
          label="Contact pages"
          page={pages.page}
          hasPrevious={pages.hasPrevious}
          nextCursor={data.next_cursor}
          onPrevious={pages.previous}
          onNext={pages.next}
        />
      ) : null}
    </Card>
  );
}

export default function CrmPage() {
  const catalogue = useConnectors();
  const connections = useConnections();
  const [chosen, setChosen] = useState<number | null>(null);
  const specs = useMemo(
    () => Object.fromEntries((catalogue.data ?? []).filter((c) => contactResources(c).length).map((c) => [c.key, c])),
    [catalogue.data],
  );
  const crm = (connections.data ?? []).filter((c) => specs[c.provider]);
  const selected = crm.find((c) => c.id === chosen) ?? crm.find((c) => c.status === "active") ?? crm[0];
  const error = catalogue.error ?? connections.error;

  let body: React.ReactNode;
  if (error && (!catalogue.data || !connections.data)) {
    body = (
      <ErrorState
        error={error}
        retry={() => {
          catalogue.mutate();
          connections.mutate();
        }}
      />
    );
  } else if (!catalogue.data || !connections.data) {
    body = <Loading />;
  } else if (!selected) {
    body = (
      <EmptyState
        title="No CRM connected"
        action={
          <Link className="btn btn-primary" href="/dashboard/connectors?category=crm">
            Connect a CRM
          </Link>
        }
      >
        Connect {Object.values(specs).map((c) => c.name).join(", ") || "a CRM"} to see your contacts here, read live.
      </EmptyState>
    );
  } else {
    body = (
      <>
        {crm.length > 1 ? (
          <div className="field crm-picker">
            <label htmlFor="crm-connection">CRM connection</label>
            <select id="crm-connection" value={selected.id} onChange={(e) => setChosen(Number(e.target.value))}>
              {crm.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name} ({specs[c.provider].name})
                </option>
              ))}
            </select>
          </div>
        ) : null}
        <Contacts key={selected.id} connection={selected} connector={specs[selected.provider]} />
      </>
    );
  }
  return (
    <>
      <PageHeader title="CRM" description="Contacts from your CRM, read live through its connection." />
      {body}
    </>
  );
}
