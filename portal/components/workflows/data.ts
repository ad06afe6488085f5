"use client";

// Types and SWR hooks of the workflows pages (all through the typed API client).
import useSWR from "swr";

import { type Schemas, api, unwrap } from "@/lib/api/client";
import { fetchers, queryKeys, useConnectorCatalogue } from "@/lib/api/queries";
import { useSession } from "@/lib/session";

export type Template = Schemas["WorkflowTemplate"];
export type TemplateParam = Schemas["WorkflowTemplateParam"];
export type Config = Schemas["WorkflowConfig"];
export type Run = Schemas["WorkflowRun"];
export type RunDetail = Schemas["WorkflowRunDetail"];
export type Approval = Schemas["WorkflowApproval"];
export type Connection = Schemas["Connection"];
export type Connector = Schemas["Connector"];
export type Agent = Schemas["Agent"];
export type Step = {
  name: string;
  status: string;
  started_at?: string | null;
  finished_at?: string | null;
  result?: unknown;
  error?: string;
};

export const ACTIVE_STATUSES = ["running", "waiting_approval"];
export const RUN_STATUSES = ["running", "waiting_approval", "completed", "failed", "cancelled", "terminated", "timed_out"];

export function useTemplates() {
  return useSWR("workflows:templates", () => unwrap(api.GET("/api/v1/workflows/templates/")));
}

export function useConnections() {
  return useSWR(queryKeys.connections.workflows, () => fetchers.connections(200));
}

export function useConnectors() {
  return useConnectorCatalogue();
}

export function useAgents() {
  return useSWR(queryKeys.agents.workflows, () => fetchers.agents(200));
}

/** Who a user id is (for "decided by"): the signed-in person, or a member when the members list carries user ids
 * (it lists memberships; `user_id` is used once the API adds it), else "user #id". */
export function useMemberNames() {
  const { me } = useSession();
  const { data } = useSWR("workflows:members", () =>
    unwrap(api.GET("/api/v1/members/", { params: { query: { limit: 200 } } })),
  );
  const names = new Map<number, string>();
  for (const m of data?.results ?? []) {
    const userId = (m as { user_id?: number }).user_id;
    if (typeof userId === "number") names.set(userId, m.email);
  }
  names.set(me.id, me.email);
  return (id: number | null | undefined) => (id == null ? "—" : (names.get(id) ?? `user #${id}`));
}

/** How long a run took, or has been working: a run waiting for someone's approval is not counting time. */
export function runDuration(
  run: { started_at: string; finished_at: string | null; status?: string },
  now = Date.now(),
): string {
  if (!run.finished_at && run.status === "waiting_approval") return "Waiting for approval";
  const start = new Date(run.started_at).getTime();
  const end = run.finished_at ? new Date(run.finished_at).getTime() : now;
  if (Number.isNaN(start) || Number.isNaN(end)) return "—";
  const seconds = Math.max(0, Math.round((end - start) / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function statusLabel(status: string): string {
  return status.replace(/_/g, " ");
}
