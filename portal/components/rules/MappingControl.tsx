"use client";

// One mapping of a rule action's input: taken from the event (a dotted path) or a fixed value.
import { useId } from "react";

import type { MappingDraft } from "./model";

/** One input of an action: where its value comes from (a path into the event, or a fixed value) and the text. */
export function MappingControl({
  label,
  help,
  draft,
  errors,
  onChange,
}: {
  label: string;
  help?: string;
  draft: MappingDraft;
  errors: string[];
  onChange: (draft: MappingDraft) => void;
}) {
  const ref = { current: `m${useId().replace(/:/g, "")}` };
  return (
    <div className={`field rb-mapping ${errors.length ? "field-invalid" : ""}`}>
      <label htmlFor={ref.current}>{label}</label>
      <div className="row rb-mapping-row">
        <select
          aria-label={`${label}: source`}
          value={draft.mode}
          onChange={(e) => onChange({ ...draft, mode: e.target.value as "path" | "value" })}
        >
          <option value="path">From the event</option>
          <option value="value">Fixed value</option>
        </select>
        <input
          id={ref.current}
          type="text"
          value={draft.text}
          placeholder={draft.mode === "path" ? "payload.…" : ""}
          aria-invalid={errors.length ? true : undefined}
          aria-describedby={errors.length ? `${ref.current}-error` : undefined}
          onChange={(e) => onChange({ ...draft, text: e.target.value })}
        />
      </div>
      {help ? <p className="field-help">{help}</p> : null}
      {errors.length ? (
        <p className="field-error" id={`${ref.current}-error`} role="alert">
          {errors.join(" ")}
        </p>
      ) : null}
    </div>
  );
}
