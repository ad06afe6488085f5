"use client";

// The SWR keys and fetchers of the lists that more than one part of the portal reads (connectors, integrations,
// workflows, agents), defined once. A key names exactly one request: readers of the same key share its cache entry
// (one request, and one `mutate(key)` reloads it for all of them); a list read with another limit or shape is
// another request and keeps its own key.
import useSWR from "swr";

import { type Schemas, api, unwrap } from "./client";
import type { ApiError } from "./errors";

/** How many rows the integrations page's selects read of each list. */
export const LIST_LIMIT = 100;

/** An action type of automation rules as GET /rules/action-types/ answers. */
export type ActionTypeListItem = { type: string; label: string; fields: string[] };

export const queryKeys = {
  /** GET /connectors/: the connector catalogue. */
  connectorCatalogue: "connectors:catalogue",
  /** GET /rules/action-types/. */
  actionTypes: "integrations:action-types",
  /** GET /llm-providers/?limit=100, as rows. */
  llmProviders: "agents:providers",
  /** GET /connections/ with each reader's limit. */
  connections: {
    /** limit 500, the rows only (connectors and CRM pages). */
    all: "connections:all",
    /** limit LIST_LIMIT, the page. */
    integrations: "integrations:connections",
    /** limit 200, the page. */
    workflows: "workflows:connections",
  },
  /** GET /agents/ with each reader's limit. */
  agents: {
    /** limit LIST_LIMIT, as rows (the agents page). */
    list: "agents:list",
    /** limit LIST_LIMIT, the page. */
    integrations: "integrations:agents",
    /** limit 200, the page. */
    workflows: "workflows:agents",
  },
  /** GET /workflows/configs/ with each reader's limit. */
  workflowConfigs: {
    /** limit LIST_LIMIT, the page. */
    integrations: "integrations:workflow-configs",
    /** limit 200, the page (the workflows page). */
    workflows: "workflows:configs",
  },
} as const;

/** A list endpoint's rows, whether the gateway answered a plain list or a limit/offset page. */
export function rows<T>(data: unknown): T[] {
  if (Array.isArray(data)) return data as T[];
  if (data && typeof data === "object" && Array.isArray((data as { results?: unknown }).results)) {
    return (data as { results: T[] }).results;
  }
  return [];
}

export const fetchers = {
  connectorCatalogue: () => unwrap(api.GET("/api/v1/connectors/")),
  actionTypes: async () => (await unwrap(api.GET("/api/v1/rules/action-types/"))) as unknown as ActionTypeListItem[],
  llmProviders: async () =>
    rows<Schemas["LLMProvider"]>(await unwrap(api.GET("/api/v1/llm-providers/", { params: { query: { limit: 100 } } }))),
  connections: (limit: number) => unwrap(api.GET("/api/v1/connections/", { params: { query: { limit } } })),
  agents: (limit: number) => unwrap(api.GET("/api/v1/agents/", { params: { query: { limit } } })),
  workflowConfigs: (limit: number) => unwrap(api.GET("/api/v1/workflows/configs/", { params: { query: { limit } } })),
};

/** The connector catalogue (one request, shared by every reader). */
export function useConnectorCatalogue() {
  return useSWR<Schemas["Connector"][], ApiError>(queryKeys.connectorCatalogue, fetchers.connectorCatalogue);
}

/** The action types of automation rules (one request, shared by every reader). */
export function useActionTypes() {
  return useSWR(queryKeys.actionTypes, fetchers.actionTypes);
}

/** The tenant's LLM providers, as rows (one request, shared by every reader). */
export function useLlmProviders() {
  return useSWR(queryKeys.llmProviders, fetchers.llmProviders);
}
