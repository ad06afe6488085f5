"use client";

import { useState } from "react";
import useSWR from "swr";

import { PAGE_SIZE } from "@/components/settings/shared";
import { AsyncList, Card, ConfirmButton, EmptyState, Table, Time } from "@/components/ui";
import { type Page, type Schemas, api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";

type Grant = Schemas["OAuthGrant"];

/** MCP clients (desktop apps, hosted agents) connected to this workspace over OAuth: yours, or everyone's for admins. */
export function ConnectedApps() {
  const { me, can } = useSession();
  const everyone = can("oauth_grants", "manage");
  const [offset, setOffset] = useState(0);
  const { data, error, mutate } = useSWR<Page<Grant>>(["oauth-grants", me.tenant?.slug, offset], () =>
    unwrap(api.GET("/api/v1/oauth-grants/", { params: { query: { limit: PAGE_SIZE, offset } } })),
  );
  return (
    <Card title="Connected apps">
      <p className="muted">
        {everyone
          ? "Applications people connected to this workspace by signing in (MCP clients over OAuth). Disconnecting one ends its access at once."
          : "Applications you connected to this workspace by signing in (MCP clients over OAuth). Disconnecting one ends its access at once."}
      </p>
      <AsyncList
        query={{ data, error, mutate }}
        isEmpty={(page) => page.count === 0}
        empty={
          <EmptyState title="No connected apps">
            When an MCP client asks to use this workspace and someone approves, it appears here.
          </EmptyState>
        }
        pager={{ offset, limit: PAGE_SIZE, onChange: setOffset }}
      >
        {(page) => (
          <Table columns={["Application", "Connected by", "Scopes", "Connected", "Last used", "Actions"]}>
            {page.results.map((grant) => (
              <tr key={grant.id} data-testid="connected-app-row">
                <td>{grant.client_name || <span className="muted">Unnamed application</span>}</td>
                <td>{grant.user_email}</td>
                <td>{grant.scopes.join(", ")}</td>
                <td>
                  <Time value={grant.created_at} />
                </td>
                <td>{grant.last_used_at ? <Time value={grant.last_used_at} /> : <span className="muted">Never</span>}</td>
                <td>
                  <ConfirmButton
                    label="Disconnect"
                    title="Disconnect application"
                    confirmLabel="Disconnect"
                    message={`${grant.client_name || "This application"} loses access to this workspace at once; it must ask again to reconnect.`}
                    onConfirm={async () => {
                      await unwrap(api.DELETE("/api/v1/oauth-grants/{id}/", { params: { path: { id: String(grant.id) } } }));
                      await mutate();
                    }}
                  />
                </td>
              </tr>
            ))}
          </Table>
        )}
      </AsyncList>
    </Card>
  );
}
