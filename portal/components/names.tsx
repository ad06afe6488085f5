"use client";

// The words a user reads instead of the API's keys: connector names for provider keys, one health vocabulary for
// connections, readable labels for rule action types, event types that wrap only between their parts.
import { Fragment } from "react";
import { useActionTypes, useConnectorCatalogue } from "@/lib/api/queries";

/** Key -> name from the connector catalogue (one request, shared by every caller through SWR). */
export function useConnectorNames(): Record<string, string> {
  const { data } = useConnectorCatalogue();
  const names: Record<string, string> = {};
  for (const connector of data ?? []) names[connector.key] = connector.name;
  return names;
}

/** A provider key as its connector's name; a key the catalogue does not know yet reads as words, not snake case. */
export function providerName(key: string | null | undefined, names: Record<string, string>): string {
  if (!key) return "";
  if (names[key]) return names[key];
  if (key === "custom") return "Custom sender";
  const words = key.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function ProviderName({ provider }: { provider: string | null | undefined }) {
  return <>{providerName(provider, useConnectorNames())}</>;
}

/** A connection's health, said the same way everywhere. */
export const HEALTH: Record<string, { label: string; tone: string }> = {
  active: { label: "Healthy", tone: "ok" },
  pending: { label: "Not tested", tone: "wait" },
  error: { label: "Failing", tone: "bad" },
  needs_reauth: { label: "Needs re-authorisation", tone: "bad" },
};

export function healthLabel(status: string): string {
  return HEALTH[status]?.label ?? status;
}

export function HealthBadge({ status }: { status: string }) {
  const health = HEALTH[status];
  return <span className={`badge badge-${health?.tone ?? "neutral"}`}>{health?.label ?? status}</span>;
}

/** An automation rule's action type in words: its label from GET /rules/action-types/ (the rule builder's own
 * list), or the type's words until that list has loaded. */
export function actionTypeLabel(type: string, types?: { type: string; label: string }[]): string {
  const label = types?.find((t) => t.type === type)?.label;
  if (label) return label;
  const words = type.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function useActionTypeLabel(): (type: string) => string {
  const { data } = useActionTypes();
  return (type: string) => actionTypeLabel(type, data);
}

/** An event type (`custom.order.created`) that may wrap after a dot but never inside a word. */
export function EventType({ value }: { value: string }) {
  const parts = value.split(".");
  return (
    <code className="event-type">
      {parts.map((part, index) => (
        <Fragment key={index}>
          {index ? "." : null}
          {index ? <wbr /> : null}
          <span className="nowrap">{part}</span>
        </Fragment>
      ))}
    </code>
  );
}
