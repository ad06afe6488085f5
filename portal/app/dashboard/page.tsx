"use client";

import { PageHeader } from "@/components/ui";
import { useSession } from "@/lib/session";

export default function DashboardPage() {
  const { me } = useSession();
  return <PageHeader title={`Welcome, ${me.first_name || me.email}`} description={me.tenant?.name} />;
}
