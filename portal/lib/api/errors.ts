// The gateway answers errors as DRF does: {"detail": "..."} or field errors {"field": ["message"], ...},
// nested for nested input ({"grants": [{"actions": ["..."]}]}) or already dotted ("grants.0.actions.1").
// A quota refusal (429 or 403) is {"detail", "code": "quota_exceeded", "limit", "limit_value", "usage",
// "retry_after"}: its detail says it all, and its other members are not field errors.

export type FieldErrors = Record<string, string[]>;

export class ApiError extends Error {
  status: number;
  fields: FieldErrors;
  body: unknown;

  constructor(status: number, body: unknown) {
    const quota = typeof body === "object" && body !== null && (body as { code?: unknown }).code === "quota_exceeded";
    const fields = quota ? {} : flattenErrors(body);
    const detail =
      typeof body === "object" && body !== null && typeof (body as { detail?: unknown }).detail === "string"
        ? (body as { detail: string }).detail
        : undefined;
    super(detail || fields.non_field_errors?.[0] || defaultMessage(status, fields));
    this.status = status;
    this.fields = fields;
    this.body = body;
  }

  /** Messages for one field (dotted path), or for everything under it when `nested` is set. */
  forField(path: string, nested = false): string[] {
    if (!nested) return this.fields[path] ?? [];
    return Object.entries(this.fields)
      .filter(([key]) => key === path || key.startsWith(`${path}.`))
      .flatMap(([, messages]) => messages);
  }
}

function defaultMessage(status: number, fields: FieldErrors): string {
  if (status === 0) return "The portal cannot reach the server. Check your connection and try again.";
  if (status === 400 && Object.keys(fields).length) return "Please correct the highlighted fields.";
  if (status === 401) return "Your session has ended. Please log in again.";
  if (status === 403) return "Your role does not allow this.";
  if (status === 404) return "Not found. It may have been deleted.";
  if (status === 429) return "Too many requests. Please wait a moment and try again.";
  if (status >= 500) return "Something went wrong on our side. Please try again.";
  return `The request failed (${status}).`;
}

export function flattenErrors(body: unknown, prefix = ""): FieldErrors {
  const out: FieldErrors = {};
  const add = (key: string, message: string) => {
    (out[key] ??= []).push(message);
  };
  const walk = (value: unknown, path: string) => {
    if (typeof value === "string") {
      add(path || "non_field_errors", value);
    } else if (Array.isArray(value)) {
      if (value.every((item) => typeof item === "string")) value.forEach((item) => add(path || "non_field_errors", item));
      else value.forEach((item, index) => walk(item, path ? `${path}.${index}` : String(index)));
    } else if (typeof value === "object" && value !== null) {
      for (const [key, inner] of Object.entries(value)) {
        if (key === "detail" && !path) continue;
        walk(inner, path ? `${path}.${key}` : key);
      }
    }
  };
  walk(body, prefix);
  return out;
}
