"use client";

// The workspace's built-in test receiver: its URL, and the newest requests it took with the verdict on their
// Standard Webhooks signature (refreshed every 3 s). How a subscription is checked before it points at production.
import { useState } from "react";
import useSWR from "swr";

import { EventType } from "@/components/names";
import {
  Async,
  Badge,
  Button,
  Card,
  ConfirmButton,
  CopyField,
  EmptyState,
  FormError,
  SecretOnce,
  Time,
} from "@/components/ui";
import { type Schemas, api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";

import { Json, useSubscriptions } from "./common";

type Received = Schemas["ReceivedRequest"];

const VERDICT_TONES: Record<string, string> = {
  verified: "ok",
  invalid_signature: "bad",
  stale_timestamp: "bad",
  unsigned: "bad",
};

function bodyOf(request: Received): unknown {
  try {
    return JSON.parse(request.body);
  } catch {
    return request.body;
  }
}

function RequestItem({ request }: { request: Received }) {
  return (
    <li className="verdict-item" data-testid="received-request">
      <div className="spread">
        <div className="row">
          <Badge tone={VERDICT_TONES[request.verdict] ?? "neutral"}>{request.verdict_label}</Badge>
          {request.event_type ? <EventType value={request.event_type} /> : <span className="muted">no event type</span>}
        </div>
        <span className="muted">
          answered {request.status_code} · <Time value={request.received_at} />
        </span>
      </div>
      <p className="field-help">{request.detail}</p>
      <details>
        <summary>Headers and body</summary>
        <p className="field-help">
          {request.body_bytes} bytes{request.truncated ? " (only the start is kept)" : ""}
          {request.webhook_id ? (
            <>
              {" "}
              · webhook-id <code>{request.webhook_id}</code>
            </>
          ) : null}
        </p>
        <Json value={request.headers} />
        <Json value={bodyOf(request)} />
      </details>
    </li>
  );
}

export function TestReceiver() {
  const { can } = useSession();
  const canConfigure = can("webhooks", "configure");
  const query = useSWR("integrations:test-receiver", () => unwrap(api.GET("/api/v1/webhooks/test-receiver/")), {
    refreshInterval: 3000,
  });
  const subscriptions = useSubscriptions();
  const [secret, setSecret] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const subscribe = async (url: string) => {
    setBusy(true);
    setActionError(null);
    try {
      const created = await unwrap(
        api.POST("/api/v1/webhooks/subscriptions/", {
          body: { url, event_types: ["*"], description: "Everything, to the built-in test receiver" },
        }),
      );
      setSecret(String((created as { secret?: string }).secret ?? ""));
      await Promise.all([query.mutate(), subscriptions.mutate()]);
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Async data={query.data} error={query.error} retry={() => query.mutate()}>
      {(data) => (
        <>
          <Card title="Test receiver">
            <p className="muted">
              A URL of this workspace on the gateway that takes outbound deliveries, checks their Standard Webhooks
              signature against the secrets of your subscriptions pointing here, and keeps the newest {data.keep}{" "}
              requests (at most {Math.round(data.max_body_bytes / 1024)} KB of each body, {data.requests_per_minute}{" "}
              a minute). Point a subscription here to see exactly what your production endpoint will receive.
            </p>
            <CopyField value={data.url} label="Test receiver URL" testId="receiver-url" />
            <p className="field-help">
              {data.subscriptions.length
                ? `${data.subscriptions.length} subscription${data.subscriptions.length === 1 ? "" : "s"} point here. Use "Send a test event" on the Outbound webhooks tab to send one now.`
                : "No subscription points here yet."}
            </p>
            {secret ? <SecretOnce label="Signing secret of the new subscription" value={secret} onDone={() => setSecret(null)} /> : null}
            <FormError error={actionError} />
            {canConfigure ? (
              <div className="row">
                {!data.subscriptions.length ? (
                  <Button variant="primary" busy={busy} onClick={() => subscribe(data.url)}>
                    Subscribe it to every event
                  </Button>
                ) : null}
                <ConfirmButton
                  label="Clear"
                  title="Forget the requests received?"
                  message="The list below is emptied; subscriptions and deliveries stay."
                  confirmLabel="Clear"
                  disabled={!data.requests.length}
                  onConfirm={async () => {
                    await unwrap(api.DELETE("/api/v1/webhooks/test-receiver/"));
                    await query.mutate();
                  }}
                />
              </div>
            ) : null}
          </Card>
          <Card title="Requests received">
            {data.requests.length ? (
              <ul className="verdict-list" aria-label="Requests received">
                {data.requests.map((request) => (
                  <RequestItem key={request.id} request={request} />
                ))}
              </ul>
            ) : (
              <EmptyState title="Nothing received yet">
                Requests appear here within a few seconds of a delivery; this list refreshes by itself.
              </EmptyState>
            )}
          </Card>
        </>
      )}
    </Async>
  );
}
