"use client";

import { useState } from "react";
import useSWR from "swr";

import { OverviewView, WindowSelector, type Overview } from "@/components/dashboard/Overview";
import { Async, PageHeader } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";

export default function DashboardPage() {
  const { me } = useSession();
  const [days, setDays] = useState(7);
  const { data, error, mutate, isValidating } = useSWR<Overview>(
    ["overview", me.tenant?.slug, days],
    () => unwrap(api.GET("/api/v1/overview/", { params: { query: { days } } })),
    { refreshInterval: 30_000, keepPreviousData: true },
  );
  return (
    <>
      <PageHeader
        title={`Welcome, ${me.first_name || me.email}`}
        description={me.tenant?.name}
        actions={<WindowSelector days={days} onChange={setDays} />}
      />
      <div aria-busy={isValidating || undefined} data-testid="overview">
        <Async data={data} error={error} retry={() => mutate()}>
          {(overview) => <OverviewView data={overview} />}
        </Async>
      </div>
    </>
  );
}
