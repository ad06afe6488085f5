"use client";

// The rule builder's "If" part: whether all or any conditions must hold, and the conditions themselves.
import { Button, Field } from "@/components/ui";

import {
  type ConditionDraft,
  type ErrorsFor,
  OPERATORS,
  OPERATOR_LABELS,
  type Operator,
  type SectionProps,
  addCondition,
  conditionValueHelp,
  removeCondition,
  updateCondition,
} from "./model";

export function RuleConditions({
  draft,
  update,
  errorsFor,
  disabled,
}: SectionProps) {
  return (
    <fieldset className="rb-section" disabled={disabled}>
      <legend>If</legend>
      <Field label="Match" errors={errorsFor("match")}>
        {(props) => (
          <select {...props} value={draft.match} onChange={(e) => update((d) => ({ ...d, match: e.target.value as "all" | "any" }))}>
            <option value="all">All conditions are true</option>
            <option value="any">Any condition is true</option>
          </select>
        )}
      </Field>
      {errorsFor("conditions").length ? (
        <p className="field-error" role="alert">
          {errorsFor("conditions").join(" ")}
        </p>
      ) : null}
      {draft.conditions.length === 0 ? <p className="muted">No conditions: every event of this type matches.</p> : null}
      <ol className="rb-list">
        {draft.conditions.map((condition, index) => (
          <li key={condition.key} className="rb-row" data-testid={`condition-${index}`}>
            <ConditionRow
              index={index}
              condition={condition}
              errorsFor={errorsFor}
              onChange={(patch) => update((d) => updateCondition(d, index, patch))}
              onRemove={disabled ? undefined : () => update((d) => removeCondition(d, index), true)}
            />
          </li>
        ))}
      </ol>
      {disabled ? null : <Button onClick={() => update(addCondition, true)}>Add condition</Button>}
    </fieldset>
  );
}

function ConditionRow({
  index,
  condition,
  errorsFor,
  onChange,
  onRemove,
}: {
  index: number;
  condition: ConditionDraft;
  errorsFor: ErrorsFor;
  onChange: (patch: Partial<ConditionDraft>) => void;
  onRemove?: () => void;
}) {
  const n = index + 1;
  const own = errorsFor(`conditions.${index}`);
  return (
    <div className="rb-condition">
      <Field label={`Condition ${n}: field`} errors={errorsFor(`conditions.${index}.field`)}>
        {(props) => (
          <input {...props} type="text" value={condition.field} placeholder="payload.total" onChange={(e) => onChange({ field: e.target.value })} />
        )}
      </Field>
      <Field label={`Condition ${n}: operator`} errors={errorsFor(`conditions.${index}.op`)}>
        {(props) => (
          <select {...props} value={condition.op} onChange={(e) => onChange({ op: e.target.value as Operator })}>
            {OPERATORS.map((op) => (
              <option key={op} value={op}>
                {OPERATOR_LABELS[op]}
              </option>
            ))}
          </select>
        )}
      </Field>
      {condition.op === "exists" ? (
        <p className="muted rb-novalue">No value: true when the field is present.</p>
      ) : (
        <Field
          label={`Condition ${n}: ${condition.op === "in" ? "values" : "value"}`}
          help={conditionValueHelp(condition.op)}
          errors={errorsFor(`conditions.${index}.value`)}
        >
          {(props) =>
            condition.op === "in" ? (
              <textarea {...props} rows={2} value={condition.value} placeholder="gold, platinum" onChange={(e) => onChange({ value: e.target.value })} />
            ) : (
              <input {...props} type="text" value={condition.value} onChange={(e) => onChange({ value: e.target.value })} />
            )
          }
        </Field>
      )}
      {onRemove ? (
        <Button variant="ghost" onClick={onRemove} aria-label={`Remove condition ${n}`}>
          Remove
        </Button>
      ) : null}
      {own.length ? (
        <p className="field-error rb-wide" role="alert">
          {own.join(" ")}
        </p>
      ) : null}
    </div>
  );
}
