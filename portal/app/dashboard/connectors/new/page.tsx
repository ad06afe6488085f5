"use client";

import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { NewConnection } from "@/components/connectors/NewConnection";
import { Loading } from "@/components/ui";

function New() {
  const params = useSearchParams();
  return <NewConnection connectorKey={params.get("connector")} />;
}

export default function NewConnectionPage() {
  return (
    <Suspense fallback={<Loading />}>
      <New />
    </Suspense>
  );
}
