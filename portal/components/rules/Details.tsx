"use client";

// The rule builder's "Rule" part: name, description and whether the rule is enabled.
import { Field } from "@/components/ui";

import type { SectionProps } from "./model";

export function RuleDetails({
  draft,
  update,
  errorsFor,
  disabled,
}: SectionProps) {
  return (
    <fieldset className="rb-section" disabled={disabled}>
      <legend>Rule</legend>
      <div className="grid-2">
        <Field label="Name" errors={errorsFor("name")}>
          {(props) => <input {...props} type="text" value={draft.name} onChange={(e) => update((d) => ({ ...d, name: e.target.value }))} />}
        </Field>
        <Field label="Description" errors={errorsFor("description")}>
          {(props) => (
            <input {...props} type="text" value={draft.description} onChange={(e) => update((d) => ({ ...d, description: e.target.value }))} />
          )}
        </Field>
      </div>
      <label className="checkbox">
        <input type="checkbox" checked={draft.enabled} onChange={(e) => update((d) => ({ ...d, enabled: e.target.checked }))} />
        Enabled
      </label>
    </fieldset>
  );
}
