"use client";

import { usePathname, useRouter, useSearchParams } from "next/navigation";

import { ChangePassword, Workspace } from "@/components/settings/Account";
import { AuditLog } from "@/components/settings/AuditLog";
import { ConnectedApps } from "@/components/settings/ConnectedApps";
import { Invitations } from "@/components/settings/Invitations";
import { LLMProviders } from "@/components/settings/LLMProviders";
import { Mcp } from "@/components/settings/Mcp";
import { Members } from "@/components/settings/Members";
import { Usage } from "@/components/settings/Usage";
import { PageHeader, Tabs, withSuspense } from "@/components/ui";
import { useSession } from "@/lib/session";

type TabKey = "workspace" | "members" | "invitations" | "llm" | "mcp" | "apps" | "audit" | "usage" | "password";

function Settings() {
  const { can, role } = useSession();
  const router = useRouter();
  const pathname = usePathname();
  const params = useSearchParams();
  const tabs: { key: TabKey; label: string }[] = [
    { key: "members", label: "Members" },
    ...(can("invitations", "read") ? [{ key: "invitations" as const, label: "Invitations" }] : []),
    { key: "llm", label: "LLM providers" },
    ...(can("api_keys", "read") ? [{ key: "mcp" as const, label: "MCP" }] : []),
    // MCP clients connected over OAuth: everyone sees their own (admins everyone's), so not inside the admins' MCP tab
    ...(can("oauth_grants", "read") ? [{ key: "apps" as const, label: "Connected apps" }] : []),
    ...(can("audit_log", "read") ? [{ key: "audit" as const, label: "Audit log" }] : []),
    ...(can("usage", "read") ? [{ key: "usage" as const, label: "Usage" }] : []),
    { key: "workspace", label: "Workspace" },
    { key: "password", label: "Password" },
  ];
  const asked = params.get("tab") as TabKey | null;
  const current = tabs.find((t) => t.key === asked)?.key ?? "members";
  const select = (key: TabKey) => router.replace(`${pathname}?tab=${key}`, { scroll: false });
  return (
    <>
      <PageHeader
        title="Settings"
        description={role === "viewer" ? "You have read-only access to this workspace." : "People, models and the record of changes."}
      />
      <Tabs label="Settings sections" tabs={tabs} current={current} onChange={select} />
      <div role="tabpanel" aria-label={tabs.find((t) => t.key === current)?.label}>
        {current === "members" ? <Members /> : null}
        {current === "invitations" ? <Invitations /> : null}
        {current === "llm" ? <LLMProviders /> : null}
        {current === "mcp" ? <Mcp /> : null}
        {current === "apps" ? <ConnectedApps /> : null}
        {current === "audit" ? <AuditLog /> : null}
        {current === "usage" ? <Usage /> : null}
        {current === "workspace" ? <Workspace /> : null}
        {current === "password" ? <ChangePassword /> : null}
      </div>
    </>
  );
}

export default withSuspense(Settings);
