"use client";

// The rule builder's "Then" part: the ordered actions, each with the inputs its type declares (GET
// /rules/action-types/), and the control that adds one.
import { useState } from "react";

import { providerName, useConnectorNames } from "@/components/names";
import { Button, Field } from "@/components/ui";

import { MappingControl } from "./MappingControl";
import {
  type ActionDraft,
  type ActionTypeInfo,
  type ErrorsFor,
  FIELD_LABELS,
  type RuleCatalog,
  type SectionProps,
  actionFields,
  actionSpec,
  addAction,
  changeActionType,
  connectorActionsFor,
  fieldKind,
  inputNames,
  moveAction,
  removeAction,
  setActionInput,
  setActionMapping,
  setActionValue,
  unplacedErrors,
  updateAction,
} from "./model";

export function RuleActions({
  draft,
  update,
  errorsFor,
  disabled,
  actionTypes,
  catalog,
}: SectionProps & {
  actionTypes: ActionTypeInfo[];
  catalog: RuleCatalog;
}) {
  const [newActionType, setNewActionType] = useState(actionTypes[0]?.type ?? "");
  return (
    <fieldset className="rb-section" disabled={disabled}>
      <legend>Then</legend>
      {errorsFor("actions").length ? (
        <p className="field-error" role="alert">
          {errorsFor("actions").join(" ")}
        </p>
      ) : null}
      {draft.actions.length === 0 ? <p className="muted">Add at least one action.</p> : null}
      <ol className="rb-list">
        {draft.actions.map((action, index) => (
          <li key={action.key} className="rb-row" data-testid={`action-${index}`}>
            <ActionRow
              index={index}
              count={draft.actions.length}
              action={action}
              actionTypes={actionTypes}
              catalog={catalog}
              errorsFor={errorsFor}
              disabled={disabled}
              onChange={(change) => update((d) => updateAction(d, index, change))}
              onMove={(by) => update((d) => moveAction(d, index, by), true)}
              onRemove={() => update((d) => removeAction(d, index), true)}
            />
          </li>
        ))}
      </ol>
      {disabled ? null : (
        <div className="row">
          <label>
            <span className="visually-hidden">Type of the new action</span>
            <select aria-label="Type of the new action" value={newActionType} onChange={(e) => setNewActionType(e.target.value)}>
              {actionTypes.map((t) => (
                <option key={t.type} value={t.type}>
                  {t.label}
                </option>
              ))}
            </select>
          </label>
          <Button disabled={!newActionType} onClick={() => update((d) => addAction(d, newActionType), true)}>
            Add action
          </Button>
        </div>
      )}
    </fieldset>
  );
}

function ActionRow({
  index,
  count,
  action,
  actionTypes,
  catalog,
  errorsFor,
  disabled,
  onChange,
  onMove,
  onRemove,
}: {
  index: number;
  count: number;
  action: ActionDraft;
  actionTypes: ActionTypeInfo[];
  catalog: RuleCatalog;
  errorsFor: ErrorsFor;
  disabled: boolean;
  onChange: (change: (a: ActionDraft) => ActionDraft) => void;
  onMove: (by: number) => void;
  onRemove: () => void;
}) {
  const n = index + 1;
  const info = actionTypes.find((t) => t.type === action.type);
  const prefix = `actions.${index}`;
  const fields = actionFields(action, actionTypes);
  const setValue = (field: string, value: string) => onChange((a) => setActionValue(a, field, value));
  return (
    <div className="rb-action">
      <div className="spread">
        <strong>
          Action {n}: {info?.label ?? action.type}
        </strong>
        {disabled ? null : (
          <div className="row">
            <Button variant="ghost" disabled={index === 0} onClick={() => onMove(-1)} aria-label={`Move action ${n} up`}>
              Up
            </Button>
            <Button variant="ghost" disabled={index === count - 1} onClick={() => onMove(1)} aria-label={`Move action ${n} down`}>
              Down
            </Button>
            <Button variant="ghost" onClick={onRemove} aria-label={`Remove action ${n}`}>
              Remove
            </Button>
          </div>
        )}
      </div>
      <Field label={`Action ${n}: type`} errors={errorsFor(`${prefix}.type`)}>
        {(props) => (
          <select
            {...props}
            value={action.type}
            onChange={(e) => onChange((a) => changeActionType(a, e.target.value))}
          >
            {info ? null : <option value={action.type}>{action.type || "Choose a type"}</option>}
            {actionTypes.map((t) => (
              <option key={t.type} value={t.type}>
                {t.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      {fields.map((field) => (
        <ActionField
          key={field}
          index={index}
          field={field}
          action={action}
          catalog={catalog}
          errorsFor={errorsFor}
          setValue={setValue}
          onChange={onChange}
        />
      ))}
      {errorsFor(prefix).length ? (
        <p className="field-error" role="alert">
          {errorsFor(prefix).join(" ")}
        </p>
      ) : null}
      <UnplacedErrors prefix={prefix} fields={fields} action={action} catalog={catalog} errorsFor={errorsFor} />
    </div>
  );
}

/** Errors under actions.N that no control of the row shows (e.g. an unknown key). */
function UnplacedErrors({
  prefix,
  fields,
  action,
  catalog,
  errorsFor,
}: {
  prefix: string;
  fields: string[];
  action: ActionDraft;
  catalog: RuleCatalog;
  errorsFor: ErrorsFor;
}) {
  const rest = unplacedErrors(prefix, fields, action, catalog, errorsFor);
  if (!rest.length) return null;
  return (
    <p className="field-error" role="alert">
      {rest.join(" ")}
    </p>
  );
}

function ActionField({
  index,
  field,
  action,
  catalog,
  errorsFor,
  setValue,
  onChange,
}: {
  index: number;
  field: string;
  action: ActionDraft;
  catalog: RuleCatalog;
  errorsFor: ErrorsFor;
  setValue: (field: string, value: string) => void;
  onChange: (change: (a: ActionDraft) => ActionDraft) => void;
}) {
  const n = index + 1;
  const names = useConnectorNames();
  const kind = fieldKind(action.type, field);
  const path = `actions.${index}.${field}`;
  const label = `Action ${n}: ${FIELD_LABELS[field] ?? field}`;
  const value = action.values[field] ?? "";

  const idSelect = (options: { id: number; label: string }[], none: string) => (
    <Field label={label} errors={errorsFor(path)}>
      {(props) => (
        <select {...props} value={value} onChange={(e) => setValue(field, e.target.value)}>
          <option value="">{none}</option>
          {options.map((o) => (
            <option key={o.id} value={o.id}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );

  if (kind === "connection") {
    return idSelect(
      catalog.connections.map((c) => ({ id: c.id, label: `${c.name} (${providerName(c.provider, names)})` })),
      "Choose a connection",
    );
  }
  if (kind === "subscription") {
    return idSelect(
      catalog.subscriptions.map((s) => ({ id: s.id, label: s.description ? `${s.description} — ${s.url}` : s.url })),
      "Choose a subscription",
    );
  }
  if (kind === "agent") return idSelect(catalog.agents.map((a) => ({ id: a.id, label: a.name })), "Choose an agent");
  if (kind === "workflow-config") {
    return idSelect(catalog.workflowConfigs.map((w) => ({ id: w.id, label: w.name })), "Choose a workflow");
  }
  if (kind === "connector-action") {
    const { connection, actions } = connectorActionsFor(catalog, action);
    return (
      <Field label={label} errors={errorsFor(path)} help={actions.find((a) => a.name === value)?.description}>
        {(props) => (
          <select {...props} value={value} onChange={(e) => setValue(field, e.target.value)}>
            <option value="">{connection ? "Choose an action" : "Choose a connection first"}</option>
            {value && !actions.some((a) => a.name === value) ? <option value={value}>{value}</option> : null}
            {actions.map((a) => (
              <option key={a.name} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        )}
      </Field>
    );
  }
  if (kind === "input-map") {
    const spec = actionSpec(catalog, action);
    const names = inputNames(spec, action);
    const own = errorsFor(path);
    return (
      <div className="rb-inputs" role="group" aria-label={`${label} mapping`}>
        <p className="rb-inputs-title">
          <strong>Input</strong> <span className="muted">— each field from the event (a path such as payload.email) or a fixed value</span>
        </p>
        {names.length === 0 ? <p className="muted">Choose a connection and an action to map its input.</p> : null}
        {names.map((name) => {
          const fieldSpec = spec?.input_schema.find((f) => f.name === name);
          return (
            <MappingControl
              key={name}
              label={`Action ${n}: input ${fieldSpec?.label || name}${fieldSpec?.required ? " (required)" : ""}`}
              help={fieldSpec?.help}
              draft={action.inputs[name] ?? { mode: "path", text: "" }}
              errors={errorsFor(`${path}.${name}`)}
              onChange={(draft) => onChange((a) => setActionInput(a, name, draft))}
            />
          );
        })}
        {own.length ? (
          <p className="field-error" role="alert">
            {own.join(" ")}
          </p>
        ) : null}
      </div>
    );
  }
  if (kind === "mapping") {
    return (
      <MappingControl
        label={label}
        draft={action.mappings[field] ?? { mode: "value", text: "" }}
        errors={errorsFor(path, true)}
        onChange={(draft) => onChange((a) => setActionMapping(a, field, draft))}
      />
    );
  }
  return (
    <Field label={label} help="Text, or JSON." errors={errorsFor(path, true)}>
      {(props) => <input {...props} type="text" value={value} onChange={(e) => setValue(field, e.target.value)} />}
    </Field>
  );
}
