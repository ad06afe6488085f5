"use client";

// Where a feature needs something the workspace does not have yet (an LLM provider, a platform account), the page
// says exactly what to add and where, with a link, instead of failing when it is used.
import Link from "next/link";
import useSWR from "swr";

import { api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";

export function useLLMProviderCount(): number | undefined {
  const { me } = useSession();
  const { data } = useSWR(["llm-providers:count", me.tenant?.slug], () =>
    unwrap(api.GET("/api/v1/llm-providers/", { params: { query: { limit: 1 } } })),
  );
  return data?.count;
}

/** Nothing when the agent (or the workspace, without `agentHasProvider`) has a provider. */
export function LLMProviderNotice({ agentHasProvider, what = "Agents" }: { agentHasProvider?: boolean; what?: string }) {
  const { can } = useSession();
  const count = useLLMProviderCount();
  if (count === undefined || agentHasProvider) return null;
  if (agentHasProvider === false && count > 0) {
    return (
      <div className="notice" role="note" data-testid="needs-llm">
        <h2>This agent has no LLM provider yet</h2>
        <p>Choose one of the workspace&apos;s providers in this agent&apos;s Settings tab, then save; it can run after that.</p>
      </div>
    );
  }
  if (count > 0) return null;
  return (
    <div className="notice" role="note" data-testid="needs-llm">
      <h2>{what} need an LLM provider to run</h2>
      <p>
        Add one under{" "}
        <Link href="/dashboard/settings?tab=llm">Settings → LLM providers</Link>: OpenAI, Anthropic, Azure OpenAI, a
        local Ollama or any OpenAI-compatible endpoint, with its API key (stored encrypted, never shown again).
        {agentHasProvider === false ? " Then choose it in this agent's Settings tab." : ""}
        {can("agents", "configure") ? "" : " Your role cannot add one: ask an admin or the owner."}
      </p>
    </div>
  );
}
