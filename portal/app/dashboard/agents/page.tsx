"use client";

import Link from "next/link";
import { LLMProviderNotice } from "@/components/Guidance";
import { useRouter } from "next/navigation";
import { useState } from "react";
import useSWR from "swr";

import { CollectionCreate, useCollections } from "@/components/agents/KnowledgePanel";
import { type Agent, type Provider, type Template, rows } from "@/components/agents/types";
import {
  Async,
  AsyncList,
  Badge,
  Button,
  Card,
  Dialog,
  EmptyState,
  Field,
  FormError,
  PageHeader,
  Table,
  Time,
} from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { LIST_LIMIT, fetchers, queryKeys, useLlmProviders } from "@/lib/api/queries";
import { useSubmit } from "@/lib/useForm";
import { useSession } from "@/lib/session";

function LastRun({ run }: { run: Agent["last_run"] }) {
  if (!run) return <span className="muted">never</span>;
  return (
    <span className="row">
      <Badge>{run.status}</Badge>
      <Time value={run.at} />
    </span>
  );
}

function Templates({
  templates,
  canInstall,
  onInstalled,
}: {
  templates: Template[];
  canInstall: boolean;
  onInstalled: (agent: Agent) => void;
}) {
  const [installing, setInstalling] = useState<string | null>(null);
  const { submit, error } = useSubmit(async (key: string) => {
    setInstalling(key);
    try {
      const agent = (await unwrap(
        api.POST("/api/v1/agent-templates/{key}/install/", { params: { path: { key } }, body: { model: "" } }),
      )) as Agent;
      onInstalled(agent);
    } finally {
      setInstalling(null);
    }
  });
  return (
    <>
      <FormError error={error} />
      <ul className="grid agent-templates" aria-label="Agent templates">
        {templates.map((t) => (
          <li key={t.key} className="card agent-template">
            <h3>{t.name}</h3>
            <p className="muted">{t.description}</p>
            <p>
              <strong>Role:</strong> {t.role}
            </p>
            {canInstall ? (
              <Button
                busy={installing === t.key}
                disabled={installing !== null}
                onClick={() => submit(t.key)}
                aria-label={`Install ${t.name}`}
              >
                Install
              </Button>
            ) : null}
          </li>
        ))}
      </ul>
    </>
  );
}

function CreateAgent({
  open,
  onClose,
  providers,
  onCreated,
}: {
  open: boolean;
  onClose: () => void;
  providers: Provider[];
  onCreated: (agent: Agent) => void;
}) {
  const [name, setName] = useState("");
  const [role, setRole] = useState("");
  const [goal, setGoal] = useState("");
  const [provider, setProvider] = useState<string>(providers[0] ? String(providers[0].id) : "");
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    const agent = (await unwrap(
      api.POST("/api/v1/agents/", {
        body: {
          name,
          role,
          goal,
          backstory: "",
          model: "",
          temperature: "0.70",
          max_iterations: 10,
          max_execution_time: 120,
          enabled: true,
          provider: provider ? Number(provider) : null,
        },
      }),
    )) as Agent;
    onCreated(agent);
  });
  const formId = "create-agent-form";
  return (
    <Dialog
      open={open}
      title="New agent"
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" form={formId} variant="primary" busy={busy}>
            Create agent
          </Button>
        </>
      }
    >
      <form
        id={formId}
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
        noValidate
      >
        <FormError error={error} shown={["name", "role", "goal", "provider"]} />
        <Field label="Name" errors={errorsFor("name")}>
          {(props) => <input {...props} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Role" help="For example: Marketing strategist." errors={errorsFor("role")}>
          {(props) => <input {...props} type="text" value={role} onChange={(e) => setRole(e.target.value)} />}
        </Field>
        <Field label="Goal" errors={errorsFor("goal")}>
          {(props) => <textarea {...props} rows={3} value={goal} onChange={(e) => setGoal(e.target.value)} />}
        </Field>
        <Field
          label="LLM provider"
          errors={errorsFor("provider")}
          help={
            providers.length ? undefined : (
              <>
                None yet: <Link href="/dashboard/settings">add one in Settings</Link>. You can pick it later.
              </>
            )
          }
        >
          {(props) => (
            <select {...props} value={provider} onChange={(e) => setProvider(e.target.value)}>
              <option value="">None</option>
              {providers.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name} ({p.default_model})
                </option>
              ))}
            </select>
          )}
        </Field>
      </form>
    </Dialog>
  );
}

function Collections({ canManage }: { canManage: boolean }) {
  const { data, error, mutate } = useCollections();
  return (
    <Card title="Knowledge collections">
      <p className="muted">
        Groups of documents agents may search. Upload documents and give agents access on an agent&apos;s Knowledge tab.
      </p>
      <AsyncList
        query={{ data, error, mutate }}
        empty={<EmptyState title="No collections yet">{canManage ? "Create the first one below." : null}</EmptyState>}
      >
        {(list) => (
          <Table columns={["Name", "Description", "Documents", "Created"]}>
            {list.map((c) => (
              <tr key={c.id}>
                <td>{c.name}</td>
                <td className="muted">{c.description || "—"}</td>
                <td>{c.documents_count}</td>
                <td>
                  <Time value={c.created_at} />
                </td>
              </tr>
            ))}
          </Table>
        )}
      </AsyncList>
      {canManage ? <CollectionCreate onCreated={() => mutate()} /> : null}
    </Card>
  );
}

export default function AgentsPage() {
  const router = useRouter();
  const { can } = useSession();
  const canConfigure = can("agents", "configure");
  const [creating, setCreating] = useState(false);
  const agents = useSWR(queryKeys.agents.list, async () => rows<Agent>(await fetchers.agents(LIST_LIMIT)));
  const templates = useSWR("agents:templates", async () =>
    rows<Template>(await unwrap(api.GET("/api/v1/agent-templates/"))),
  );
  const providers = useLlmProviders();
  const open = (agent: Agent) => {
    agents.mutate();
    router.push(`/dashboard/agents/${agent.id}`);
  };
  const noProvider = providers.data && providers.data.length === 0;

  return (
    <>
      <PageHeader
        title="AI agents"
        description="Agents that work with your connected services and your own documents."
        actions={
          canConfigure ? (
            <Button variant="primary" onClick={() => setCreating(true)} disabled={!providers.data}>
              New agent
            </Button>
          ) : null
        }
      />
      {noProvider ? <LLMProviderNotice /> : null}
      <Card title="Agents">
        <AsyncList
          query={agents}
          empty={
            <EmptyState title="No agents yet">
              An agent has a role, a goal and a backstory; you choose which connections it may use as tools and which
              documents it may search, then run it with a prompt.{" "}
              {canConfigure ? "Start from a template below or create one from scratch." : "An admin can create one."}
            </EmptyState>
          }
        >
          {(list) => (
            <Table columns={["Name", "Role", "Provider / model", "Status", "Last run"]}>
              {list.map((agent) => (
                <tr key={agent.id}>
                  <td>
                    <Link href={`/dashboard/agents/${agent.id}`}>{agent.name}</Link>
                  </td>
                  <td>{agent.role}</td>
                  <td>
                    {agent.provider_name ? (
                      <>
                        {agent.provider_name} <span className="muted">/ {agent.effective_model}</span>
                      </>
                    ) : (
                      <span className="muted">none</span>
                    )}
                  </td>
                  <td>{agent.enabled ? <Badge tone="ok">enabled</Badge> : <Badge>disabled</Badge>}</td>
                  <td>
                    <LastRun run={agent.last_run} />
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </AsyncList>
      </Card>
      <Card title="Templates">
        <p className="muted">Ready-made agents for common roles. Installing one creates an agent you can edit.</p>
        <Async data={templates.data} error={templates.error} retry={() => templates.mutate()}>
          {(list) => <Templates templates={list} canInstall={canConfigure} onInstalled={open} />}
        </Async>
      </Card>
      <Collections canManage={can("knowledge", "configure")} />
      {creating && providers.data ? (
        <CreateAgent open={creating} onClose={() => setCreating(false)} providers={providers.data} onCreated={open} />
      ) : null}
    </>
  );
}
