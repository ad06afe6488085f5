// Shapes of the agents API as the gateway answers them (apps/agents/api/*_serializers.py). Where the generated
// schema differs from the answer (available-tools and agent-templates are plain lists), these are the truth.
import type { Schemas } from "@/lib/api/client";

export type Agent = Schemas["Agent"];
export type Provider = Schemas["LLMProvider"];
export type Template = Schemas["AgentTemplate"];
export type Collection = Schemas["Collection"];
export type KnowledgeDocument = Schemas["Document"];

export type AvailableItem = { name: string; description: string; granted: boolean };
export type Policy = "allow" | "ask";
export type AvailableAction = AvailableItem & { policy?: Policy };
export type AvailableConnection = {
  connection: { id: number; name: string; provider: string; provider_name: string; status: string };
  resources: AvailableItem[];
  actions: AvailableAction[];
  allow_unattended_from_rules?: boolean;
};
export type Grant = {
  connection: number;
  resources: string[];
  actions: string[];
  action_policies: Record<string, Policy>;
  allow_unattended_from_rules: boolean;
};

export type StepKind = "llm" | "tool_call" | "tool_denied" | "tool_error" | "approval" | "answer";
export type RunStep = {
  position: number;
  kind: StepKind | string;
  tool: string;
  arguments: unknown;
  result_summary: string;
  prompt_tokens: number;
  completion_tokens: number;
  created_at: string;
};
export type RunStatus = "queued" | "running" | "waiting_approval" | "succeeded" | "failed" | "cancelled";
export type Run = {
  id: number;
  agent: number;
  agent_name: string;
  conversation: number | null;
  input: string;
  status: RunStatus | string;
  output: string;
  error: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: string | number | null;
  duration_ms: number | null;
  source: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  steps?: RunStep[];
};
export type SearchHit = {
  chunk_id: number;
  document_id: number;
  document_title: string;
  collection_id: number;
  page: number | null;
  excerpt: string;
  score: number;
};

export const ACTIVE_RUN = new Set(["queued", "running", "waiting_approval"]);
export const ACTIVE_DOCUMENT = new Set(["pending", "processing"]);

/** A list endpoint's rows, whether the gateway answered a plain list or a limit/offset page. */
export { rows } from "@/lib/api/queries";
