"use client";

// The rule builder's "When" part: the event type pattern and, optionally, the connection the event must come from.
import { ConnectionOptions, Field } from "@/components/ui";

import type { RuleCatalog, SectionProps } from "./model";

export function RuleTrigger({
  draft,
  update,
  errorsFor,
  disabled,
  catalog,
}: SectionProps & {
  catalog: RuleCatalog;
}) {
  return (
    <fieldset className="rb-section" disabled={disabled}>
      <legend>When</legend>
      <div className="grid-2">
        <Field
          label="Event type"
          help="An event type such as shopify.order.create; * stands for any segment (shopify.order.*)."
          errors={errorsFor("trigger_event")}
        >
          {(props) => (
            <input
              {...props}
              type="text"
              value={draft.trigger_event}
              placeholder="shopify.order.*"
              onChange={(e) => update((d) => ({ ...d, trigger_event: e.target.value }))}
            />
          )}
        </Field>
        <Field label="From connection" help="Optional: only events of this connection." errors={errorsFor("trigger_connection")}>
          {(props) => (
            <select
              {...props}
              value={draft.trigger_connection}
              onChange={(e) => update((d) => ({ ...d, trigger_connection: e.target.value }))}
            >
              <option value="">Any connection</option>
              <ConnectionOptions connections={catalog.connections} />
            </select>
          )}
        </Field>
      </div>
    </fieldset>
  );
}
