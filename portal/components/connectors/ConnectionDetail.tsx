"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useId, useRef, useState } from "react";
import useSWR, { useSWRConfig } from "swr";

import { SchemaForm, type SchemaPayload } from "@/components/SchemaForm";
import {
  type Connection,
  type ConnectionCheck,
  type Connector,
  ConnectorMark,
  CursorPager,
  type RecordPage,
  RecordsTable,
  StatusBadge,
  categoryLabel,
  useCursorPages,
} from "@/components/connectors/shared";
import {
  Async,
  AsyncList,
  Badge,
  Button,
  Card,
  ConfirmButton,
  EmptyState,
  ErrorState,
  Field,
  FormError,
  Loading,
  PageHeader,
  Table,
  Time,
} from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";
import { queryKeys } from "@/lib/api/queries";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

const HEALTH_PAGE = 10;

function connectionKey(id: string) {
  return ["connection", id];
}

function healthKey(id: string, offset: number) {
  return ["connection-health", id, offset];
}

function StatusCard({
  connection,
  connector,
  canUse,
  canConfigure,
  onTested,
}: {
  connection: Connection;
  connector: Connector;
  canUse: boolean;
  canConfigure: boolean;
  onTested: () => Promise<unknown>;
}) {
  const [result, setResult] = useState<ConnectionCheck | null>(null);
  const test = useSubmit(
    useCallback(async () => {
      setResult(null);
      const check = await unwrap(api.POST("/api/v1/connections/{id}/test/", { params: { path: { id: String(connection.id) } } }));
      setResult(check);
      await onTested();
      return check;
    }, [connection.id, onTested]),
  );
  const oauth = useSubmit(
    useCallback(async () => {
      const { authorization_url } = await unwrap(
        api.POST("/api/v1/connections/{id}/oauth/start/", { params: { path: { id: String(connection.id) } } }),
      );
      window.location.assign(authorization_url);
    }, [connection.id]),
  );
  const isOAuth = connector.auth_type === "oauth2";
  return (
    <Card title="Health">
      <dl className="facts">
        <dt>Status</dt>
        <dd data-testid="connection-status">
          <StatusBadge status={connection.status} />
        </dd>
        {isOAuth ? (
          <>
            <dt>Authorisation</dt>
            <dd>{connection.authorised ? <Badge tone="ok">Authorised</Badge> : <Badge tone="wait">Not authorised yet</Badge>}</dd>
          </>
        ) : null}
        <dt>Last checked</dt>
        <dd>
          <Time value={connection.last_checked_at} />
        </dd>
        <dt>Latency</dt>
        <dd>{connection.last_latency_ms === null ? "—" : `${connection.last_latency_ms} ms`}</dd>
        {connection.last_error ? (
          <>
            <dt>Last error</dt>
            <dd className="field-error">{connection.last_error}</dd>
          </>
        ) : null}
      </dl>
      {result ? (
        <div className={`alert ${result.ok ? "alert-ok" : "alert-error"}`} role="status" data-testid="test-result">
          {result.ok ? `Connection works (${result.latency_ms} ms).` : `Test failed: ${result.error}`}
        </div>
      ) : null}
      <FormError error={test.error} />
      <FormError error={oauth.error} />
      <div className="form-actions">
        {canUse ? (
          <Button variant={isOAuth && !connection.authorised ? "default" : "primary"} busy={test.busy} onClick={() => test.submit()}>
            Test connection
          </Button>
        ) : null}
        {isOAuth && canConfigure ? (
          <Button variant={connection.authorised ? "default" : "primary"} busy={oauth.busy} onClick={() => oauth.submit()}>
            {connection.authorised ? `Reconnect ${connector.name}` : `Connect with ${connector.name}`}
          </Button>
        ) : null}
      </div>
      {!canUse ? <p className="muted small">Your role can view this connection; members can test it.</p> : null}
    </Card>
  );
}

function SettingsCard({ connection, connector, canConfigure, onSaved }: { connection: Connection; connector: Connector; canConfigure: boolean; onSaved: () => Promise<unknown> }) {
  const [saved, setSaved] = useState(false);
  const { submit, busy, error } = useSubmit(
    useCallback(
      async (payload: SchemaPayload) => {
        setSaved(false);
        await unwrap(
          api.PATCH("/api/v1/connections/{id}/", {
            params: { path: { id: String(connection.id) } },
            body: { name: payload.name, config: payload.config },
          }),
        );
        await onSaved();
        setSaved(true);
      },
      [connection.id, onSaved],
    ),
  );
  return (
    <Card title="Settings">
      {saved ? (
        <div className="alert alert-ok" role="status">
          Saved. Test the connection to check the new settings.
        </div>
      ) : null}
      {!canConfigure ? <p className="muted small">Read only: admins change connection settings.</p> : null}
      <SchemaForm
        key={connection.updated_at}
        schema={connector.config_schema}
        config={connection.config as Record<string, unknown>}
        secretsSet={connection.secrets}
        name={connection.name}
        editing
        readOnly={!canConfigure}
        error={error}
        busy={busy}
        submitLabel="Save changes"
        onSubmit={submit}
      />
    </Card>
  );
}

function PreviewCard({ connection, connector }: { connection: Connection; connector: Connector }) {
  const ids = useId();
  const [resource, setResource] = useState(connector.resources[0]?.name ?? "");
  const [limit, setLimit] = useState(10);
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const [fresh, setFresh] = useState(false);
  const pages = useCursorPages();
  const spec = connector.resources.find((r) => r.name === resource);
  const windowed = Boolean(spec?.window);
  const key = resource
    ? ["preview", connection.id, resource, pages.cursor, limit, windowed ? since : "", windowed ? until : "", fresh]
    : null;
  const { data, error, isValidating, mutate } = useSWR<RecordPage, ApiError>(key, () => read(), {
    revalidateOnFocus: false,
    shouldRetryOnError: false,
  });
  function read() {
    const query: { limit: number; cursor?: string; fresh?: boolean; since?: string; until?: string } = { limit };
    if (pages.cursor) query.cursor = pages.cursor;
    if (fresh) query.fresh = true;
    if (windowed && since) query.since = since;
    if (windowed && until) query.until = until;
    return unwrap(
      api.GET("/api/v1/connections/{id}/resources/{resource_name}/", {
        params: { path: { id: String(connection.id), resource_name: resource }, query },
      }),
    );
  }
  const change = <T,>(set: (value: T) => void) => (value: T) => {
    set(value);
    pages.reset();
  };
  const fieldErrors = (name: string) => (error instanceof ApiError ? error.forField(name) : []);
  if (!connector.resources.length) {
    return (
      <Card title="Live data preview">
        <EmptyState title="Nothing to preview">{connector.name} has no readable resources.</EmptyState>
      </Card>
    );
  }
  const current = data;
  return (
    <Card
      title="Live data preview"
      actions={
        <Button onClick={() => mutate()} busy={isValidating && Boolean(current)}>
          Refresh
        </Button>
      }
    >
      <div className="preview-controls">
        <Field label="Resource" help={spec?.description} id={`${ids}-resource`}>
          {(props) => (
            <select {...props} value={resource} onChange={(e) => change(setResource)(e.target.value)}>
              {connector.resources.map((r) => (
                <option key={r.name} value={r.name}>
                  {r.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Rows per page" id={`${ids}-limit`}>
          {(props) => (
            <select {...props} value={limit} onChange={(e) => change(setLimit)(Number(e.target.value))}>
              {[5, 10, 25, 50, 100].map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          )}
        </Field>
        {windowed ? (
          <>
            <Field label="Since" help={`Records are filtered by ${windowWords(String(spec?.window ?? ""))}, from this day on.`} errors={fieldErrors("since")} id={`${ids}-since`}>
              {(props) => <input {...props} type="date" value={since} onChange={(e) => change(setSince)(e.target.value)} />}
            </Field>
            <Field label="Until" help="Up to and including this day." errors={fieldErrors("until")} id={`${ids}-until`}>
              {(props) => <input {...props} type="date" value={until} onChange={(e) => change(setUntil)(e.target.value)} />}
            </Field>
          </>
        ) : null}
        <label className="checkbox preview-fresh">
          <input type="checkbox" checked={fresh} onChange={(e) => change(setFresh)(e.target.checked)} />
          Fresh (bypass the cache)
        </label>
      </div>
      {error && !(error instanceof ApiError && (error.forField("since").length || error.forField("until").length)) ? (
        <ErrorState error={error} retry={() => mutate()} />
      ) : !current ? (
        error ? null : <Loading label={`Reading ${resource}…`} />
      ) : (
        <>
          <p className="muted small" aria-live="polite" data-testid="preview-summary">
            {current.records.length} {current.records.length === 1 ? "record" : "records"} on page {pages.page} of {resource}
            {current.cached ? " · served from the cache" : " · read live"}
          </p>
          {current.records.length ? (
            <RecordsTable records={current.records} caption={`${resource} of ${connection.name}`} />
          ) : (
            <EmptyState title="No records">Nothing on this page{windowed && (since || until) ? " in this date range" : ""}.</EmptyState>
          )}
          <CursorPager
            label={`${resource} pages`}
            page={pages.page}
            hasPrevious={pages.hasPrevious}
            nextCursor={current.next_cursor}
            onPrevious={pages.previous}
            onNext={pages.next}
          />
        </>
      )}
    </Card>
  );
}

function HealthHistory({ id }: { id: string }) {
  const [offset, setOffset] = useState(0);
  const { data, error, mutate } = useSWR(healthKey(id, offset), () =>
    unwrap(api.GET("/api/v1/connections/{id}/health/", { params: { path: { id }, query: { limit: HEALTH_PAGE, offset } } })),
  );
  return (
    <Card title="Health history">
      <AsyncList
        query={{ data, error, mutate }}
        isEmpty={(page) => page.count === 0}
        empty={<EmptyState title="No checks yet">Test the connection to record its first check; it is also checked on a schedule.</EmptyState>}
        pager={{ offset, limit: HEALTH_PAGE, onChange: setOffset }}
      >
        {(page) => (
          <Table caption="Health checks" columns={["Checked", "Result", "Latency", "Trigger", "Error"]}>
            {page.results.map((check) => (
              <tr key={check.id}>
                <td>
                  <Time value={check.checked_at} />
                </td>
                <td>{check.ok ? <Badge tone="ok">OK</Badge> : <Badge tone="bad">Failed</Badge>}</td>
                <td>{check.latency_ms} ms</td>
                <td>{check.trigger}</td>
                <td>{check.error || <span className="muted">—</span>}</td>
              </tr>
            ))}
          </Table>
        )}
      </AsyncList>
    </Card>
  );
}

function Detail({ connection, connector, notice }: { connection: Connection; connector: Connector; notice: string | null }) {
  const router = useRouter();
  const { can } = useSession();
  const { mutate } = useSWRConfig();
  const id = String(connection.id);
  const canUse = can("connections", "use");
  const canConfigure = can("connections", "configure");
  const refresh = useCallback(
    () =>
      Promise.all([
        mutate(connectionKey(id)),
        mutate((key) => Array.isArray(key) && key[0] === "connection-health" && key[1] === id),
        mutate(queryKeys.connections.all),
      ]),
    [id, mutate],
  );
  return (
    <>
      <p>
        <Link href="/dashboard/connectors">← All connectors</Link>
      </p>
      <PageHeader
        title={connection.name}
        description={
          <span className="row">
            <ConnectorMark connector={connector} /> {connector.name} · {categoryLabel(connector.category)}{" "}
            <StatusBadge status={connection.status} />
          </span>
        }
      />
      {notice === "connected" ? (
        <div className="alert alert-ok" role="status" data-testid="connected-notice">
          {connector.name} is connected: authorisation completed.
        </div>
      ) : null}
      {notice === "created" ? (
        <div className="alert alert-ok" role="status" data-testid="created-notice">
          Connection saved.{" "}
          {connector.auth_type === "oauth2" && !connection.authorised
            ? `Next: connect with ${connector.name} to authorise access.`
            : "Next: test it and preview its data."}
        </div>
      ) : null}
      <div className="grid-2 connection-layout">
        <SettingsCard connection={connection} connector={connector} canConfigure={canConfigure} onSaved={refresh} />
        <div>
          <StatusCard connection={connection} connector={connector} canUse={canUse} canConfigure={canConfigure} onTested={refresh} />
          <HealthHistory id={id} />
        </div>
      </div>
      <PreviewCard connection={connection} connector={connector} />
      {canConfigure ? (
        <Card title="Delete this connection">
          <div className="spread">
            <p className="muted">Agents, rules and workflows that use it will stop working with it.</p>
            <ConfirmButton
              label="Delete connection"
              title={`Delete ${connection.name}?`}
              confirmLabel="Delete"
              message={`${connection.name} (${connector.name}) and its stored credentials will be deleted. This cannot be undone.`}
              onConfirm={async () => {
                await unwrap(api.DELETE("/api/v1/connections/{id}/", { params: { path: { id } } }));
                await Promise.all([mutate(queryKeys.connections.all), mutate(queryKeys.connectorCatalogue)]);
                router.push("/dashboard/connectors");
              }}
            />
          </div>
        </Card>
      ) : null}
    </>
  );
}

/** A resource's date field in words: `updated_at` -> "the date they were last updated", `date` -> "their date". */
function windowWords(field: string): string {
  const words = field.replace(/_at$/, "").replace(/_/g, " ").trim();
  if (!words || words.includes("date") || words.includes("day")) return `their ${words || "date"}`;
  if (words === "updated" || words === "modified") return "the date they were last changed";
  if (words === "created") return "the date they were created";
  return `their ${words} date`;
}

export function ConnectionDetail({ id, notice }: { id: string; notice: string | null }) {
  const connection = useSWR<Connection, ApiError>(connectionKey(id), () =>
    unwrap(api.GET("/api/v1/connections/{id}/", { params: { path: { id } } })),
  );
  const provider = connection.data?.provider;
  const connector = useSWR<Connector, ApiError>(provider ? ["connector", provider] : null, () =>
    unwrap(api.GET("/api/v1/connectors/{key}/", { params: { path: { key: provider as string } } })),
  );
  if (connection.error && !connection.data) {
    return (
      <>
        <p>
          <Link href="/dashboard/connectors">← All connectors</Link>
        </p>
        <ErrorState error={connection.error} retry={() => connection.mutate()} />
      </>
    );
  }
  return (
    <Async data={connector.data} error={connector.error} retry={() => connector.mutate()}>
      {(spec) => (connection.data ? <Detail connection={connection.data} connector={spec} notice={notice} /> : <Loading />)}
    </Async>
  );
}

/** The provider sent the browser back with a code the gateway kept: the code is exchanged only for the person who
 * started the flow, signed in, so this page confirms it and then shows the connection. */
export function CompleteAuthorisation({ id, state }: { id: string; state: string }) {
  const router = useRouter();
  const started = useRef(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    unwrap(api.POST("/api/v1/connections/{id}/oauth/complete/", { params: { path: { id } }, body: { state } }))
      .then(() => router.replace(`/dashboard/connectors/${id}?connected=1`))
      .catch(setError);
  }, [id, state, router]);
  return (
    <>
      <p>
        <Link href={`/dashboard/connectors/${id}`}>← Back to the connection</Link>
      </p>
      {error ? (
        <div data-testid="authorise-failed">
          <p>The authorisation could not be completed. Start it again from the connection with Connect.</p>
          <FormError error={error} />
        </div>
      ) : (
        <Loading label="Completing the authorisation…" />
      )}
    </>
  );
}
