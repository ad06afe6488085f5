"use client";

// Workflows: the tenant's configured workflows, the templates to start new ones from, run history and the
// approvals waiting for a person.
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import useSWR from "swr";

import { ApprovalsPanel } from "@/components/workflows/Approvals";
import { ConfigsTable } from "@/components/workflows/Configs";
import { type Template, useTemplates } from "@/components/workflows/data";
import { RunsTable } from "@/components/workflows/Runs";
import { LLMProviderNotice } from "@/components/Guidance";
import { Async, Card, EmptyState, PageHeader, Tabs, withSuspense } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { fetchers, queryKeys } from "@/lib/api/queries";
import { useSession } from "@/lib/session";

type Tab = "configs" | "runs" | "approvals";
const TABS: Tab[] = ["configs", "runs", "approvals"];

function TemplatesCard({ templates }: { templates: Template[] }) {
  const { can } = useSession();
  return (
    <Card title="Templates">
      <ul className="wf-templates" aria-label="Workflow templates">
        {templates.map((t) => (
          <li key={t.key} className="wf-template">
            <h3>{t.name}</h3>
            <p className="muted">{t.description}</p>
            {can("workflows", "configure") ? (
              <Link
                className="btn btn-primary"
                href={`/dashboard/workflows/new?template=${encodeURIComponent(t.key)}`}
                aria-label={`New workflow from ${t.name}`}
              >
                New workflow
              </Link>
            ) : null}
          </li>
        ))}
      </ul>
    </Card>
  );
}

function WorkflowsPage() {
  const router = useRouter();
  const search = useSearchParams();
  const { can } = useSession();
  const tab: Tab = TABS.includes(search.get("tab") as Tab) ? (search.get("tab") as Tab) : "configs";
  const templates = useTemplates();
  const configs = useSWR(queryKeys.workflowConfigs.workflows, () => fetchers.workflowConfigs(200));
  const pending = useSWR(
    "workflows:approvals:count",
    () => unwrap(api.GET("/api/v1/workflows/approvals/", { params: { query: { status: "pending", limit: 1 } } })),
    { refreshInterval: 10000 },
  );
  const setTab = (next: Tab) => router.replace(next === "configs" ? "/dashboard/workflows" : `?tab=${next}`);
  const waiting = pending.data?.count ?? 0;

  return (
    <>
      <PageHeader
        title="Workflows"
        description="Durable, scheduled workflows built from templates: read from a connection, analyse with an agent, publish — with approval when you want it."
        actions={
          !can("workflows", "configure") ? (
            <span className="muted" data-testid="read-only-note">
              {can("workflows", "use") ? "You can run workflows and decide approvals." : "Read only for your role."}
            </span>
          ) : null
        }
      />
      <LLMProviderNotice what="Workflows that run an agent" />
      <Tabs
        label="Workflows sections"
        current={tab}
        onChange={setTab}
        tabs={[
          { key: "configs", label: "Workflows" },
          { key: "runs", label: "Run history" },
          { key: "approvals", label: waiting ? `Approvals (${waiting})` : "Approvals" },
        ]}
      />
      {tab === "configs" ? (
        <div className="stack">
          <Card title="Configured workflows">
            <Async
              data={configs.data && templates.data ? { configs: configs.data, templates: templates.data } : undefined}
              error={configs.error ?? templates.error}
              retry={() => {
                void configs.mutate();
                void templates.mutate();
              }}
              isEmpty={(d) => d.configs.results.length === 0}
              empty={
                <EmptyState title="No workflows yet">
                  {can("workflows", "configure")
                    ? "Start one from a template below."
                    : "An admin of this workspace can set workflows up."}
                </EmptyState>
              }
            >
              {(d) => (
                <ConfigsTable
                  configs={d.configs.results}
                  templates={d.templates}
                  onChanged={() => void configs.mutate()}
                />
              )}
            </Async>
          </Card>
          <Async data={templates.data} error={templates.error} retry={() => templates.mutate()}>
            {(list) => <TemplatesCard templates={list} />}
          </Async>
        </div>
      ) : null}
      {tab === "runs" ? (
        <Card title="Run history">
          <RunsTable configs={configs.data?.results} />
        </Card>
      ) : null}
      {tab === "approvals" ? <ApprovalsPanel onDecided={() => void pending.mutate()} /> : null}
    </>
  );
}

export default withSuspense(WorkflowsPage);
