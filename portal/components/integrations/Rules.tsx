"use client";

// Automation rules: the list (enabled state, last run), the rule builder to create and edit, "test against a
// sample event", and the runs of a rule with their condition results and action runs.
import { useState } from "react";
import useSWR from "swr";

import { RuleBuilder, type RuleBody, type RuleTestResult, type SampleEvent } from "@/components/RuleBuilder";
import {
  AsyncList,
  Badge,
  Button,
  Card,
  ConfirmButton,
  EmptyState,
  ErrorState,
  FormError,
  Loading,
  Table,
  Time,
} from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";

import { EventType, useActionTypeLabel } from "@/components/names";

import { Json, LIST_LIMIT, type Rule, type RuleRun, type RuleRunDetail, ConnectionName, useConnections, useRuleCatalog } from "./common";
import type { OverviewData } from "./Overview";

const RUN_LIMIT = 20;

// The body is the builder's (typed against RuleWriteRequest); the API checks it field by field.
async function createRule(body: RuleBody): Promise<Rule> {
  return unwrap(api.POST("/api/v1/rules/", { body }));
}

async function updateRule(id: number, body: Partial<RuleBody>): Promise<Rule> {
  return unwrap(api.PATCH("/api/v1/rules/{id}/", { params: { path: { id: String(id) } }, body }));
}

async function testRule(id: number, event: SampleEvent): Promise<RuleTestResult> {
  const answer = await unwrap(api.POST("/api/v1/rules/{id}/test/", { params: { path: { id: String(id) } }, body: { event } }));
  return answer as unknown as RuleTestResult;
}

function RunDetail({ id }: { id: number }) {
  const { data, error, mutate } = useSWR(`integrations:rule-run:${id}`, () =>
    unwrap(api.GET("/api/v1/rules/runs/{id}/", { params: { path: { id: String(id) } } })),
    { refreshInterval: (d) => (d?.status === "running" ? 2000 : 0) },
  );
  if (error) return <ErrorState error={error} retry={() => mutate()} />;
  if (!data) return <Loading />;
  const conditions = (Array.isArray(data.condition_results) ? data.condition_results : []) as {
    field: string;
    op: string;
    value?: unknown;
    result: boolean;
    actual?: unknown;
  }[];
  return (
    <RunDetailBody data={data} conditions={conditions} />
  );
}

function RunDetailBody({ data, conditions }: { data: RuleRunDetail; conditions: { field: string; op: string; value?: unknown; result: boolean; actual?: unknown }[] }) {
  const actionTypeLabel = useActionTypeLabel();
  return (
    <div className="stack" data-testid="rule-run-detail">
      {data.error ? <p className="field-error">{data.error}</p> : null}
      <h4>Conditions</h4>
      {conditions.length ? (
        <ul className="integ-plain">
          {conditions.map((c, i) => (
            <li key={i}>
              {c.result ? <Badge tone="ok">true</Badge> : <Badge tone="bad">false</Badge>} <code>{c.field}</code> {c.op}{" "}
              {c.value !== undefined ? <code>{JSON.stringify(c.value)}</code> : null}{" "}
              <span className="muted">found {c.actual === undefined || c.actual === null ? "nothing" : JSON.stringify(c.actual)}</span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No conditions.</p>
      )}
      <h4>Actions</h4>
      {data.action_runs.length ? (
        <ol className="integ-plain">
          {data.action_runs.map((a) => (
            <li key={a.position}>
              <Badge>{a.status}</Badge> <strong>{actionTypeLabel(a.type)}</strong>{" "}
              <span className="muted">
                {a.attempts} attempt{a.attempts === 1 ? "" : "s"} · finished <Time value={a.finished_at} />
              </span>
              {a.error ? <p className="field-error">{a.error}</p> : null}
              <details>
                <summary>Input and result</summary>
                <Json value={{ input: a.input, result: a.result }} />
              </details>
            </li>
          ))}
        </ol>
      ) : (
        <p className="muted">No action ran.</p>
      )}
    </div>
  );
}

/** "Always" for a rule without conditions; else how many must hold. */
function ConditionsSummary({ count, match }: { count: number; match: string }) {
  if (!count) return <span className="muted">Always (no conditions)</span>;
  if (count === 1) return <>1 condition</>;
  return (
    <>
      {match === "any" ? "Any" : "All"} of {count} conditions
    </>
  );
}

export function RuleRuns({ ruleId }: { ruleId: number }) {
  const [offset, setOffset] = useState(0);
  const [open, setOpen] = useState<number | null>(null);
  const query = { rule: ruleId, limit: RUN_LIMIT, offset };
  const { data, error, mutate } = useSWR(["integrations:rule-runs", JSON.stringify(query)], () =>
    unwrap(api.GET("/api/v1/rules/runs/", { params: { query } })),
    { refreshInterval: 3000 },
  );
  return (
    <section aria-labelledby="rule-runs-title" className="card">
      <h3 id="rule-runs-title">Runs</h3>
      <AsyncList
        query={{ data, error, mutate }}
        empty={<EmptyState title="No runs yet">Each event of the trigger type is evaluated and recorded here.</EmptyState>}
        pager={{ offset, limit: RUN_LIMIT, onChange: setOffset }}
      >
        {(d) => (
          <Table
            caption="Rule runs"
            testId="rule-runs-table"
            columns={[
              "Event",
              "Matched",
              "Status",
              "Started",
              "Finished",
              <span className="visually-hidden">Details</span>,
            ]}
          >
            {d.results.map((run: RuleRun) => (
              <RunRows key={run.id} run={run} open={open === run.id} onToggle={() => setOpen(open === run.id ? null : run.id)} />
            ))}
          </Table>
        )}
      </AsyncList>
    </section>
  );
}

function RunRows({ run, open, onToggle }: { run: RuleRun; open: boolean; onToggle: () => void }) {
  return (
    <>
      <tr>
        <td>
          <code>{run.event_type}</code>
        </td>
        <td>{run.matched ? "yes" : "no"}</td>
        <td>
          <Badge>{run.status}</Badge>
        </td>
        <td>
          <Time value={run.created_at} />
        </td>
        <td>
          <Time value={run.finished_at} />
        </td>
        <td>
          <Button onClick={onToggle} aria-expanded={open}>
            {open ? "Hide" : "Details"}
          </Button>
        </td>
      </tr>
      {open ? (
        <tr>
          <td colSpan={6}>
            <RunDetail id={run.id} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

function RuleEditor({
  rule,
  session,
  onSaved,
  onClose,
}: {
  rule: Rule | null;
  session: number;
  onSaved: (rule: Rule) => void;
  onClose: () => void;
}) {
  const { can } = useSession();
  const { catalog, actionTypes, error, retry } = useRuleCatalog();
  const canConfigure = can("rules", "configure");
  if (error && !catalog) return <ErrorState error={error} retry={retry} />;
  if (!catalog || !actionTypes) return <Loading />;
  return (
    <div className="stack">
      <RuleBuilder
        // one builder per opening: a new rule that is saved stays in the same builder, now with its id
        key={session}
        rule={rule}
        actionTypes={actionTypes}
        catalog={catalog}
        readOnly={!canConfigure}
        canTest={can("rules", "use")}
        onSubmit={
          canConfigure
            ? async (body) => {
                const saved = rule ? await updateRule(rule.id, body) : await createRule(body);
                onSaved(saved);
              }
            : undefined
        }
        onTest={rule ? (event) => testRule(rule.id, event) : undefined}
        onCancel={onClose}
      />
      {rule ? <RuleRuns ruleId={rule.id} /> : <p className="muted">Save the rule to test it against a sample event.</p>}
    </div>
  );
}

export function Rules() {
  const { can } = useSession();
  const canConfigure = can("rules", "configure");
  const connections = useConnections();
  const { data, error, mutate } = useSWR("integrations:rules", () =>
    unwrap(api.GET("/api/v1/rules/", { params: { query: { limit: LIST_LIMIT } } })),
  );
  const overview = useSWR("integrations:overview", async () => (await unwrap(api.GET("/api/v1/integrations/"))) as unknown as OverviewData);
  const lastRuns = new Map<number, string | null>();
  for (const group of [...(overview.data?.connections ?? []), ...(overview.data ? [overview.data.unlinked] : [])]) {
    for (const r of group.rules) lastRuns.set(r.id, r.last_run_at);
  }
  // null: closed; "new": a new rule; a number: that rule
  const [editing, setEditing] = useState<number | "new" | null>(null);
  const [session, setSession] = useState(0);
  const [lastSaved, setLastSaved] = useState<Rule | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const editingRule =
    typeof editing === "number"
      ? (data?.results.find((r) => r.id === editing) ?? (lastSaved?.id === editing ? lastSaved : null))
      : null;
  const open = (target: number | "new" | null) => {
    setEditing(target);
    setSession((n) => n + 1);
  };

  const setEnabled = async (rule: Rule, enabled: boolean) => {
    setActionError(null);
    try {
      await updateRule(rule.id, { enabled });
      await mutate();
    } catch (err) {
      setActionError(err);
    }
  };
  const actionTypeLabel = useActionTypeLabel();

  return (
    <>
      <Card
        title="Automation rules"
        actions={
          canConfigure ? (
            <Button variant="primary" onClick={() => open("new")}>
              New rule
            </Button>
          ) : null
        }
      >
        <FormError error={actionError} />
        <AsyncList
          query={{ data, error, mutate }}
          empty={
            <EmptyState title="No rules">
              A rule watches events (&ldquo;when a HubSpot contact is created and the score is over 50&rdquo;) and acts: a
              connector action, a webhook, an agent or a workflow.
            </EmptyState>
          }
        >
          {(d) => (
            <Table
              caption="Automation rules"
              testId="rules-table"
              columns={[
                "Name",
                "Trigger",
                "Conditions",
                "Actions",
                "Status",
                "Last run",
                <span className="visually-hidden">Manage</span>,
              ]}
            >
              {d.results.map((rule) => (
                <tr key={rule.id} aria-selected={editing === rule.id}>
                  <td>
                    {rule.name}
                    {rule.description ? <div className="field-help">{rule.description}</div> : null}
                  </td>
                  <td>
                    <EventType value={rule.trigger_event} />
                    {rule.trigger_connection ? (
                      <div className="field-help">from <ConnectionName connections={connections.data?.results} id={rule.trigger_connection} /></div>
                    ) : null}
                  </td>
                  <td>
                    <ConditionsSummary count={Array.isArray(rule.conditions) ? rule.conditions.length : 0} match={rule.match} />
                  </td>
                  <td>
                    {(Array.isArray(rule.actions) ? (rule.actions as { type?: string }[]) : []).map((a, i) => (
                      <span key={i} className="integ-chip">
                        {actionTypeLabel(a.type ?? "")}
                      </span>
                    ))}
                  </td>
                  <td>
                    <Badge>{rule.enabled ? "active" : "disabled"}</Badge>
                    {rule.disabled_reason ? <div className="field-help">{rule.disabled_reason}</div> : null}
                  </td>
                  <td>
                    <Time value={lastRuns.get(rule.id) ?? null} />
                  </td>
                  <td>
                    <div className="row">
                      <Button onClick={() => open(editing === rule.id ? null : rule.id)} aria-expanded={editing === rule.id}>
                        {canConfigure ? "Edit" : "View"}
                        <span className="visually-hidden"> {rule.name}</span>
                      </Button>
                      {canConfigure ? (
                        <>
                          <Button onClick={() => setEnabled(rule, !rule.enabled)}>{rule.enabled ? "Disable" : "Enable"}</Button>
                          <ConfirmButton
                            label="Delete"
                            title={`Delete the rule ${rule.name}?`}
                            message="It stops acting on events at once. Its past runs are deleted with it."
                            confirmLabel="Delete"
                            onConfirm={async () => {
                              await unwrap(api.DELETE("/api/v1/rules/{id}/", { params: { path: { id: String(rule.id) } } }));
                              if (editing === rule.id) setEditing(null);
                              await mutate();
                            }}
                          />
                        </>
                      ) : null}
                    </div>
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </AsyncList>
      </Card>
      {editing !== null && (editing === "new" || editingRule) ? (
        <Card title={editing === "new" ? "New rule" : `Rule: ${editingRule?.name}`}>
          <RuleEditor
            rule={editingRule}
            session={session}
            onSaved={(saved) => {
              setLastSaved(saved);
              setEditing(saved.id);
              mutate();
              overview.mutate();
            }}
            onClose={() => open(null)}
          />
        </Card>
      ) : null}
    </>
  );
}
