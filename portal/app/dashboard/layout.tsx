"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";
import { useState } from "react";

import { usePendingCount } from "@/components/approvals/Inbox";
import { Loading } from "@/components/ui";
import { SessionProvider, useSession } from "@/lib/session";

const NAV = [
  { href: "/dashboard", label: "Overview" },
  { href: "/dashboard/connectors", label: "Connectors" },
  { href: "/dashboard/integrations", label: "Integrations" },
  { href: "/dashboard/agents", label: "AI agents" },
  { href: "/dashboard/workflows", label: "Workflows" },
  { href: "/dashboard/approvals", label: "Approvals" },
  { href: "/dashboard/crm", label: "CRM" },
  { href: "/dashboard/settings", label: "Settings" },
];

function TenantSwitcher() {
  const { me, switchTenant } = useSession();
  const active = (me.memberships ?? []).filter((m) => m.status === "active");
  if (active.length < 2) return <div className="muted">{me.tenant?.name ?? "No workspace"}</div>;
  return (
    <label>
      <span className="visually-hidden">Workspace</span>
      <select
        aria-label="Workspace"
        value={me.tenant?.slug ?? ""}
        onChange={(e) => switchTenant(e.target.value)}
        data-testid="tenant-switcher"
      >
        {active.map((m) => (
          <option key={m.slug} value={m.slug}>
            {m.name}
          </option>
        ))}
      </select>
    </label>
  );
}

function PendingBadge() {
  const { data } = usePendingCount();
  if (!data?.pending) return null;
  return (
    <span className="badge badge-wait nav-count" data-testid="approvals-count" aria-label={`${data.pending} waiting`}>
      {data.pending}
    </span>
  );
}

function Shell({ children }: { children: React.ReactNode }) {
  const pathname = usePathname();
  const { me, role, logout } = useSession();
  const [open, setOpen] = useState(false);
  const current = (href: string) =>
    href === "/dashboard" ? pathname === href : pathname === href || pathname.startsWith(`${href}/`);
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <div className="topbar-mobile">
        <Link href="/dashboard">BizOSaaS</Link>
        <button className="btn" aria-expanded={open} aria-controls="sidebar" onClick={() => setOpen((o) => !o)}>
          Menu
        </button>
      </div>
      <aside id="sidebar" className={open ? "sidebar open" : "sidebar"} onClick={() => setOpen(false)}>
        <Link className="brand" href="/dashboard">
          BizOSaaS
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <Link href={item.href} aria-current={current(item.href) ? "page" : undefined}>
                  {item.label}
                  {item.href === "/dashboard/approvals" ? <> <PendingBadge /></> : null}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="sidebar-foot" onClick={(e) => e.stopPropagation()}>
          <TenantSwitcher />
          <div>
            <div data-testid="user-email">{me.email}</div>
            <div className="muted" data-testid="user-role">
              {role ?? "no role"}
            </div>
          </div>
          <button className="btn" onClick={logout}>
            Log out
          </button>
        </div>
      </aside>
      <main id="main" className="main" tabIndex={-1}>
        {me.tenant ? (
          children
        ) : (
          <div className="state">
            <h1>No workspace yet</h1>
            <p>You are not a member of any active workspace. Ask an owner for an invitation, or create one.</p>
            <Link className="btn btn-primary" href="/signup">
              Create a workspace
            </Link>
          </div>
        )}
      </main>
    </div>
  );
}

export default function DashboardLayout({ children }: { children: React.ReactNode }) {
  return (
    <SessionProvider fallback={<Loading label="Loading your workspace…" />}>
      <Shell>{children}</Shell>
    </SessionProvider>
  );
}
