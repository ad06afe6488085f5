"use client";

import { useState } from "react";
import useSWR from "swr";

import { PAGE_SIZE, ROLES, roleLabel, type Role } from "@/components/settings/shared";
import { AsyncList, Badge, Button, Card, ConfirmButton, EmptyState, Field, FormError, Table, Time } from "@/components/ui";
import { type Page, type Schemas, api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

type Invitation = Schemas["Invitation"];

function InviteForm({ onInvited }: { onInvited: (email: string) => void }) {
  const { role } = useSession();
  const [form, setForm] = useState<{ email: string; role: Role }>({ email: "", role: "member" });
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    await unwrap(api.POST("/api/v1/invitations/", { body: form }));
    onInvited(form.email);
    setForm((f) => ({ ...f, email: "" }));
  });
  // only an owner may invite an owner (the API says so too)
  const roles = ROLES.filter((r) => r.value !== "owner" || role === "owner");
  return (
    <form
      className="invite-form"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
      noValidate
    >
      <FormError error={error} shown={["email", "role"]} />
      <div className="grid-2">
        <Field label="Email" errors={errorsFor("email")}>
          {(props) => (
            <input
              {...props}
              type="email"
              autoComplete="off"
              value={form.email}
              onChange={(e) => setForm((f) => ({ ...f, email: e.target.value }))}
            />
          )}
        </Field>
        <Field label="Role" errors={errorsFor("role")} help={ROLES.find((r) => r.value === form.role)?.help}>
          {(props) => (
            <select {...props} value={form.role} onChange={(e) => setForm((f) => ({ ...f, role: e.target.value as Role }))}>
              {roles.map((r) => (
                <option key={r.value} value={r.value}>
                  {r.label}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={busy}>
          Send invitation
        </Button>
      </div>
    </form>
  );
}

export function Invitations() {
  const { me, can } = useSession();
  const configure = can("invitations", "configure");
  const [offset, setOffset] = useState(0);
  const [sent, setSent] = useState("");
  const { data, error, mutate } = useSWR<Page<Invitation>>(["invitations", me.tenant?.slug, offset], () =>
    unwrap(api.GET("/api/v1/invitations/", { params: { query: { limit: PAGE_SIZE, offset } } })),
  );
  return (
    <>
      {configure ? (
        <Card title="Invite someone">
          {sent ? (
            <p className="alert alert-ok" role="status">
              Invitation emailed to {sent}.
            </p>
          ) : null}
          <InviteForm
            onInvited={(email) => {
              setSent(email);
              mutate();
            }}
          />
        </Card>
      ) : null}
      <Card title="Invitations">
        <AsyncList
          query={{ data, error, mutate }}
          isEmpty={(page) => page.count === 0}
          empty={<EmptyState title="No invitations yet">Invitations you send appear here until they are accepted.</EmptyState>}
          pager={{ offset, limit: PAGE_SIZE, onChange: setOffset }}
        >
          {(page) => (
            <Table columns={["Email", "Role", "Status", "Invited by", "Expires", configure ? "Actions" : null]}>
              {page.results.map((inv) => (
                <tr key={inv.id} data-testid="invitation-row">
                  <td>{inv.email}</td>
                  <td>{roleLabel(inv.role)}</td>
                  <td>
                    <Badge>{inv.status}</Badge>
                  </td>
                  <td>{inv.invited_by ?? <span className="muted">—</span>}</td>
                  <td>
                    <Time value={inv.expires_at} />
                  </td>
                  {configure ? (
                    <td>
                      {inv.status === "pending" ? (
                        <ConfirmButton
                          label="Revoke"
                          title="Revoke invitation"
                          confirmLabel="Revoke"
                          message={`The link sent to ${inv.email} stops working at once.`}
                          onConfirm={async () => {
                            await unwrap(
                              api.DELETE("/api/v1/invitations/{id}/", { params: { path: { id: String(inv.id) } } }),
                            );
                            await mutate();
                          }}
                        />
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                  ) : null}
                </tr>
              ))}
            </Table>
          )}
        </AsyncList>
      </Card>
    </>
  );
}
