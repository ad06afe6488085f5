"use client";

// Integrations: webhooks in and out, events, API keys and automation rules — what is wired to each connection,
// not the connector cards again.
import { useEffect, useState } from "react";

import { ApiKeys } from "@/components/integrations/ApiKeys";
import { Endpoints } from "@/components/integrations/Endpoints";
import { Events } from "@/components/integrations/Events";
import { Overview } from "@/components/integrations/Overview";
import { Rules } from "@/components/integrations/Rules";
import { Subscriptions } from "@/components/integrations/Subscriptions";
import { TestReceiver } from "@/components/integrations/TestReceiver";
import { PageHeader, Tabs } from "@/components/ui";
import { useSession } from "@/lib/session";

type Tab = "overview" | "inbound" | "events" | "outbound" | "receiver" | "rules" | "api-keys";

export default function IntegrationsPage() {
  const { can } = useSession();
  const tabs: { key: Tab; label: string }[] = [
    { key: "overview", label: "Overview" },
    { key: "inbound", label: "Inbound webhooks" },
    { key: "events", label: "Events" },
    { key: "outbound", label: "Outbound webhooks" },
    { key: "receiver", label: "Test receiver" },
    { key: "rules", label: "Automation rules" },
    ...(can("api_keys", "configure") ? [{ key: "api-keys" as Tab, label: "API keys" }] : []),
  ];
  const [tab, setTab] = useState<Tab>("overview");
  // The tab lives in the URL's fragment so a link or a reload opens the same one.
  useEffect(() => {
    const read = () => {
      const wanted = window.location.hash.slice(1) as Tab;
      if (tabs.some((t) => t.key === wanted)) setTab(wanted);
    };
    read();
    window.addEventListener("hashchange", read);
    return () => window.removeEventListener("hashchange", read);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tabs.length]);
  const choose = (key: Tab) => {
    setTab(key);
    window.history.replaceState(null, "", `#${key}`);
  };
  return (
    <>
      <PageHeader
        title="Integrations"
        description="Webhooks in and out, events, automation rules and API keys — what is wired to each connection."
      />
      <Tabs label="Integrations" tabs={tabs} current={tab} onChange={choose} />
      <div role="tabpanel" aria-label={tabs.find((t) => t.key === tab)?.label}>
        {tab === "overview" ? <Overview /> : null}
        {tab === "inbound" ? <Endpoints /> : null}
        {tab === "events" ? <Events /> : null}
        {tab === "outbound" ? <Subscriptions /> : null}
        {tab === "receiver" ? <TestReceiver /> : null}
        {tab === "rules" ? <Rules /> : null}
        {tab === "api-keys" ? <ApiKeys /> : null}
      </div>
    </>
  );
}
