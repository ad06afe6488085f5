"use client";

// Outbound subscriptions (Standard Webhooks, `whsec_` secret shown once) and their delivery log with replay.
import { useState } from "react";
import useSWR from "swr";

import { EventType } from "@/components/names";
import {
  AsyncList,
  Badge,
  Button,
  Card,
  ConfirmButton,
  ConnectionOptions,
  EmptyState,
  ErrorState,
  Field,
  FormDialog,
  FormError,
  Loading,
  SecretOnce,
  Table,
  Time,
} from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

import { type Delivery, type Subscription, ConnectionName, isoToLocalInput, localInputToIso, useConnections, useSubscriptions } from "./common";

const DELIVERY_LIMIT = 20;

export function splitPatterns(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter(Boolean);
}

function CreateSubscription({ onCreated }: { onCreated: (subscription: Subscription, secret: string) => void }) {
  const connections = useConnections();
  const [open, setOpen] = useState(false);
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [types, setTypes] = useState("");
  const [connection, setConnection] = useState("");
  const { submit, busy, error, errorsFor, setError } = useSubmit(async () => {
    const created = await unwrap(
      api.POST("/api/v1/webhooks/subscriptions/", {
        body: { url, description, event_types: splitPatterns(types), connection: connection ? Number(connection) : null },
      }),
    );
    onCreated(created, String((created as unknown as { secret?: string }).secret ?? ""));
    setOpen(false);
    setUrl("");
    setDescription("");
    setTypes("");
    setConnection("");
  });
  return (
    <FormDialog
      label="New subscription"
      title="New outbound subscription"
      open={open}
      setOpen={setOpen}
      onClose={() => setError(null)}
      onSubmit={submit}
      busy={busy}
      error={error}
      shown={["url", "description", "event_types", "connection"]}
      submitLabel="Create subscription"
    >
      <Field label="Endpoint URL" help="Where events are POSTed, signed with Standard Webhooks headers." errors={errorsFor("url")}>
        {(props) => <input {...props} type="url" value={url} onChange={(e) => setUrl(e.target.value)} />}
      </Field>
      <Field
        label="Event types"
        help="Patterns separated by commas or spaces; * for any segment (shopify.order.*, *.contact.created)."
        errors={errorsFor("event_types", true)}
      >
        {(props) => <input {...props} type="text" value={types} onChange={(e) => setTypes(e.target.value)} placeholder="shopify.order.*" />}
      </Field>
      <Field label="Only from connection" help="Optional." errors={errorsFor("connection")}>
        {(props) => (
          <select {...props} value={connection} onChange={(e) => setConnection(e.target.value)}>
            <option value="">Any connection</option>
            <ConnectionOptions connections={connections.data?.results} />
          </select>
        )}
      </Field>
      <Field label="Description" errors={errorsFor("description")}>
        {(props) => <input {...props} type="text" value={description} onChange={(e) => setDescription(e.target.value)} />}
      </Field>
    </FormDialog>
  );
}

function Attempts({ id }: { id: number }) {
  const { data, error, mutate } = useSWR(`integrations:delivery:${id}`, () =>
    unwrap(api.GET("/api/v1/webhooks/deliveries/{id}/", { params: { path: { id: String(id) } } })),
    { refreshInterval: 3000 },
  );
  if (error) return <ErrorState error={error} retry={() => mutate()} />;
  if (!data) return <Loading />;
  if (!data.attempt_log.length) return <p className="muted">No attempt yet.</p>;
  return (
    <Table
      caption="Attempts"
      testId="attempts-table"
      columns={["#", "Trigger", "Status code", "Latency", "Response", "When"]}
    >
      {data.attempt_log.map((a) => (
        <tr key={a.number}>
          <td>{a.number}</td>
          <td>{a.trigger}</td>
          <td>{a.status_code ?? "—"}</td>
          <td>{a.latency_ms != null ? `${a.latency_ms} ms` : "—"}</td>
          <td>
            {a.error ? <span className="field-error">{a.error}</span> : null}
            {a.response_excerpt ? <code className="integ-excerpt">{a.response_excerpt}</code> : null}
          </td>
          <td>
            <Time value={a.attempted_at} />
          </td>
        </tr>
      ))}
    </Table>
  );
}

export function DeliveryLog({ subscription, canConfigure }: { subscription: Subscription; canConfigure: boolean }) {
  const [offset, setOffset] = useState(0);
  const [expanded, setExpanded] = useState<number | null>(null);
  const [since, setSince] = useState(() => isoToLocalInput(new Date(Date.now() - 24 * 3600 * 1000)));
  const [replayed, setReplayed] = useState<string | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);
  const query = { subscription: subscription.id, limit: DELIVERY_LIMIT, offset };
  const { data, error, mutate } = useSWR(["integrations:deliveries", JSON.stringify(query)], () =>
    unwrap(api.GET("/api/v1/webhooks/deliveries/", { params: { query } })),
    { refreshInterval: 2000 },
  );
  const replayFailed = useSubmit(async () => {
    const answer = await unwrap(
      api.POST("/api/v1/webhooks/subscriptions/{id}/replay/", {
        params: { path: { id: String(subscription.id) } },
        body: { since: localInputToIso(since) },
      }),
    );
    const count = (answer as { replayed?: number }).replayed ?? 0;
    setReplayed(`${count} failed deliver${count === 1 ? "y" : "ies"} queued again.`);
    await mutate();
  });
  const replayOne = async (delivery: Delivery) => {
    setRowError(null);
    try {
      await unwrap(api.POST("/api/v1/webhooks/deliveries/{id}/replay/", { params: { path: { id: String(delivery.id) } } }));
      setReplayed(`Delivery ${delivery.msg_id} queued again.`);
      await mutate();
    } catch (err) {
      setRowError(err);
    }
  };
  return (
    <section className="integ-deliveries" aria-label={`Deliveries to ${subscription.url}`} data-testid="delivery-log">
      <div className="spread">
        <h3>Deliveries to {subscription.url}</h3>
        {canConfigure ? (
          <form
            className="row"
            noValidate
            onSubmit={(e) => {
              e.preventDefault();
              setReplayed(null);
              replayFailed.submit();
            }}
          >
            <Field label="Failed since" errors={replayFailed.errorsFor("since")}>
              {(props) => <input {...props} type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />}
            </Field>
            <Button type="submit" busy={replayFailed.busy}>
              Replay failed since…
            </Button>
          </form>
        ) : null}
      </div>
      <FormError error={replayFailed.error} shown={["since"]} />
      <FormError error={rowError} />
      {replayed ? (
        <div className="alert alert-ok" role="status">
          {replayed}
        </div>
      ) : null}
      <AsyncList
        query={{ data, error, mutate }}
        empty={<EmptyState title="No deliveries yet">Matching events will be delivered here; this list refreshes by itself.</EmptyState>}
        pager={{ offset, limit: DELIVERY_LIMIT, onChange: setOffset }}
      >
        {(d) => (
          <Table
            caption="Deliveries"
            testId="deliveries-table"
            columns={["Event", "Status", "Attempts", "Last code", "Created", "Next attempt", "Actions"]}
          >
            {d.results.map((delivery) => (
              <DeliveryRows
                key={delivery.id}
                delivery={delivery}
                expanded={expanded === delivery.id}
                onToggle={() => setExpanded(expanded === delivery.id ? null : delivery.id)}
                onReplay={canConfigure ? () => replayOne(delivery) : undefined}
              />
            ))}
          </Table>
        )}
      </AsyncList>
    </section>
  );
}

function DeliveryRows({
  delivery,
  expanded,
  onToggle,
  onReplay,
}: {
  delivery: Delivery;
  expanded: boolean;
  onToggle: () => void;
  onReplay?: () => void;
}) {
  const status = delivery.status === "succeeded" ? "delivered" : delivery.status;
  return (
    <>
      <tr data-testid="delivery-row">
        <td>
          <code>{delivery.event_type}</code>
          <div className="field-help">{delivery.msg_id}</div>
        </td>
        <td>
          <Badge>{status}</Badge>
          {delivery.last_error ? <div className="field-help">{delivery.last_error}</div> : null}
        </td>
        <td>{delivery.attempts}</td>
        <td>{delivery.last_status_code ?? "—"}</td>
        <td>
          <Time value={delivery.created_at} />
        </td>
        <td>
          <Time value={delivery.next_attempt_at} />
        </td>
        <td>
          <div className="row">
            <Button onClick={onToggle} aria-expanded={expanded}>
              {expanded ? "Hide attempts" : "Attempts"}
            </Button>
            {onReplay ? <Button onClick={onReplay}>Replay</Button> : null}
          </div>
        </td>
      </tr>
      {expanded ? (
        <tr>
          <td colSpan={7}>
            <Attempts id={delivery.id} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

export function Subscriptions() {
  const { can } = useSession();
  const canConfigure = can("webhooks", "configure");
  const connections = useConnections();
  const { data, error, mutate } = useSubscriptions();
  const [secret, setSecret] = useState<{ label: string; value: string; note?: string } | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const current = data?.results.find((s) => s.id === selected);

  const setEnabled = async (subscription: Subscription, enabled: boolean) => {
    setActionError(null);
    try {
      await unwrap(
        api.PATCH("/api/v1/webhooks/subscriptions/{id}/", { params: { path: { id: String(subscription.id) } }, body: { enabled } }),
      );
      await mutate();
    } catch (err) {
      setActionError(err);
    }
  };

  return (
    <>
      <Card
        title="Outbound subscriptions"
        actions={
          canConfigure ? (
            <CreateSubscription
              onCreated={(subscription, value) => {
                setSecret({ label: `Signing secret of ${subscription.url}`, value });
                setSelected(subscription.id);
                mutate();
              }}
            />
          ) : null
        }
      >
        {secret ? (
          <>
            <SecretOnce label={secret.label} value={secret.value} onDone={() => setSecret(null)} />
            {secret.note ? <p className="muted">{secret.note}</p> : null}
          </>
        ) : null}
        <FormError error={actionError} />
        <AsyncList
          query={{ data, error, mutate }}
          empty={
            <EmptyState title="No subscriptions">
              A subscription sends matching events to a URL of yours, signed, with retries and a delivery log.
            </EmptyState>
          }
        >
          {(d) => (
            <Table
              caption="Outbound subscriptions"
              testId="subscriptions-table"
              columns={["URL", "Event types", "Connection", "Status", "Last success", "Failures", "Actions"]}
            >
              {d.results.map((subscription) => (
                <tr key={subscription.id} aria-selected={selected === subscription.id}>
                  <td>
                    <span className="integ-url">{subscription.url}</span>
                    {subscription.test_receiver ? (
                      <div>
                        <Badge tone="neutral">Built-in test receiver</Badge>
                      </div>
                    ) : null}
                    {subscription.description ? <div className="field-help">{subscription.description}</div> : null}
                  </td>
                  <td>
                    {((subscription.event_types as string[] | undefined) ?? []).map((t) => (
                      <span key={t} className="integ-chip">
                        <EventType value={t} />
                      </span>
                    ))}
                  </td>
                  <td><ConnectionName connections={connections.data?.results} id={subscription.connection} /></td>
                  <td>
                    <Badge>{subscription.enabled ? "active" : "disabled"}</Badge>
                    {subscription.disabled_reason ? <div className="field-help">{subscription.disabled_reason}</div> : null}
                    {subscription.secret_rotation_ends_at ? (
                      <div className="field-help">
                        Old secret valid until <Time value={subscription.secret_rotation_ends_at} />
                      </div>
                    ) : null}
                  </td>
                  <td>
                    <Time value={subscription.last_success_at} />
                  </td>
                  <td>{subscription.consecutive_failures}</td>
                  <td>
                    <div className="row">
                      <Button
                        onClick={() => setSelected(selected === subscription.id ? null : subscription.id)}
                        aria-expanded={selected === subscription.id}
                      >
                        Deliveries
                      </Button>
                      {canConfigure ? (
                        <>
                          <Button
                            disabled={!subscription.enabled}
                            title={subscription.enabled ? undefined : "Enable the subscription first."}
                            onClick={async () => {
                              setActionError(null);
                              try {
                                await unwrap(
                                  api.POST("/api/v1/webhooks/subscriptions/{id}/send-test/", {
                                    params: { path: { id: String(subscription.id) } },
                                  }),
                                );
                                setSelected(subscription.id);
                              } catch (err) {
                                setActionError(err);
                              }
                            }}
                          >
                            Send a test event
                          </Button>
                          <ConfirmButton
                            label="Rotate secret"
                            variant="default"
                            title="Rotate the signing secret?"
                            message="Deliveries are signed with both the old and the new secret for a grace period, then only the new one."
                            confirmLabel="Rotate"
                            onConfirm={async () => {
                              const answer = await unwrap(
                                api.POST("/api/v1/webhooks/subscriptions/{id}/rotate-secret/", {
                                  params: { path: { id: String(subscription.id) } },
                                }),
                              );
                              const body = answer as { secret?: string; previous_secret_valid_until?: string };
                              setSecret({
                                label: `New signing secret of ${subscription.url}`,
                                value: String(body.secret ?? ""),
                                note: body.previous_secret_valid_until
                                  ? `The old secret keeps working until ${new Date(body.previous_secret_valid_until).toLocaleString()}.`
                                  : undefined,
                              });
                              await mutate();
                            }}
                          />
                          <Button onClick={() => setEnabled(subscription, !subscription.enabled)}>
                            {subscription.enabled ? "Disable" : "Enable"}
                          </Button>
                          <ConfirmButton
                            label="Delete"
                            title="Delete this subscription?"
                            message={`Events will no longer be sent to ${subscription.url}.`}
                            confirmLabel="Delete"
                            onConfirm={async () => {
                              await unwrap(
                                api.DELETE("/api/v1/webhooks/subscriptions/{id}/", { params: { path: { id: String(subscription.id) } } }),
                              );
                              if (selected === subscription.id) setSelected(null);
                              await mutate();
                            }}
                          />
                        </>
                      ) : null}
                    </div>
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </AsyncList>
      </Card>
      {current ? (
        <Card>
          <DeliveryLog key={current.id} subscription={current} canConfigure={canConfigure} />
        </Card>
      ) : null}
    </>
  );
}
