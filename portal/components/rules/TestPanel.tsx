"use client";

// Testing a saved rule against a sample event (POST /rules/{id}/test/): the form, and what the API answered (whether
// the rule triggers, each condition's result, the input each action would get). Nothing is performed.
import { useState } from "react";

import { actionTypeLabel } from "@/components/names";
import { Badge, Button, ConnectionOptions, Field, FormError, Table } from "@/components/ui";
import { useSubmit } from "@/lib/useForm";

import {
  type ActionTypeInfo,
  DEFAULT_SAMPLE_PAYLOAD,
  type RuleCatalog,
  type RuleTestResult,
  type SampleEvent,
  sampleEvent,
  sampleType,
  testSummary,
} from "./model";

export function RuleTestPanel({
  onTest,
  triggerEvent,
  catalog,
  actionTypes,
}: {
  onTest: (event: SampleEvent) => Promise<RuleTestResult>;
  triggerEvent: string;
  catalog: RuleCatalog;
  actionTypes?: ActionTypeInfo[];
}) {
  const [type, setType] = useState(() => sampleType(triggerEvent));
  const [connection, setConnection] = useState("");
  const [payload, setPayload] = useState(DEFAULT_SAMPLE_PAYLOAD);
  const [payloadError, setPayloadError] = useState<string | null>(null);
  const [result, setResult] = useState<RuleTestResult | null>(null);
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    const sample = sampleEvent(type, connection, payload);
    if ("error" in sample) {
      setPayloadError(sample.error);
      return;
    }
    setPayloadError(null);
    setResult(await onTest(sample.event));
  });
  const shown = ["event.type", "event.payload", "event.connection_id"];
  return (
    <section className="rb-test card" aria-labelledby="rb-test-title">
      <h3 id="rb-test-title">Test against a sample event</h3>
      <p className="muted">Evaluates the saved rule; nothing is performed, stored or sent.</p>
      <form
        noValidate
        aria-label="Sample event"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <FormError error={error} shown={shown} />
        <div className="grid-2">
          <Field label="Sample event type" errors={errorsFor("event.type")}>
            {(props) => <input {...props} type="text" value={type} onChange={(e) => setType(e.target.value)} />}
          </Field>
          <Field label="Sample connection" errors={errorsFor("event.connection_id")}>
            {(props) => (
              <select {...props} value={connection} onChange={(e) => setConnection(e.target.value)}>
                <option value="">None</option>
                <ConnectionOptions connections={catalog.connections} />
              </select>
            )}
          </Field>
        </div>
        <Field
          label="Sample payload (JSON)"
          errors={payloadError ? [payloadError, ...errorsFor("event.payload")] : errorsFor("event.payload")}
        >
          {(props) => <textarea {...props} className="mono" rows={6} value={payload} onChange={(e) => setPayload(e.target.value)} />}
        </Field>
        <Button type="submit" busy={busy}>
          Run test
        </Button>
      </form>
      {result ? <RuleTestOutcome result={result} actionTypes={actionTypes} /> : null}
    </section>
  );
}

export function RuleTestOutcome({ result, actionTypes }: { result: RuleTestResult; actionTypes?: ActionTypeInfo[] }) {
  return (
    <div className="rb-test-result" data-testid="rule-test-result" aria-live="polite">
      <p>
        {!result.triggered ? (
          <Badge tone="muted">not triggered</Badge>
        ) : result.matched ? (
          <Badge tone="ok">matched</Badge>
        ) : (
          <Badge tone="bad">no match</Badge>
        )}{" "}
        {testSummary(result)}
      </p>
      {result.conditions.length ? (
        <Table caption="Conditions" columns={["Field", "Operator", "Value", "Found", "Result"]}>
          {result.conditions.map((c, i) => (
            <tr key={i}>
              <td>
                <code>{c.field}</code>
              </td>
              <td>{c.op}</td>
              <td>
                <code>{c.value === undefined ? "—" : JSON.stringify(c.value)}</code>
              </td>
              <td>
                <code>{c.actual === undefined || c.actual === null ? "—" : JSON.stringify(c.actual)}</code>
              </td>
              <td>{c.result ? <Badge tone="ok">true</Badge> : <Badge tone="bad">false</Badge>}</td>
            </tr>
          ))}
        </Table>
      ) : null}
      {result.actions.length ? (
        <ol className="rb-would-run">
          {result.actions.map((a) => (
            <li key={a.position}>
              <strong>{actionTypeLabel(a.type, actionTypes)}</strong> <pre className="mono">{JSON.stringify(a.input ?? {}, null, 2)}</pre>
              {a.missing?.length ? <p className="field-error">Missing in the event: {a.missing.join(", ")}</p> : null}
              {a.problems && Object.keys(a.problems).length ? (
                <p className="field-error">
                  {Object.entries(a.problems)
                    .map(([k, v]) => `${k}: ${v.join(" ")}`)
                    .join("; ")}
                </p>
              ) : null}
            </li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}

