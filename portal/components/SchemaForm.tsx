"use client";

// A form generated from a connector's config schema (apps/connectors/base.py Field.describe()). Every value goes to
// the API under `config`; the gateway keeps the secret fields apart (encrypted, never returned). Secrets are never
// prefilled: on edit a blank secret means "keep the stored one" and is left out of the request.
import { useState } from "react";

import { Button, Field, FormError } from "@/components/ui";
import type { Schemas } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";

export type ConfigField = Schemas["ConfigField"];
export type SchemaValues = Record<string, string | boolean>;
export type SchemaPayload = { name?: string; config: Record<string, unknown> };

/** The values a form starts with: stored config on edit, the schema's defaults on create, secrets always blank. */
export function initialValues(schema: ConfigField[], config?: Record<string, unknown> | null): SchemaValues {
  const values: SchemaValues = {};
  for (const field of schema) {
    const stored = config?.[field.name];
    const start = field.secret ? undefined : config ? stored : field.default;
    if (field.type === "boolean") values[field.name] = Boolean(start ?? field.default ?? false);
    else values[field.name] = start === undefined || start === null ? "" : String(start);
  }
  return values;
}

/** The request's `config`: typed values; on edit, blank secrets are left out so the stored ones are kept. */
export function buildConfig(schema: ConfigField[], values: SchemaValues, editing: boolean): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const field of schema) {
    const value = values[field.name];
    if (field.type === "boolean") {
      config[field.name] = Boolean(value);
      continue;
    }
    const text = typeof value === "string" ? value : "";
    if (field.secret && text === "" && editing) continue;
    if (text === "" && !field.required) {
      if (!editing) continue;
      config[field.name] = "";
      continue;
    }
    if (field.type === "integer" && /^-?\d+$/.test(text.trim())) config[field.name] = Number(text.trim());
    else config[field.name] = text;
  }
  return config;
}

/** The API's messages for one schema field: `config.<name>` (what the gateway sends) or `credentials.<name>`. */
export function schemaFieldErrors(error: unknown, name: string): string[] {
  if (!(error instanceof ApiError)) return [];
  return [...error.forField(`config.${name}`, true), ...error.forField(`credentials.${name}`, true)];
}

const INPUT_TYPES: Record<string, string> = { url: "url", email: "email", integer: "number", secret: "password" };

// The visible "*" of a required field comes from CSS (globals.css, connectors block) so the label's text stays the
// field's name for assistive technology, which reads `aria-required` instead.
function Label({ field }: { field: ConfigField }) {
  return <>{field.label}</>;
}

export function SchemaFields({
  schema,
  values,
  onChange,
  error,
  secretsSet,
  disabled,
}: {
  schema: ConfigField[];
  values: SchemaValues;
  onChange: (name: string, value: string | boolean) => void;
  error?: unknown;
  /** Which secrets the connection has stored (the API's `secrets`: name -> mask or null). */
  secretsSet?: Record<string, string | null>;
  disabled?: boolean;
}) {
  return (
    <>
      {schema.map((field) => {
        const errors = schemaFieldErrors(error, field.name);
        const stored = field.secret && Boolean(secretsSet?.[field.name]);
        const help = [field.help, stored ? "A value is stored; leave blank to keep it." : ""]
          .filter(Boolean)
          .map((text, i, all) => (i < all.length - 1 && !/[.!?)]$/.test(text.trim()) ? `${text.trim()}.` : text.trim()))
          .join(" ");
        if (field.type === "boolean") {
          return (
            <Field key={field.name} label={<Label field={field} />} help={help || undefined} errors={errors}>
              {(props) => (
                <input
                  {...props}
                  type="checkbox"
                  name={field.name}
                  checked={Boolean(values[field.name])}
                  disabled={disabled}
                  onChange={(e) => onChange(field.name, e.target.checked)}
                />
              )}
            </Field>
          );
        }
        const common = {
          name: field.name,
          value: String(values[field.name] ?? ""),
          disabled,
          required: field.required && !stored,
          "aria-required": field.required && !stored ? true : undefined,
        };
        return (
          <Field key={field.name} label={<Label field={field} />} help={help || undefined} errors={errors}>
            {(props) =>
              field.type === "choice" ? (
                <select {...props} {...common} onChange={(e) => onChange(field.name, e.target.value)}>
                  {!field.required || field.default === null ? <option value="">—</option> : null}
                  {field.choices.map((choice) => (
                    <option key={choice} value={choice}>
                      {choice}
                    </option>
                  ))}
                </select>
              ) : field.type === "text" ? (
                <textarea {...props} {...common} onChange={(e) => onChange(field.name, e.target.value)} />
              ) : (
                <input
                  {...props}
                  {...common}
                  type={INPUT_TYPES[field.type] ?? "text"}
                  autoComplete={field.secret ? "new-password" : "off"}
                  placeholder={stored ? "•••••••• (unchanged)" : undefined}
                  onChange={(e) => onChange(field.name, e.target.value)}
                />
              )
            }
          </Field>
        );
      })}
    </>
  );
}

/** A whole form: optional connection name, the schema's fields, the API's errors, and a submit button. */
export function SchemaForm({
  schema,
  config,
  secretsSet,
  name,
  editing = false,
  readOnly = false,
  busy = false,
  error,
  submitLabel = "Save",
  onSubmit,
  footer,
}: {
  schema: ConfigField[];
  /** The stored (non-secret) config on edit. */
  config?: Record<string, unknown> | null;
  secretsSet?: Record<string, string | null>;
  /** When given, a "Connection name" field comes first (its errors are at `name`). */
  name?: string;
  editing?: boolean;
  readOnly?: boolean;
  busy?: boolean;
  error?: unknown;
  submitLabel?: string;
  onSubmit: (payload: SchemaPayload) => unknown;
  footer?: React.ReactNode;
}) {
  const [values, setValues] = useState<SchemaValues>(() => initialValues(schema, editing ? (config ?? {}) : null));
  const [label, setLabel] = useState(name ?? "");
  const shown = ["name", ...schema.flatMap((f) => [`config.${f.name}`, `credentials.${f.name}`])];
  return (
    <form
      className="schema-form"
      noValidate
      aria-label={editing ? "Connection settings" : "Connect"}
      onSubmit={(event) => {
        event.preventDefault();
        if (readOnly) return;
        const payload: SchemaPayload = { config: buildConfig(schema, values, editing) };
        if (name !== undefined) payload.name = label;
        onSubmit(payload);
      }}
    >
      <FormError error={error} shown={shown} />
      {name !== undefined ? (
        <Field
          label="Connection name"
          help="How this connection is shown across the portal."
          errors={error instanceof ApiError ? error.forField("name") : []}
        >
          {(props) => (
            <input
              {...props}
              type="text"
              name="name"
              required
              aria-required
              value={label}
              disabled={readOnly}
              onChange={(e) => setLabel(e.target.value)}
            />
          )}
        </Field>
      ) : null}
      <SchemaFields
        schema={schema}
        values={values}
        secretsSet={secretsSet}
        error={error}
        disabled={readOnly}
        onChange={(field, value) => setValues((current) => ({ ...current, [field]: value }))}
      />
      {schema.some((f) => f.required) ? (
        <p className="muted small">
          <span aria-hidden="true">*</span> Required
        </p>
      ) : null}
      {readOnly ? null : (
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={busy}>
            {submitLabel}
          </Button>
          {footer}
        </div>
      )}
    </form>
  );
}
