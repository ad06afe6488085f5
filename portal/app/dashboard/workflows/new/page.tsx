"use client";

// A new workflow from a template: the form generated from the template's parameters, with the schedule editor.
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";

import { ConfigForm } from "@/components/workflows/ConfigForm";
import { useTemplates } from "@/components/workflows/data";
import { Async, Card, EmptyState, PageHeader, withSuspense } from "@/components/ui";
import { useSession } from "@/lib/session";

function NewWorkflow() {
  const router = useRouter();
  const key = useSearchParams().get("template") ?? "";
  const { can } = useSession();
  const templates = useTemplates();
  if (!can("workflows", "configure")) {
    return (
      <EmptyState title="Your role cannot create workflows">
        Ask an admin of this workspace. <Link href="/dashboard/workflows">Back to workflows</Link>
      </EmptyState>
    );
  }
  return (
    <Async data={templates.data} error={templates.error} retry={() => templates.mutate()}>
      {(list) => {
        const template = list.find((t) => t.key === key);
        if (!template) {
          return (
            <EmptyState title="Choose a template">
              <Link href="/dashboard/workflows">Pick one of the templates</Link> to start a workflow.
            </EmptyState>
          );
        }
        return (
          <>
            <PageHeader
              title={`New workflow: ${template.name}`}
              description={template.description}
              actions={<Link href="/dashboard/workflows">Back to workflows</Link>}
            />
            <Card>
              <ConfigForm
                template={template}
                onSaved={(id, error) =>
                  router.push(`/dashboard/workflows/${id}${error ? "?sync=failed" : "?created=1"}`)
                }
                onCancel={() => router.push("/dashboard/workflows")}
              />
            </Card>
          </>
        );
      }}
    </Async>
  );
}

export default withSuspense(NewWorkflow);
