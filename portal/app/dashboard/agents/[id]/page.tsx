"use client";

import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useState } from "react";
import useSWR from "swr";

import { AgentSettingsForm, type SettingsBody } from "@/components/agents/AgentSettingsForm";
import { KnowledgePanel } from "@/components/agents/KnowledgePanel";
import { LLMProviderNotice } from "@/components/Guidance";
import { RunPanel } from "@/components/agents/RunPanel";
import { ToolsEditor } from "@/components/agents/ToolsEditor";
import { type Agent, type AvailableConnection, type Grant, rows } from "@/components/agents/types";
import { Async, Badge, Card, ConfirmButton, ErrorState, Loading, PageHeader, Tabs } from "@/components/ui";
import { type Schemas, api, unwrap } from "@/lib/api/client";
import type { ApiError } from "@/lib/api/errors";
import { useLlmProviders } from "@/lib/api/queries";
import { useSession } from "@/lib/session";

type Tab = "settings" | "tools" | "knowledge" | "run";

export default function AgentPage() {
  const params = useParams<{ id: string }>();
  const id = Number(params.id);
  const router = useRouter();
  const { can } = useSession();
  const canConfigure = can("agents", "configure");
  const canRun = can("agents", "use");
  const canManageKnowledge = can("knowledge", "configure");
  const [tab, setTab] = useState<Tab>("settings");

  const agentKey = `agents:agent:${id}`;
  const agent = useSWR<Agent, ApiError>(Number.isFinite(id) ? agentKey : null, async () =>
    unwrap(api.GET("/api/v1/agents/{id}/", { params: { path: { id: String(id) } } })),
  );
  const providers = useLlmProviders();
  const tools = useSWR(tab === "tools" ? `agents:tools:${id}` : null, async () =>
    rows<AvailableConnection>(
      await unwrap(api.GET("/api/v1/agents/{id}/available-tools/", { params: { path: { id: String(id) } } })),
    ),
  );

  if (agent.error && !agent.data) {
    return (
      <>
        <PageHeader title="Agent" description={<Link href="/dashboard/agents">All agents</Link>} />
        <ErrorState error={agent.error} retry={agent.error.status === 404 ? undefined : () => agent.mutate()} />
      </>
    );
  }
  if (!agent.data) return <Loading label="Loading the agent…" />;
  const current = agent.data;

  const patch = async (body: SettingsBody | { collections: number[] }) => {
    const fresh = (await unwrap(
      api.PATCH("/api/v1/agents/{id}/", {
        params: { path: { id: String(id) } },
        // PATCH takes any subset; the generated type marks fields with defaults as required
        body: body as Schemas["PatchedAgentWriteRequest"],
      }),
    )) as Agent;
    await agent.mutate(fresh, { revalidate: false });
    return fresh;
  };
  const saveTools = async (grants: Grant[]) => {
    await unwrap(api.PUT("/api/v1/agents/{id}/tools/", { params: { path: { id: String(id) } }, body: { grants } }));
    await Promise.all([agent.mutate(), tools.mutate()]);
  };

  return (
    <>
      <PageHeader
        title={current.name}
        description={
          <>
            <Link href="/dashboard/agents">All agents</Link> · {current.role} ·{" "}
            {current.provider_name ? `${current.provider_name} / ${current.effective_model}` : "no LLM provider"}{" "}
            {current.enabled ? <Badge tone="ok">enabled</Badge> : <Badge>disabled</Badge>}
          </>
        }
        actions={
          canConfigure ? (
            <ConfirmButton
              label="Delete agent"
              title="Delete agent"
              message={`Delete “${current.name}”, its tool grants and its run history? This cannot be undone.`}
              onConfirm={async () => {
                await unwrap(api.DELETE("/api/v1/agents/{id}/", { params: { path: { id: String(id) } } }));
                router.push("/dashboard/agents");
              }}
            />
          ) : null
        }
      />
      <LLMProviderNotice agentHasProvider={Boolean(current.provider)} />
      <Tabs<Tab>
        label="Agent sections"
        current={tab}
        onChange={setTab}
        tabs={[
          { key: "settings", label: "Settings" },
          { key: "tools", label: `Tools (${current.grants.length})` },
          { key: "knowledge", label: `Knowledge (${current.collections.length})` },
          { key: "run", label: "Run" },
        ]}
      />
      <div role="tabpanel" aria-label={tab}>
        {tab === "settings" ? (
          <Card title="Settings">
            <Async data={providers.data} error={providers.error} retry={() => providers.mutate()}>
              {(list) => (
                <AgentSettingsForm key={current.id} agent={current} providers={list} readOnly={!canConfigure} onSave={patch} />
              )}
            </Async>
          </Card>
        ) : null}
        {tab === "tools" ? (
          <Card title="Tools">
            <p className="muted">
              Tick what this agent may read and do with each connection. Every call is checked again when the agent
              makes it; anything not ticked is refused.
            </p>
            <Async data={tools.data} error={tools.error} retry={() => tools.mutate()}>
              {(list) => <ToolsEditor key={current.id} available={list} readOnly={!canConfigure} onSave={saveTools} />}
            </Async>
          </Card>
        ) : null}
        {tab === "knowledge" ? (
          <Card title="Knowledge">
            <KnowledgePanel
              agent={current}
              canAttach={canConfigure}
              canManage={canManageKnowledge}
              onAttach={(collections) => patch({ collections })}
            />
          </Card>
        ) : null}
        {tab === "run" ? (
          <Card title="Run">
            <RunPanel agentId={current.id} enabled={current.enabled} canRun={canRun} />
          </Card>
        ) : null}
      </div>
    </>
  );
}
