"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback } from "react";
import useSWR, { useSWRConfig } from "swr";

import { SchemaForm, type SchemaPayload } from "@/components/SchemaForm";
import { AUTH_LABELS, type Connector, ConnectorMark, categoryLabel } from "@/components/connectors/shared";
import { Async, Card, EmptyState, PageHeader } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import type { ApiError } from "@/lib/api/errors";
import { queryKeys } from "@/lib/api/queries";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

function CreateForm({ connector }: { connector: Connector }) {
  const router = useRouter();
  const { mutate } = useSWRConfig();
  const action = useCallback(
    async (payload: SchemaPayload) => {
      const connection = await unwrap(
        api.POST("/api/v1/connections/", {
          body: { provider: connector.key, name: payload.name ?? "", config: payload.config },
        }),
      );
      await Promise.all([mutate(queryKeys.connections.all), mutate(queryKeys.connectorCatalogue)]);
      router.push(`/dashboard/connectors/${connection.id}?created=1`);
      return connection;
    },
    [connector.key, mutate, router],
  );
  const { submit, busy, error } = useSubmit(action);
  const oauth = connector.auth_type === "oauth2";
  return (
    <div className="grid-2 connection-layout">
      <Card title="Settings">
        <SchemaForm
          schema={connector.config_schema}
          name={connector.name}
          error={error}
          busy={busy}
          submitLabel={oauth ? "Save and continue" : "Save connection"}
          onSubmit={submit}
          footer={
            <Link className="btn" href="/dashboard/connectors">
              Cancel
            </Link>
          }
        />
      </Card>
      <Card title={`About ${connector.name}`} className="connection-about">
        <div className="stack">
          <p>{connector.description}</p>
          {connector.auth_description ? <p data-testid="auth-description">{connector.auth_description}</p> : null}
          <p className="muted">
            Sign-in: {AUTH_LABELS[connector.auth_type] ?? connector.auth_type}.{" "}
            {oauth
              ? `After saving, use "Connect with ${connector.name}" to authorise access${
                  connector.oauth_scopes.length ? ` (${connector.oauth_scopes.join(", ")})` : ""
                }.`
              : "After saving, test the connection and preview its data."}
          </p>
          <p className="muted">Secret fields are stored encrypted and are never shown again.</p>
          {connector.resources.length ? (
            <div>
              <h3>Readable data</h3>
              <ul className="plain-list">
                {connector.resources.map((resource) => (
                  <li key={resource.name}>
                    <strong>{resource.name}</strong> — {resource.description}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          {connector.docs_url ? (
            <a href={connector.docs_url} target="_blank" rel="noreferrer noopener">
              {connector.name} API documentation
            </a>
          ) : null}
        </div>
      </Card>
    </div>
  );
}

export function NewConnection({ connectorKey }: { connectorKey: string | null }) {
  const { can } = useSession();
  const { data, error, mutate } = useSWR<Connector, ApiError>(connectorKey ? ["connector", connectorKey] : null, () =>
    unwrap(api.GET("/api/v1/connectors/{key}/", { params: { path: { key: connectorKey as string } } })),
  );
  if (!connectorKey) {
    return (
      <EmptyState title="Choose a connector first" action={<Link href="/dashboard/connectors">Open the catalogue</Link>} />
    );
  }
  return (
    <Async data={data} error={error} retry={() => mutate()}>
      {(connector) => (
        <>
          <p>
            <Link href="/dashboard/connectors">← All connectors</Link>
          </p>
          <PageHeader
            title={`Connect ${connector.name}`}
            description={
              <span className="row">
                <ConnectorMark connector={connector} /> {categoryLabel(connector.category)}
              </span>
            }
          />
          {can("connections", "configure") ? (
            <CreateForm connector={connector} />
          ) : (
            <div className="alert alert-info" role="status">
              Your role can view connections but not add them. Ask an admin of this workspace to connect {connector.name}.
            </div>
          )}
        </>
      )}
    </Async>
  );
}
