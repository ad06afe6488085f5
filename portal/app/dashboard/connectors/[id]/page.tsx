"use client";

import { useParams, useSearchParams } from "next/navigation";

import { ConnectionDetail } from "@/components/connectors/ConnectionDetail";
import { withSuspense } from "@/components/ui";

function Detail() {
  const { id } = useParams<{ id: string }>();
  const params = useSearchParams();
  const notice = params.get("connected") === "1" ? "connected" : params.get("created") === "1" ? "created" : null;
  return <ConnectionDetail key={id} id={id} notice={notice} />;
}

export default withSuspense(Detail);
