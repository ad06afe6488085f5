"use client";

import { useSearchParams } from "next/navigation";

import { NewConnection } from "@/components/connectors/NewConnection";
import { withSuspense } from "@/components/ui";

function New() {
  const params = useSearchParams();
  return <NewConnection connectorKey={params.get("connector")} />;
}

export default withSuspense(New);
