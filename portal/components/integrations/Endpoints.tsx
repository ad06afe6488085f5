"use client";

// Inbound endpoints: where platforms post events (POST /hooks/<token>/). Secrets are shown once.
import { useState } from "react";
import useSWR from "swr";

import { providerName, useConnectorNames } from "@/components/names";
import {
  AsyncList,
  Badge,
  Button,
  Card,
  ConfirmButton,
  ConnectionOptions,
  CopyField,
  EmptyState,
  Field,
  FormDialog,
  FormError,
  SecretOnce,
  Time,
} from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { ApiError } from "@/lib/api/errors";
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

type SentTest = { status_code: number; response: Record<string, unknown>; event: string | null; type: string };

/** Signs a test event with the endpoint's own secret and posts it to its URL, as the sender would. */
function SendTestEvent({ endpoint, onSent }: { endpoint: Endpoint; onSent: () => void }) {
  const [open, setOpen] = useState(false);
  const [type, setType] = useState("order.created");
  const [payload, setPayload] = useState('{"order_id": 2001, "customer": "Test customer", "total": 150}');
  const [sent, setSent] = useState<SentTest | null>(null);
  const { submit, busy, error, errorsFor, setError } = useSubmit(async () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload || "{}");
    } catch {
      throw new ApiError(400, { payload: ["Not valid JSON: write an object such as {\"total\": 150}."] });
    }
    const answer = await unwrap(
      api.POST("/api/v1/webhooks/endpoints/{id}/send-test/", {
        params: { path: { id: String(endpoint.id) } },
        body: { type, payload: parsed as Record<string, never> },
      }),
    );
    setSent(answer as unknown as SentTest);
    onSent();
  });
  return (
    <FormDialog
      label="Send a test event"
      title={`Send a test event to ${endpoint.name}`}
      open={open}
      setOpen={(value) => {
        setOpen(value);
        if (value) setSent(null);
      }}
      onClose={() => setError(null)}
      onSubmit={submit}
      busy={busy}
      error={error}
      shown={["type", "payload"]}
      submitLabel="Sign and send"
    >
      <p className="muted">
        Signed with this endpoint&apos;s secret (Standard Webhooks) and posted to its URL, as the sender would: the
        event is verified and stored, and your rules and subscriptions see it.
      </p>
      <Field label="Event type" help="As the sender names it, e.g. order.created." errors={errorsFor("type")}>
        {(props) => <input {...props} type="text" value={type} onChange={(e) => setType(e.target.value)} />}
      </Field>
      <Field label="Payload (JSON)" errors={errorsFor("payload")}>
        {(props) => <textarea {...props} value={payload} onChange={(e) => setPayload(e.target.value)} />}
      </Field>
      {sent ? (
        <div className={sent.status_code === 200 ? "alert alert-ok" : "alert alert-error"} role="status" data-testid="test-sent">
          {sent.status_code === 200 ? (
            <p>
              Accepted: stored as <code>{sent.type}</code>. See it on the Events tab.
            </p>
          ) : (
            <p>
              The gateway answered {sent.status_code}: {String(sent.response.detail ?? "")}
            </p>
          )}
        </div>
      ) : null}
    </FormDialog>
  );
}

export function Endpoints() {
  const { can } = useSession();
  const canConfigure = can("webhooks", "configure");
  const { data, error, mutate } = useSWR("integrations:endpoints", () =>
    unwrap(api.GET("/api/v1/webhooks/endpoints/", { params: { query: { limit: LIST_LIMIT } } })),
  );
  const names = useConnectorNames();
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
          <ul className="endpoint-list" aria-label="Inbound endpoints" data-testid="endpoints-table">
            {d.results.map((endpoint) => (
              <li key={endpoint.id} className="endpoint-item" data-testid="endpoint">
                <div className="spread">
                  <h3>{endpoint.name}</h3>
                  <Badge>{endpoint.enabled ? "active" : "disabled"}</Badge>
                </div>
                <dl className="endpoint-facts">
                  <div>
                    <dt>Verification</dt>
                    <dd>
                      {endpoint.scheme === "standard_webhooks"
                        ? "Standard Webhooks"
                        : `${providerName(endpoint.provider, names)}'s own signature`}
                    </dd>
                  </div>
                  <div>
                    <dt>Connection</dt>
                    <dd>
                      {endpoint.connection_name
                        ? `${endpoint.connection_name} (${providerName(endpoint.provider, names)})`
                        : "None"}
                    </dd>
                  </div>
                  <div>
                    <dt>Received</dt>
                    <dd>{endpoint.received_count ?? 0}</dd>
                  </div>
                  <div>
                    <dt>Duplicates</dt>
                    <dd>{endpoint.duplicate_count}</dd>
                  </div>
                  <div>
                    <dt>Rejected</dt>
                    <dd>{endpoint.rejected_count}</dd>
                  </div>
                  <div>
                    <dt>Last event</dt>
                    <dd>
                      <Time value={endpoint.last_event_at} />
                    </dd>
                  </div>
                </dl>
                <div>
                  <p className="field-help">URL to give the sender</p>
                  {endpoint.url_masked ? (
                    <p className="field-help" data-testid="endpoint-url-hidden">
                      Only admins see this URL: it lets whoever holds it send events into the workspace.
                    </p>
                  ) : (
                    <CopyField value={endpoint.url} label={`Webhook URL of ${endpoint.name}`} testId="endpoint-url" />
                  )}
                  <p className="field-help">{endpoint.setup}</p>
                </div>
                {endpoint.last_rejection ? (
                  <p className="field-error">Last rejection: {endpoint.last_rejection}</p>
                ) : null}
                {canConfigure ? (
                  <div className="row">
                    {endpoint.scheme === "standard_webhooks" ? (
                      <SendTestEvent endpoint={endpoint} onSent={() => mutate()} />
                    ) : null}
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
                ) : null}
              </li>
            ))}
          </ul>
        )}
      </AsyncList>
    </Card>
  );
}
