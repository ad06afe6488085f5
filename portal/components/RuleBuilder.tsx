"use client";

// The automation rule builder: a trigger (event type pattern + optional connection), all/any conditions and an
// ordered list of actions whose inputs are rendered from GET /rules/action-types/. The API checks everything on
// save; its errors come back with dotted paths (conditions.1.value, actions.0.input.title) and are shown next to
// the control they name. The model (types, draft <-> body conversion, helpers) is components/rules/model.ts; each
// part of the form is a component of components/rules/.
import { useCallback, useMemo, useState } from "react";

import { RuleActions } from "@/components/rules/Actions";
import { RuleConditions } from "@/components/rules/Conditions";
import { RuleDetails } from "@/components/rules/Details";
import {
  type ActionTypeInfo,
  type DraftUpdate,
  type RuleBody,
  type RuleCatalog,
  type RuleDraft,
  type RuleLike,
  type RuleTestResult,
  type SampleEvent,
  type SectionProps,
  buildRuleBody,
  initialDraft,
  shownErrorPaths,
} from "@/components/rules/model";
import { RuleTestPanel } from "@/components/rules/TestPanel";
import { RuleTrigger } from "@/components/rules/Trigger";
import { Button, FormError } from "@/components/ui";
import { useSubmit } from "@/lib/useForm";

export {
  OPERATORS,
  OPERATOR_LABELS,
  buildRuleBody,
  conditionValue,
  draftFromRule,
  emptyAction,
  emptyCondition,
  fieldKind,
  parseScalar,
} from "@/components/rules/model";
export type {
  ActionBody,
  ActionDraft,
  ActionTypeInfo,
  ConditionBody,
  ConditionDraft,
  ConnectorActionSpec,
  FieldKind,
  InputFieldSpec,
  Mapping,
  Operator,
  RuleBody,
  RuleCatalog,
  RuleDraft,
  RuleLike,
  RuleTestResult,
  SampleEvent,
} from "@/components/rules/model";
export { RuleTestOutcome, RuleTestPanel } from "@/components/rules/TestPanel";

export function RuleBuilder({
  rule,
  actionTypes,
  catalog,
  onSubmit,
  onTest,
  onCancel,
  readOnly = false,
  canTest = true,
  submitLabel,
}: {
  rule?: RuleLike | null;
  actionTypes: ActionTypeInfo[];
  catalog: RuleCatalog;
  onSubmit?: (body: RuleBody) => Promise<unknown>;
  /** Given once the rule is saved: POST /rules/{id}/test/. */
  onTest?: (event: SampleEvent) => Promise<RuleTestResult>;
  onCancel?: () => void;
  readOnly?: boolean;
  canTest?: boolean;
  submitLabel?: string;
}) {
  const [draft, setDraft] = useState<RuleDraft>(() => initialDraft(rule, actionTypes));
  const [saved, setSaved] = useState(false);
  const save = useCallback(async () => {
    if (!onSubmit) return;
    setSaved(false);
    await onSubmit(buildRuleBody(draft, actionTypes, catalog));
    setSaved(true);
  }, [onSubmit, draft, actionTypes, catalog]);
  const { submit, busy, error, errorsFor, setError } = useSubmit(save);

  const update: DraftUpdate = (change, structural = false) => {
    setDraft((d) => change(d));
    setSaved(false);
    // The API's row numbers no longer match once rows move.
    if (structural) setError(null);
  };
  const disabled = readOnly || !onSubmit;
  const section: SectionProps = { draft, update, errorsFor, disabled };

  // Every error path a control below shows; the rest go to the form-level alert.
  const shown = useMemo(
    () => shownErrorPaths({ conditions: draft.conditions, actions: draft.actions }),
    [draft.conditions, draft.actions],
  );

  return (
    <div className="rule-builder">
      <form
        aria-label="Rule"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
      >
        <FormError error={error} shown={shown} />
        {saved && !error ? (
          <div className="alert alert-ok" role="status">
            Rule saved.
          </div>
        ) : null}
        <RuleDetails {...section} />
        <RuleTrigger {...section} catalog={catalog} />
        <RuleConditions {...section} />
        <RuleActions {...section} actionTypes={actionTypes} catalog={catalog} />
        {disabled ? null : (
          <div className="form-actions">
            <Button type="submit" variant="primary" busy={busy}>
              {submitLabel ?? (rule?.id ? "Save rule" : "Create rule")}
            </Button>
            {onCancel ? <Button onClick={onCancel}>Close</Button> : null}
          </div>
        )}
      </form>
      {onTest && canTest ? <RuleTestPanel onTest={onTest} triggerEvent={draft.trigger_event} catalog={catalog} actionTypes={actionTypes} /> : null}
    </div>
  );
}
