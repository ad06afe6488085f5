"use client";

import { useParams, useSearchParams } from "next/navigation";

import { CompleteAuthorisation, ConnectionDetail } from "@/components/connectors/ConnectionDetail";
import { withSuspense } from "@/components/ui";

function Detail() {
  const { id } = useParams<{ id: string }>();
  const params = useSearchParams();
  // back from the provider: the gateway kept the code; this signed-in person confirms it is theirs
  const authorise = params.get("authorise");
  if (authorise) return <CompleteAuthorisation key={id} id={id} state={authorise} />;
  const notice = params.get("connected") === "1" ? "connected" : params.get("created") === "1" ? "created" : null;
  return <ConnectionDetail key={id} id={id} notice={notice} />;
}

export default withSuspense(Detail);
