"use client";

// Shared reads of the integrations page: small lists the tabs and the rule builder pick from.
import useSWR from "swr";

import type { ActionTypeInfo, RuleCatalog } from "@/components/rules/model";
import { providerName, useConnectorNames } from "@/components/names";
import { type Schemas, api, unwrap } from "@/lib/api/client";
import { LIST_LIMIT, fetchers, queryKeys, useActionTypes, useConnectorCatalogue } from "@/lib/api/queries";
import { useSession } from "@/lib/session";

export type Connection = Schemas["Connection"];
export type Endpoint = Schemas["Endpoint"];
export type Subscription = Schemas["Subscription"];
export type Delivery = Schemas["Delivery"];
export type DeliveryDetail = Schemas["DeliveryDetail"];
export type EventItem = Schemas["Event"];
export type EventDetail = Schemas["EventDetail"];
export type Rule = Schemas["Rule"];
export type RuleRun = Schemas["RuleRun"];
export type RuleRunDetail = Schemas["RuleRunDetail"];
export type ApiKey = Schemas["ApiKey"];

export { LIST_LIMIT };

export function useConnections() {
  return useSWR(queryKeys.connections.integrations, () => fetchers.connections(LIST_LIMIT));
}

export function useSubscriptions() {
  return useSWR("integrations:subscriptions", () =>
    unwrap(api.GET("/api/v1/webhooks/subscriptions/", { params: { query: { limit: LIST_LIMIT } } })),
  );
}

export function connectionLabel(
  connections: Connection[] | undefined,
  id: number | null | undefined,
  names: Record<string, string> = {},
): string {
  if (id == null) return "—";
  const connection = connections?.find((c) => c.id === id);
  return connection ? `${connection.name} (${providerName(connection.provider, names)})` : `Connection ${id}`;
}

/** A connection as "name (connector)", e.g. "Main shop (Shopify)". */
export function ConnectionName({ connections, id }: { connections: Connection[] | undefined; id: number | null | undefined }) {
  return <>{connectionLabel(connections, id, useConnectorNames())}</>;
}

/** Everything the rule builder offers in its selects, read from the API (lists the role may not read stay empty). */
export function useRuleCatalog(): { catalog?: RuleCatalog; actionTypes?: ActionTypeInfo[]; error?: unknown; retry: () => void } {
  const { can } = useSession();
  const connections = useConnections();
  const subscriptions = useSubscriptions();
  const connectors = useConnectorCatalogue();
  const agents = useSWR(can("agents", "read") ? queryKeys.agents.integrations : null, () => fetchers.agents(LIST_LIMIT));
  const configs = useSWR(can("workflows", "read") ? queryKeys.workflowConfigs.integrations : null, () =>
    fetchers.workflowConfigs(LIST_LIMIT),
  );
  const actionTypes = useActionTypes();
  const error = connections.error ?? subscriptions.error ?? connectors.error ?? actionTypes.error;
  const retry = () => {
    connections.mutate();
    subscriptions.mutate();
    connectors.mutate();
    actionTypes.mutate();
  };
  if (!connections.data || !subscriptions.data || !connectors.data || !actionTypes.data) return { error, retry };
  const connectorActions: RuleCatalog["connectorActions"] = {};
  for (const connector of connectors.data) connectorActions[connector.key] = connector.actions;
  return {
    retry,
    actionTypes: actionTypes.data,
    catalog: {
      connections: connections.data.results.map((c) => ({ id: c.id, name: c.name, provider: c.provider })),
      connectorActions,
      subscriptions: subscriptions.data.results.map((s) => ({ id: s.id, url: s.url, description: s.description })),
      agents: (agents.data?.results ?? []).map((a) => ({ id: a.id, name: a.name })),
      workflowConfigs: (configs.data?.results ?? []).map((w) => ({ id: w.id, name: w.name })),
    },
  };
}

export function Json({ value }: { value: unknown }) {
  return <pre className="mono integ-json">{JSON.stringify(value, null, 2)}</pre>;
}

/** The `since` of "replay failed since…": a local datetime input as ISO 8601. */
export function localInputToIso(value: string): string {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

export function isoToLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
