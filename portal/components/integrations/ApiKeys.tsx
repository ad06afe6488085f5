"use client";

// API keys for external apps: scopes from the permission matrix, the key shown once, revoke at once.
import { useState } from "react";
import useSWR from "swr";

import { AsyncList, Badge, Card, ConfirmButton, EmptyState, Field, FormDialog, SecretOnce, Table, Time } from "@/components/ui";
import { type Schemas, api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

import { LIST_LIMIT, localInputToIso } from "./common";

type Scope = Schemas["ScopesEnum"];

// Every scope ApiKeyCreateSerializer accepts (the permission matrix's scopes); `satisfies` keeps this list in
// step with the generated schema: a scope the API drops fails the type check.
const ALL_SCOPES = {
  "tenant:read": "Read the workspace",
  "members:read": "Read members",
  "audit:read": "Read the audit log",
  "connections:read": "Read connections",
  "connections:use": "Use connections (read data, perform actions)",
  "connections:write": "Configure connections",
  "events:read": "Read events",
  "events:write": "Post events",
  "webhooks:read": "Read webhooks",
  "webhooks:write": "Configure webhooks",
  "rules:read": "Read rules",
  "rules:run": "Test rules",
  "rules:write": "Configure rules",
  "agents:read": "Read agents",
  "agents:run": "Run agents",
  "agents:write": "Configure agents",
  "knowledge:read": "Read knowledge",
  "knowledge:write": "Upload knowledge",
  "workflows:read": "Read workflows",
  "workflows:run": "Run workflows",
  "workflows:write": "Configure workflows",
  mcp: "Call tools over MCP (choose which in Settings → MCP)",
} satisfies Record<Scope, string>;

export const SCOPES = Object.keys(ALL_SCOPES) as Scope[];

function groupOf(scope: string) {
  return scope.split(":")[0];
}

function CreateKey({ onCreated }: { onCreated: (name: string, key: string) => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [expires, setExpires] = useState("");
  const { submit, busy, error, errorsFor, setError } = useSubmit(async () => {
    const created = await unwrap(
      api.POST("/api/v1/api-keys/", {
        body: { name, scopes, expires_at: expires ? localInputToIso(expires) : null },
      }),
    );
    onCreated(created.name, created.key);
    setOpen(false);
    setName("");
    setScopes([]);
    setExpires("");
  });
  const groups = [...new Set(SCOPES.map(groupOf))];
  return (
    <FormDialog
      label="New API key"
      open={open}
      setOpen={setOpen}
      onClose={() => setError(null)}
      onSubmit={submit}
      busy={busy}
      error={error}
      shown={["name", "scopes", "expires_at"]}
      submitLabel="Create key"
    >
      <Field label="Name" help="Which app uses it." errors={errorsFor("name")}>
        {(props) => <input {...props} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <fieldset className={`integ-scopes ${errorsFor("scopes", true).length ? "field-invalid" : ""}`} aria-describedby="scopes-error">
        <legend>Scopes</legend>
        {groups.map((group) => (
          <div key={group} className="integ-scope-group">
            {SCOPES.filter((s) => groupOf(s) === group).map((scope) => (
              <label key={scope} className="checkbox">
                <input
                  type="checkbox"
                  checked={scopes.includes(scope)}
                  onChange={(e) => setScopes((s) => (e.target.checked ? [...s, scope] : s.filter((x) => x !== scope)))}
                />
                <span>
                  <code>{scope}</code> <span className="muted">{ALL_SCOPES[scope]}</span>
                </span>
              </label>
            ))}
          </div>
        ))}
        {errorsFor("scopes", true).length ? (
          <p className="field-error" id="scopes-error" role="alert">
            {errorsFor("scopes", true).join(" ")}
          </p>
        ) : null}
      </fieldset>
      <Field label="Expires (optional)" errors={errorsFor("expires_at")}>
        {(props) => <input {...props} type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />}
      </Field>
    </FormDialog>
  );
}

export function ApiKeys() {
  const { can } = useSession();
  const canConfigure = can("api_keys", "configure");
  const { data, error, mutate } = useSWR(can("api_keys", "read") ? "integrations:api-keys" : null, () =>
    unwrap(api.GET("/api/v1/api-keys/", { params: { query: { limit: LIST_LIMIT } } })),
  );
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);
  if (!can("api_keys", "read")) {
    return (
      <Card title="API keys">
        <p className="muted">Only admins manage API keys.</p>
      </Card>
    );
  }
  return (
    <Card
      title="API keys"
      actions={
        canConfigure ? (
          <CreateKey
            onCreated={(name, key) => {
              setSecret({ name, key });
              mutate();
            }}
          />
        ) : null
      }
    >
      {secret ? <SecretOnce label={`API key ${secret.name}`} value={secret.key} onDone={() => setSecret(null)} /> : null}
      <AsyncList
        query={{ data, error, mutate }}
        empty={<EmptyState title="No API keys">A key lets an external app call this API with the scopes you choose.</EmptyState>}
      >
        {(d) => (
          <Table
            caption="API keys"
            testId="api-keys-table"
            columns={["Name", "Key", "Scopes", "Status", "Created", "Expires", "Last used", canConfigure ? "Actions" : null]}
          >
            {d.results.map((key) => (
              <tr key={key.id}>
                <td>{key.name}</td>
                <td>
                  <code>{key.key_prefix}…</code>
                </td>
                <td>
                  {((key.scopes as string[] | undefined) ?? []).map((s) => (
                    <code key={s} className="integ-chip">
                      {s}
                    </code>
                  ))}
                </td>
                <td>
                  <Badge>{key.status}</Badge>
                </td>
                <td>
                  <Time value={key.created_at} />
                </td>
                <td>
                  <Time value={key.expires_at} />
                </td>
                <td>
                  <Time value={key.last_used_at} />
                </td>
                {canConfigure ? (
                  <td>
                    {key.status === "revoked" ? null : (
                      <ConfirmButton
                        label="Revoke"
                        title={`Revoke ${key.name}?`}
                        message="Apps using this key are refused at once. This cannot be undone."
                        confirmLabel="Revoke"
                        onConfirm={async () => {
                          await unwrap(api.DELETE("/api/v1/api-keys/{id}/", { params: { path: { id: String(key.id) } } }));
                          await mutate();
                        }}
                      />
                    )}
                  </td>
                ) : null}
              </tr>
            ))}
          </Table>
        )}
      </AsyncList>
    </Card>
  );
}
