"use client";

// Approvals: one inbox for what agents and workflows wait for a person to decide.
import { Inbox } from "@/components/approvals/Inbox";
import { PageHeader } from "@/components/ui";

export default function ApprovalsPage() {
  return (
    <>
      <PageHeader
        title="Approvals"
        description="Actions agents proposed and workflow steps waiting for a person. Approve as proposed, edit the input first, or reject with a comment the agent is told."
      />
      <Inbox />
    </>
  );
}
