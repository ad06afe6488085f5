"use client";

// Inbound endpoints: where platforms post events (POST /hooks/<token>/). Secrets are shown once.
import { useState } from "react";
import useSWR from "swr";

import {
  AsyncList,
  Badge,
  Button,
  Card,
  ConfirmButton,
  ConnectionOptions,
  EmptyState,
  Field,
  FormDialog,
  FormError,
  SecretOnce,
  Table,
  Time,
} from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

import { type Endpoint, LIST_LIMIT, useConnections } from "./common";

type Shown = { label: string; value: string };

function shownSecret(body: Record<string, unknown>): Shown | null {
  if (typeof body.signing_secret === "string") return { label: "Signing secret", value: body.signing_secret };
  if (typeof body.verify_token === "string") return { label: "Verify token", value: body.verify_token };
  return null;
}

function CreateEndpoint({ onCreated }: { onCreated: (endpoint: Endpoint, secret: Shown | null) => void }) {
  const connections = useConnections();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [scheme, setScheme] = useState<"provider" | "standard_webhooks">("standard_webhooks");
  const [connection, setConnection] = useState("");
  const { submit, busy, error, errorsFor, setError } = useSubmit(async () => {
    const created = await unwrap(
      api.POST("/api/v1/webhooks/endpoints/", {
        body: { name, scheme, connection: connection ? Number(connection) : null },
      }),
    );
    onCreated(created, shownSecret(created as unknown as Record<string, unknown>));
    setOpen(false);
    setName("");
    setConnection("");
  });
  return (
    <FormDialog
      label="New inbound endpoint"
      open={open}
      setOpen={setOpen}
      onClose={() => setError(null)}
      onSubmit={submit}
      busy={busy}
      error={error}
      shown={["name", "scheme", "connection"]}
      submitLabel="Create endpoint"
    >
      <Field label="Name" errors={errorsFor("name")}>
        {(props) => <input {...props} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field
        label="Verification"
        help="The connection's own signature scheme (Shopify, HubSpot, …) or Standard Webhooks for anything else."
        errors={errorsFor("scheme")}
      >
        {(props) => (
          <select {...props} value={scheme} onChange={(e) => setScheme(e.target.value as typeof scheme)}>
            <option value="standard_webhooks">Standard Webhooks (a signing secret of its own)</option>
            <option value="provider">The connection&apos;s own scheme</option>
          </select>
        )}
      </Field>
      <Field
        label="Connection"
        help={scheme === "provider" ? "Required: its secret verifies the requests." : "Optional: events are tied to it."}
        errors={errorsFor("connection")}
      >
        {(props) => (
          <select {...props} value={connection} onChange={(e) => setConnection(e.target.value)}>
            <option value="">None</option>
            <ConnectionOptions connections={connections.data?.results} />
          </select>
        )}
      </Field>
    </FormDialog>
  );
}

export function Endpoints() {
  const { can } = useSession();
  const canConfigure = can("webhooks", "configure");
  const { data, error, mutate } = useSWR("integrations:endpoints", () =>
    unwrap(api.GET("/api/v1/webhooks/endpoints/", { params: { query: { limit: LIST_LIMIT } } })),
  );
  const [secret, setSecret] = useState<(Shown & { endpoint: string }) | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);

  const patch = async (endpoint: Endpoint, enabled: boolean) => {
    setActionError(null);
    try {
      await unwrap(api.PATCH("/api/v1/webhooks/endpoints/{id}/", { params: { path: { id: String(endpoint.id) } }, body: { enabled } }));
      await mutate();
    } catch (err) {
      setActionError(err);
    }
  };

  return (
    <Card
      title="Inbound endpoints"
      actions={
        canConfigure ? (
          <CreateEndpoint
            onCreated={(endpoint, shown) => {
              if (shown) setSecret({ ...shown, endpoint: endpoint.name });
              mutate();
            }}
          />
        ) : null
      }
    >
      {secret ? (
        <SecretOnce label={`${secret.label} of ${secret.endpoint}`} value={secret.value} onDone={() => setSecret(null)} />
      ) : null}
      <FormError error={actionError} />
      <AsyncList
        query={{ data, error, mutate }}
        empty={
          <EmptyState title="No inbound endpoints">
            An endpoint gives a platform a URL to post its events to; every request is verified before it is stored.
          </EmptyState>
        }
      >
        {(d) => (
          <Table
            caption="Inbound endpoints"
            testId="endpoints-table"
            columns={[
              "Name",
              "Connection",
              "Scheme",
              "URL to give the provider",
              "Received",
              "Duplicates",
              "Rejected",
              "Last event",
              "Status",
              canConfigure ? "Actions" : null,
            ]}
          >
            {d.results.map((endpoint) => (
              <tr key={endpoint.id}>
                <td>{endpoint.name}</td>
                <td>{endpoint.connection_name ? `${endpoint.connection_name} (${endpoint.provider})` : "—"}</td>
                <td>{endpoint.scheme === "standard_webhooks" ? "Standard Webhooks" : endpoint.provider || "provider"}</td>
                <td>
                  <code className="integ-url" data-testid="endpoint-url">
                    {endpoint.url}
                  </code>
                  <p className="field-help">{endpoint.setup}</p>
                </td>
                <td>{endpoint.received_count ?? 0}</td>
                <td>{endpoint.duplicate_count}</td>
                <td title={endpoint.last_rejection || undefined}>
                  {endpoint.rejected_count}
                  {endpoint.last_rejection ? <p className="field-help">{endpoint.last_rejection}</p> : null}
                </td>
                <td>
                  <Time value={endpoint.last_event_at} />
                </td>
                <td>
                  <Badge>{endpoint.enabled ? "active" : "disabled"}</Badge>
                </td>
                {canConfigure ? (
                  <td>
                    <div className="row">
                      {endpoint.secret_set ? (
                        <ConfirmButton
                          label="Rotate secret"
                          variant="default"
                          title={`Rotate the secret of ${endpoint.name}?`}
                          message="The current secret stops working at once; give the new one to the sender."
                          confirmLabel="Rotate"
                          onConfirm={async () => {
                            const shown = await unwrap(
                              api.POST("/api/v1/webhooks/endpoints/{id}/rotate-secret/", { params: { path: { id: String(endpoint.id) } } }),
                            );
                            const value = shownSecret(shown as Record<string, unknown>);
                            if (value) setSecret({ ...value, endpoint: endpoint.name });
                          }}
                        />
                      ) : null}
                      <Button onClick={() => patch(endpoint, !endpoint.enabled)}>{endpoint.enabled ? "Disable" : "Enable"}</Button>
                      <ConfirmButton
                        label="Delete"
                        title={`Delete ${endpoint.name}?`}
                        message="Requests to its URL will be refused. Events already received stay."
                        confirmLabel="Delete"
                        onConfirm={async () => {
                          await unwrap(api.DELETE("/api/v1/webhooks/endpoints/{id}/", { params: { path: { id: String(endpoint.id) } } }));
                          await mutate();
                        }}
                      />
                    </div>
                  </td>
                ) : null}
              </tr>
            ))}
          </Table>
        )}
      </AsyncList>
    </Card>
  );
}
