"use client";

import { useState } from "react";
import useSWR from "swr";

import { PAGE_SIZE, ROLES, fullName, roleLabel, type Role } from "@/components/settings/shared";
import { AsyncList, Badge, Card, ConfirmButton, EmptyState, FormError, Table, Time } from "@/components/ui";
import { type Page, type Schemas, api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";

type Member = Schemas["Member"];

function RoleSelect({ member, onChanged }: { member: Member; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const change = async (role: Role) => {
    setBusy(true);
    setError(null);
    try {
      await unwrap(api.PATCH("/api/v1/members/{id}/", { params: { path: { id: String(member.id) } }, body: { role } }));
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <select
        aria-label={`Role of ${member.email}`}
        value={member.role}
        disabled={busy}
        onChange={(e) => change(e.target.value as Role)}
      >
        {ROLES.map((r) => (
          <option key={r.value} value={r.value}>
            {r.label}
          </option>
        ))}
      </select>
      <FormError error={error} />
    </div>
  );
}

export function Members() {
  const { me, can } = useSession();
  const manage = can("members", "manage");
  const [offset, setOffset] = useState(0);
  const { data, error, mutate } = useSWR<Page<Member>>(["members", me.tenant?.slug, offset], () =>
    unwrap(api.GET("/api/v1/members/", { params: { query: { limit: PAGE_SIZE, offset } } })),
  );
  return (
    <Card title="Members and roles">
      <p className="muted">
        {ROLES.map((r) => `${r.label}: ${r.help}`).join(" · ")}.
        {manage ? "" : " Only owners change roles or remove people."}
      </p>
      <AsyncList
        query={{ data, error, mutate }}
        isEmpty={(page) => page.count === 0}
        empty={<EmptyState title="No members">Invite someone from the Invitations tab.</EmptyState>}
        pager={{ offset, limit: PAGE_SIZE, onChange: setOffset }}
      >
        {(page) => (
          <Table columns={["Person", "Role", "Joined", manage ? "Actions" : null]}>
            {page.results.map((member) => {
              const self = member.email === me.email;
              return (
                <tr key={member.id} data-testid="member-row">
                  <td>
                    <div>{fullName(member)}</div>
                    <div className="muted">
                      {member.email}
                      {self ? " (you)" : ""}
                    </div>
                  </td>
                  <td>
                    {manage && !self ? (
                      <RoleSelect member={member} onChanged={() => mutate()} />
                    ) : (
                      <Badge>{roleLabel(member.role)}</Badge>
                    )}
                  </td>
                  <td>
                    <Time value={member.created_at} />
                  </td>
                  {manage ? (
                    <td>
                      {self ? (
                        <span className="muted">—</span>
                      ) : (
                        <ConfirmButton
                          label="Remove"
                          title="Remove member"
                          confirmLabel="Remove"
                          message={`${member.email} loses access to ${me.tenant?.name} at once.`}
                          onConfirm={async () => {
                            await unwrap(
                              api.DELETE("/api/v1/members/{id}/", { params: { path: { id: String(member.id) } } }),
                            );
                            await mutate();
                          }}
                        />
                      )}
                    </td>
                  ) : null}
                </tr>
              );
            })}
          </Table>
        )}
      </AsyncList>
    </Card>
  );
}
