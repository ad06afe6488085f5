"use client";

// Settings → MCP: the server URL, how to connect common clients, the API keys with the `mcp` scope and the tools
// each may call (edited like an agent's grants), and the recent tool calls from the audit log.
import Link from "next/link";
import { useMemo, useState } from "react";
import useSWR from "swr";

import { Async, AsyncList, Badge, Button, Card, CopyField, EmptyState, FormError, Table, Time } from "@/components/ui";
import { type Schemas, api, unwrap } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

type Overview = Schemas["McpOverview"];
type ApiKey = Schemas["ApiKey"];
type Grant = Schemas["McpGrant"];
type Pick = { resources: string[]; actions: string[]; ask: string[] };
type Targets = { collections: number[]; agents: number[]; workflows: number[] };
export type Chosen = { connections: Record<number, Pick>; targets: Targets };

const TARGET_KINDS = [
  { kind: "collections", title: "Knowledge search over", none: "No knowledge collections." },
  { kind: "agents", title: "May run the agents", none: "No agents." },
  { kind: "workflows", title: "May start the workflows", none: "No workflows." },
] as const;

export const CALLS_LIMIT = 20;

export function chosenFrom(grants: Grant[]): Chosen {
  const chosen: Chosen = { connections: {}, targets: { collections: [], agents: [], workflows: [] } };
  for (const grant of grants) {
    if (grant.connection != null) {
      const policies = (grant.action_policies ?? {}) as Record<string, string>;
      chosen.connections[grant.connection] = {
        resources: grant.resources ?? [],
        actions: grant.actions ?? [],
        ask: Object.keys(policies).filter((name) => policies[name] === "ask"),
      };
    }
    for (const { kind } of TARGET_KINDS) chosen.targets[kind].push(...(grant[kind] ?? []));
  }
  return chosen;
}

/** The body's `mcp_tools`: one grant per connection with something ticked (in the page's order), then the rest. */
export function buildMcpTools(overview: Overview, chosen: Chosen): Grant[] {
  const grants: Grant[] = [];
  for (const connection of overview.connections) {
    const pick = chosen.connections[connection.id];
    if (!pick) continue;
    const resources = connection.resources.map((r) => r.name).filter((name) => pick.resources.includes(name));
    const actions = connection.actions.map((a) => a.name).filter((name) => pick.actions.includes(name));
    if (!resources.length && !actions.length) continue;
    const grant: Grant = { connection: connection.id, resources, actions };
    const asked = actions.filter((name) => pick.ask.includes(name));
    if (asked.length) grant.action_policies = Object.fromEntries(asked.map((name) => [name, "ask" as const]));
    grants.push(grant);
  }
  const { collections, agents, workflows } = chosen.targets;
  if (collections.length || agents.length || workflows.length) {
    grants.push({ collections: [...collections].sort((a, b) => a - b), agents: [...agents].sort((a, b) => a - b), workflows: [...workflows].sort((a, b) => a - b) });
  }
  return grants;
}

export function clientConfigs(url: string) {
  const claudeDesktop = JSON.stringify(
    {
      mcpServers: {
        bizosaas: {
          command: "npx",
          args: ["-y", "mcp-remote", url, "--header", "Authorization:${BIZOSAAS_KEY}"],
          env: { BIZOSAAS_KEY: "Bearer bzs_…" },
        },
      },
    },
    null,
    2,
  );
  const claudeCode = `claude mcp add --transport http bizosaas ${url} --header "Authorization: Bearer bzs_…"`;
  const python = [
    "import asyncio, httpx",
    "from mcp import ClientSession",
    "from mcp.client.streamable_http import streamable_http_client",
    "",
    "async def main():",
    '    headers = {"Authorization": "Bearer bzs_…"}',
    "    async with httpx.AsyncClient(headers=headers) as http, \\",
    `            streamable_http_client("${url}", http_client=http) as (read, write, _), \\`,
    "            ClientSession(read, write) as session:",
    "        await session.initialize()",
    "        tools = await session.list_tools()",
    "        print([tool.name for tool in tools.tools])",
    "",
    "asyncio.run(main())",
  ].join("\n");
  return { claudeDesktop, claudeCode, python };
}

function Connect({ url }: { url: string }) {
  const { claudeDesktop, claudeCode, python } = clientConfigs(url);
  return (
    <Card title="Server">
      <p>Point an MCP client at this URL (Streamable HTTP) with an API key that has the <code>mcp</code> scope.</p>
      <CopyField value={url} label="MCP server URL" testId="mcp-url" />
      <details>
        <summary>Claude Desktop (claude_desktop_config.json)</summary>
        <pre data-testid="mcp-claude-desktop">{claudeDesktop}</pre>
      </details>
      <details>
        <summary>Claude Code</summary>
        <pre data-testid="mcp-claude-code">{claudeCode}</pre>
      </details>
      <details>
        <summary>Python (the mcp package)</summary>
        <pre data-testid="mcp-python">{python}</pre>
      </details>
    </Card>
  );
}

/** Checkboxes per connection (reads, actions and which actions ask first), then collections, agents, workflows. */
export function McpToolsEditor({
  overview,
  apiKey,
  onSaved,
}: {
  overview: Overview;
  apiKey: ApiKey;
  onSaved: () => unknown;
}) {
  const initial = useMemo(() => chosenFrom((apiKey.mcp_tools as Grant[] | undefined) ?? []), [apiKey.mcp_tools]);
  const [chosen, setChosen] = useState<Chosen>(initial);
  const [sent, setSent] = useState<Grant[]>([]);
  const [saved, setSaved] = useState(false);
  const { submit, busy, error } = useSubmit(async () => {
    const body = buildMcpTools(overview, chosen);
    setSent(body);
    await unwrap(api.PATCH("/api/v1/api-keys/{id}/", { params: { path: { id: String(apiKey.id) } }, body: { mcp_tools: body } }));
    setSaved(true);
    await onSaved();
  });
  const pickOf = (id: number): Pick => chosen.connections[id] ?? { resources: [], actions: [], ask: [] };
  const toggle = (id: number, kind: keyof Pick, name: string, on: boolean) => {
    setSaved(false);
    setChosen((current) => {
      const pick = current.connections[id] ?? { resources: [], actions: [], ask: [] };
      const list = on ? [...pick[kind], name] : pick[kind].filter((n) => n !== name);
      const next = { ...pick, [kind]: list };
      if (kind === "actions" && !on) next.ask = next.ask.filter((n) => n !== name);
      return { ...current, connections: { ...current.connections, [id]: next } };
    });
  };
  const toggleTarget = (kind: keyof Targets, id: number, on: boolean) => {
    setSaved(false);
    setChosen((current) => {
      const list = on ? [...current.targets[kind], id] : current.targets[kind].filter((n) => n !== id);
      return { ...current, targets: { ...current.targets, [kind]: list } };
    });
  };
  const errorsAt = (index: number) => (index >= 0 && error instanceof ApiError ? error.forField(`mcp_tools.${index}`, true) : []);
  const connectionErrors = (id: number) => errorsAt(sent.findIndex((g) => g.connection === id));
  const targetErrors = errorsAt(sent.findIndex((g) => g.connection == null));
  return (
    <form
      aria-label={`MCP tools of ${apiKey.name}`}
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      <FormError error={error} shown={sent.map((_, index) => `mcp_tools.${index}`)} />
      {overview.connections.length ? null : (
        <p className="muted">
          No connections yet: connect a service on the <Link href="/dashboard/connectors">Connectors</Link> page.
        </p>
      )}
      <div className="stack">
        {overview.connections.map((connection) => {
          const pick = pickOf(connection.id);
          const errors = connectionErrors(connection.id);
          return (
            <fieldset key={connection.id} className={`agent-tools ${errors.length ? "field-invalid" : ""}`} data-testid={`mcp-tools-${connection.id}`}>
              <legend>
                {connection.name} <span className="muted">({connection.provider_name})</span>{" "}
                {connection.status !== "active" ? <Badge>{connection.status}</Badge> : null}
              </legend>
              <div className="agent-tools-groups">
                <div role="group" aria-label={`${connection.name}: data it may read`}>
                  <p className="agent-tools-title">May read</p>
                  {connection.resources.length ? (
                    connection.resources.map((r) => (
                      <label key={r.name} className="checkbox" title={r.description}>
                        <input type="checkbox" checked={pick.resources.includes(r.name)} onChange={(e) => toggle(connection.id, "resources", r.name, e.target.checked)} />
                        <span>{r.name}</span>
                      </label>
                    ))
                  ) : (
                    <p className="muted">Nothing to read.</p>
                  )}
                </div>
                <div role="group" aria-label={`${connection.name}: actions it may perform`}>
                  <p className="agent-tools-title">May do</p>
                  {connection.actions.length ? (
                    connection.actions.map((a) => (
                      <div key={a.name}>
                        <label className="checkbox" title={a.description}>
                          <input type="checkbox" checked={pick.actions.includes(a.name)} onChange={(e) => toggle(connection.id, "actions", a.name, e.target.checked)} />
                          <span>{a.name}</span>
                        </label>
                        {pick.actions.includes(a.name) ? (
                          <label className="checkbox muted">
                            <input type="checkbox" checked={pick.ask.includes(a.name)} onChange={(e) => toggle(connection.id, "ask", a.name, e.target.checked)} />
                            <span>Ask a person before {a.name}</span>
                          </label>
                        ) : null}
                      </div>
                    ))
                  ) : (
                    <p className="muted">No actions.</p>
                  )}
                </div>
              </div>
              {errors.length ? (
                <p className="field-error" role="alert">
                  {errors.join(" ")}
                </p>
              ) : null}
            </fieldset>
          );
        })}
        <fieldset className={`agent-tools ${targetErrors.length ? "field-invalid" : ""}`}>
          <legend>Knowledge, agents and workflows</legend>
          <div className="agent-tools-groups">
            {TARGET_KINDS.map(({ kind, title, none }) => (
              <div key={kind} role="group" aria-label={title}>
                <p className="agent-tools-title">{title}</p>
                {overview[kind].length ? (
                  overview[kind].map((item) => (
                    <label key={item.id} className="checkbox">
                      <input type="checkbox" checked={chosen.targets[kind].includes(item.id)} onChange={(e) => toggleTarget(kind, item.id, e.target.checked)} />
                      <span>{item.name}</span>
                    </label>
                  ))
                ) : (
                  <p className="muted">{none}</p>
                )}
              </div>
            ))}
          </div>
          {targetErrors.length ? (
            <p className="field-error" role="alert">
              {targetErrors.join(" ")}
            </p>
          ) : null}
        </fieldset>
      </div>
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={busy}>
          {saved ? "Tools saved" : "Save tools"}
        </Button>
      </div>
    </form>
  );
}

function Keys({ overview, refresh }: { overview: Overview; refresh: () => unknown }) {
  const { data, error, mutate } = useSWR("mcp:api-keys", () => unwrap(api.GET("/api/v1/api-keys/", { params: { query: { limit: 100 } } })));
  const [editing, setEditing] = useState<number | null>(null);
  const toolsOf = (id: number) => overview.keys.find((k) => k.id === id)?.tools ?? [];
  const mcpKeys = (data?.results ?? []).filter((key) => ((key.scopes as string[] | undefined) ?? []).includes("mcp") && key.status === "active");
  return (
    <Card title="Keys and their tools">
      <AsyncList
        query={{ data: data ? mcpKeys : undefined, error, mutate }}
        empty={
          <EmptyState title="No key has the mcp scope">
            Create an API key with the <code>mcp</code> scope on the <Link href="/dashboard/integrations">Integrations</Link> page, then choose
            its tools here.
          </EmptyState>
        }
      >
        {(keys) => (
          <div className="stack">
            {keys.map((key) => (
              <section key={key.id} aria-label={`MCP key ${key.name}`} data-testid="mcp-key">
                <h3>
                  {key.name} <code className="muted">{key.key_prefix}…</code>
                </h3>
                <p>
                  {toolsOf(key.id).length ? (
                    toolsOf(key.id).map((name) => (
                      <code key={name} className="integ-chip">
                        {name}
                      </code>
                    ))
                  ) : (
                    <span className="muted">No tools yet: this key lists none.</span>
                  )}
                </p>
                {editing === key.id ? (
                  <McpToolsEditor
                    overview={overview}
                    apiKey={key}
                    onSaved={async () => {
                      await Promise.all([mutate(), refresh()]);
                    }}
                  />
                ) : (
                  <Button onClick={() => setEditing(key.id)}>Edit tools of {key.name}</Button>
                )}
              </section>
            ))}
          </div>
        )}
      </AsyncList>
    </Card>
  );
}

function RecentCalls() {
  const { data, error, mutate } = useSWR("mcp:calls", () =>
    unwrap(api.GET("/api/v1/audit-log/", { params: { query: { action: "mcp.tool_call", limit: CALLS_LIMIT } } })),
  );
  return (
    <Card title="Recent calls">
      <AsyncList query={{ data, error, mutate }} empty={<EmptyState title="No calls yet">Tool calls over MCP appear here.</EmptyState>}>
        {(page) => (
          <Table caption="Recent MCP tool calls" columns={["When", "Caller", "Tool", "Outcome", "Time"]}>
            {page.results.map((event) => {
              const changes = (event.changes ?? {}) as { tool?: string; outcome?: string; duration_ms?: number };
              return (
                <tr key={event.id} data-testid="mcp-call">
                  <td>
                    <Time value={event.created_at} />
                  </td>
                  <td>{event.actor_label || event.actor_type}</td>
                  <td>
                    <code>{changes.tool}</code>
                  </td>
                  <td>
                    <Badge tone={changes.outcome === "ok" ? "ok" : changes.outcome === "pending" ? undefined : "error"}>{changes.outcome}</Badge>
                  </td>
                  <td>{changes.duration_ms != null ? `${changes.duration_ms} ms` : "—"}</td>
                </tr>
              );
            })}
          </Table>
        )}
      </AsyncList>
    </Card>
  );
}

export function Mcp() {
  const { can } = useSession();
  const allowed = can("api_keys", "read");
  const { data, error, mutate } = useSWR(allowed ? "mcp:overview" : null, () => unwrap(api.GET("/api/v1/mcp/")));
  if (!allowed) {
    return (
      <Card title="MCP">
        <p className="muted">Only admins manage MCP access.</p>
      </Card>
    );
  }
  return (
    <Async data={data} error={error} retry={() => mutate()}>
      {(overview) => (
        <div className="stack">
          <Connect url={overview.server_url} />
          <Keys overview={overview} refresh={() => mutate()} />
          {can("audit_log", "read") ? <RecentCalls /> : null}
        </div>
      )}
    </Async>
  );
}
