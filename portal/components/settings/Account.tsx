"use client";

import { useState } from "react";
import useSWR from "swr";

import { Async, Badge, Button, Card, Field, FormError, Time } from "@/components/ui";
import { type Schemas, api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

type Tenant = Schemas["Tenant"];

function WorkspaceForm({ tenant, onSaved }: { tenant: Tenant; onSaved: () => void }) {
  const [name, setName] = useState(tenant.name);
  const [mustDiffer, setMustDiffer] = useState(Boolean(tenant.approver_must_differ));
  const [saved, setSaved] = useState(false);
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    setSaved(false);
    await unwrap(api.PATCH("/api/v1/tenant/", { body: { name, approver_must_differ: mustDiffer } }));
    setSaved(true);
    onSaved();
  });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
      noValidate
    >
      <FormError error={error} shown={["name", "approver_must_differ"]} />
      {saved ? (
        <p className="alert alert-ok" role="status">
          Saved.
        </p>
      ) : null}
      <Field label="Workspace name" errors={errorsFor("name")}>
        {(props) => <input {...props} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <label className="checkbox">
        <input type="checkbox" checked={mustDiffer} onChange={(e) => setMustDiffer(e.target.checked)} />
        <span>
          Approvals need a second person
          <span className="muted"> — whoever started a run (of an agent or a workflow) may not approve its actions</span>
        </span>
      </label>
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={busy}>
          Save
        </Button>
      </div>
    </form>
  );
}

export function Workspace() {
  const { me, can, reloadMe } = useSession();
  const manage = can("tenant", "manage");
  const { data, error, mutate } = useSWR<Tenant>(["tenant", me.tenant?.slug], () => unwrap(api.GET("/api/v1/tenant/")));
  return (
    <Card title="Workspace">
      <Async data={data} error={error} retry={() => mutate()}>
        {(tenant) => (
          <>
            <dl className="facts">
              <dt>Address</dt>
              <dd>
                <code>{tenant.slug}</code>
              </dd>
              <dt>Status</dt>
              <dd>
                <Badge>{tenant.status}</Badge>
              </dd>
              <dt>Created</dt>
              <dd>
                <Time value={tenant.created_at} />
              </dd>
              {manage ? null : (
                <>
                  <dt>Name</dt>
                  <dd data-testid="workspace-name">{tenant.name}</dd>
                </>
              )}
            </dl>
            {manage ? (
              <WorkspaceForm
                tenant={tenant}
                onSaved={() => {
                  mutate();
                  reloadMe();
                }}
              />
            ) : (
              <p className="muted">Only owners rename the workspace.</p>
            )}
          </>
        )}
      </Async>
    </Card>
  );
}

export function ChangePassword() {
  const { me } = useSession();
  const [form, setForm] = useState({ old_password: "", new_password: "", confirm: "" });
  const [done, setDone] = useState(false);
  const [mismatch, setMismatch] = useState(false);
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    setDone(false);
    await unwrap(
      api.POST("/api/v1/auth/password/change/", {
        body: { old_password: form.old_password, new_password: form.new_password },
      }),
    );
    setForm({ old_password: "", new_password: "", confirm: "" });
    setDone(true);
  });
  const set = (key: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));
  return (
    <Card title="Change your password">
      <p className="muted">
        For {me.email}. Your other sessions end; this one continues.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const differ = form.new_password !== form.confirm;
          setMismatch(differ);
          if (!differ) submit();
        }}
        noValidate
      >
        <FormError error={error} shown={["old_password", "new_password"]} />
        {done ? (
          <p className="alert alert-ok" role="status">
            Your password was changed.
          </p>
        ) : null}
        {/* a hidden username helps password managers file the new password under the right account */}
        <input type="email" autoComplete="username" value={me.email} readOnly hidden />
        <Field label="Current password" errors={errorsFor("old_password")}>
          {(props) => (
            <input {...props} type="password" autoComplete="current-password" value={form.old_password} onChange={set("old_password")} />
          )}
        </Field>
        <Field label="New password" errors={errorsFor("new_password")}>
          {(props) => (
            <input {...props} type="password" autoComplete="new-password" value={form.new_password} onChange={set("new_password")} />
          )}
        </Field>
        <Field label="Repeat the new password" errors={mismatch ? ["The two new passwords differ."] : undefined}>
          {(props) => (
            <input {...props} type="password" autoComplete="new-password" value={form.confirm} onChange={set("confirm")} />
          )}
        </Field>
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={busy}>
            Change password
          </Button>
        </div>
      </form>
    </Card>
  );
}
