"use client";

// The portal's small component kit: every page builds on these, so loading, empty and error states, field
// errors and confirmations look and behave the same everywhere.
import { Suspense, useEffect, useId, useRef, useState } from "react";

import { providerName, useConnectorNames } from "@/components/names";
import { ApiError } from "@/lib/api/errors";

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <span className="spinner" role="status" aria-live="polite">
      <span className="visually-hidden">{label}</span>
    </span>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite" data-testid="loading">
      <Spinner label={label} />
      <span>{label}</span>
    </div>
  );
}

/** A page component that reads the URL's search params, rendered inside Suspense with the loading state. */
export function withSuspense(Component: React.ComponentType) {
  return function Suspended() {
    return (
      <Suspense fallback={<Loading />}>
        <Component />
      </Suspense>
    );
  };
}

export function EmptyState({
  title,
  children,
  action,
}: {
  title: string;
  children?: React.ReactNode;
  action?: React.ReactNode;
}) {
  return (
    <div className="state state-empty" data-testid="empty">
      <h3>{title}</h3>
      {children ? <p>{children}</p> : null}
      {action}
    </div>
  );
}

export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  const message = error instanceof Error ? error.message : "Something went wrong.";
  return (
    <div className="state state-error" role="alert" data-testid="error">
      <h3>Could not load this</h3>
      <p>{message}</p>
      {retry ? (
        <button type="button" className="btn" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** Loading, error and empty handling around data from SWR. */
export function Async<T>({
  data,
  error,
  retry,
  empty,
  isEmpty,
  children,
}: {
  data: T | undefined;
  error: unknown;
  retry?: () => void;
  empty?: React.ReactNode;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => React.ReactNode;
}) {
  if (error && data === undefined) return <ErrorState error={error} retry={retry} />;
  if (data === undefined) return <Loading />;
  if (empty && isEmpty?.(data)) return <>{empty}</>;
  return <>{children(data)}</>;
}

type Listing = unknown[] | { count: number; results: unknown[] };

function itemsOf(data: Listing): unknown[] {
  return Array.isArray(data) ? data : data.results;
}

/**
 * Async around a list or a limit-offset page from SWR: empty when it has no items (unless `isEmpty` says
 * otherwise); with `pager`, previous / next under what `children` renders.
 */
export function AsyncList<T extends Listing>({
  query,
  empty,
  isEmpty = (data) => itemsOf(data).length === 0,
  pager,
  children,
}: {
  query: { data: T | undefined; error: unknown; mutate: () => unknown };
  empty: React.ReactNode;
  isEmpty?: (data: T) => boolean;
  pager?: { offset: number; limit: number; onChange: (offset: number) => void };
  children: (data: T) => React.ReactNode;
}) {
  return (
    <Async data={query.data} error={query.error} retry={() => query.mutate()} isEmpty={isEmpty} empty={empty}>
      {(data) => (
        <>
          {children(data)}
          {pager && !Array.isArray(data) ? <Pager {...pager} count={data.count} /> : null}
        </>
      )}
    </Async>
  );
}

export function PageHeader({
  title,
  description,
  actions,
}: {
  title: string;
  description?: React.ReactNode;
  actions?: React.ReactNode;
}) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {description ? <p className="muted">{description}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </header>
  );
}

export function Card({
  title,
  actions,
  children,
  className = "",
}: {
  title?: React.ReactNode;
  actions?: React.ReactNode;
  children: React.ReactNode;
  className?: string;
}) {
  return (
    <section className={`card ${className}`}>
      {title || actions ? (
        <div className="card-header">
          {title ? <h2>{title}</h2> : <span />}
          {actions}
        </div>
      ) : null}
      {children}
    </section>
  );
}

const TONES: Record<string, string> = {
  active: "ok",
  ok: "ok",
  healthy: "ok",
  succeeded: "ok",
  success: "ok",
  delivered: "ok",
  processed: "ok",
  completed: "ok",
  approved: "ok",
  ready: "ok",
  connected: "ok",
  pending: "wait",
  queued: "wait",
  running: "wait",
  waiting_approval: "wait",
  retrying: "wait",
  processing: "wait",
  paused: "wait",
  failed: "bad",
  error: "bad",
  rejected: "bad",
  disabled: "muted",
  revoked: "muted",
  cancelled: "muted",
  canceled: "muted",
  expired: "muted",
};

export function Badge({ children, tone }: { children: React.ReactNode; tone?: string }) {
  const key = typeof children === "string" ? children.toLowerCase() : "";
  return <span className={`badge badge-${tone ?? TONES[key] ?? "neutral"}`}>{children}</span>;
}

export function Button({
  variant = "default",
  busy = false,
  children,
  ...props
}: React.ButtonHTMLAttributes<HTMLButtonElement> & { variant?: "default" | "primary" | "danger" | "ghost"; busy?: boolean }) {
  return (
    <button
      type="button"
      {...props}
      className={`btn btn-${variant} ${props.className ?? ""}`}
      disabled={props.disabled || busy}
      aria-busy={busy || undefined}
    >
      {busy ? <Spinner label="Working" /> : null}
      {children}
    </button>
  );
}

/** A labelled form control with its help text and the API's messages for this field. */
export function Field({
  label,
  help,
  errors,
  children,
  id: givenId,
}: {
  label: React.ReactNode;
  help?: React.ReactNode;
  errors?: string[];
  children: (props: { id: string; "aria-describedby"?: string; "aria-invalid"?: boolean }) => React.ReactNode;
  id?: string;
}) {
  const autoId = useId();
  const id = givenId ?? autoId;
  const describedBy = [help ? `${id}-help` : "", errors?.length ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div className={`field ${errors?.length ? "field-invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-describedby": describedBy || undefined, "aria-invalid": errors?.length ? true : undefined })}
      {help ? (
        <p className="field-help" id={`${id}-help`}>
          {help}
        </p>
      ) : null}
      {errors?.length ? (
        <p className="field-error" id={`${id}-error`} role="alert">
          {errors.join(" ")}
        </p>
      ) : null}
    </div>
  );
}

/** A labelled select narrowing a list: the first option (value "") is `any`, then one per entry of `options`. */
export function FilterSelect({
  label,
  value,
  onChange,
  any,
  options,
  id,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  any: string;
  options: { value: string | number; label: React.ReactNode }[];
  id?: string;
}) {
  return (
    <Field label={label} id={id}>
      {(props) => (
        <select {...props} value={value} onChange={(e) => onChange(e.target.value)}>
          <option value="">{any}</option>
          {options.map((option) => (
            <option key={option.value} value={option.value}>
              {option.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** The error of a form as a whole (a detail message, or field errors no control shows). */
export function FormError({ error, shown = [] }: { error: unknown; shown?: string[] }) {
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <div className="alert alert-error" role="alert">
        {error instanceof Error ? error.message : "Something went wrong."}
      </div>
    );
  }
  const rest = Object.entries(error.fields).filter(([key]) => !shown.some((s) => key === s || key.startsWith(`${s}.`)));
  return (
    <div className="alert alert-error" role="alert">
      <p>{error.message}</p>
      {rest.length ? (
        <ul>
          {rest.map(([key, messages]) => (
            <li key={key}>
              {key === "non_field_errors" ? "" : <code>{key}</code>} {messages.join(" ")}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A modal dialog on the native <dialog> element (focus trap, Escape to close). */
export function Dialog({
  open,
  title,
  onClose,
  children,
  footer,
}: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: React.ReactNode;
  footer?: React.ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal?.() ?? dialog.setAttribute("open", "");
    if (!open && dialog.open) dialog.close?.() ?? dialog.removeAttribute("open");
  }, [open]);
  return (
    <dialog ref={ref} className="dialog" aria-labelledby={titleId} onClose={onClose} onCancel={onClose}>
      <div className="dialog-body">
        <h2 id={titleId}>{title}</h2>
        {open ? children : null}
      </div>
      {footer ? <div className="dialog-footer">{footer}</div> : null}
    </dialog>
  );
}

/**
 * A "New …" button opening a dialog with a form: the form-level error, the fields (children) and a
 * submit / cancel footer. `open` stays with the caller so it can close the dialog after a successful submit.
 */
export function FormDialog({
  label,
  title = label,
  open,
  setOpen,
  onClose,
  onSubmit,
  busy,
  error,
  shown,
  submitLabel,
  children,
}: {
  label: string;
  title?: string;
  open: boolean;
  setOpen: (open: boolean) => void;
  /** Also called when the dialog closes (e.g. to clear the form's error). */
  onClose?: () => void;
  onSubmit: () => unknown;
  busy: boolean;
  error: unknown;
  shown?: string[];
  submitLabel: string;
  children: React.ReactNode;
}) {
  return (
    <>
      <Button variant="primary" onClick={() => setOpen(true)}>
        {label}
      </Button>
      <Dialog
        open={open}
        title={title}
        onClose={() => {
          setOpen(false);
          onClose?.();
        }}
      >
        <form
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            onSubmit();
          }}
        >
          <FormError error={error} shown={shown} />
          {children}
          <div className="form-actions">
            <Button type="submit" variant="primary" busy={busy}>
              {submitLabel}
            </Button>
            <Button onClick={() => setOpen(false)}>Cancel</Button>
          </div>
        </form>
      </Dialog>
    </>
  );
}

/** One <option> per connection ("name (provider)"), for a select whose first option means "none" or "any". */
export function ConnectionOptions({
  connections,
}: {
  connections: { id: number; name: string; provider: string }[] | undefined;
}) {
  const names = useConnectorNames();
  return (
    <>
      {(connections ?? []).map((c) => (
        <option key={c.id} value={c.id}>
          {c.name} ({providerName(c.provider, names)})
        </option>
      ))}
    </>
  );
}

/** A destructive action that asks first. */
export function ConfirmButton({
  label,
  title,
  message,
  confirmLabel,
  onConfirm,
  disabled,
  variant = "danger",
}: {
  label: React.ReactNode;
  title: string;
  message: React.ReactNode;
  confirmLabel?: string;
  onConfirm: () => Promise<unknown> | unknown;
  disabled?: boolean;
  variant?: "danger" | "default" | "primary";
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      setOpen(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button variant={variant} onClick={() => setOpen(true)} disabled={disabled}>
        {label}
      </Button>
      <Dialog
        open={open}
        title={title}
        onClose={() => setOpen(false)}
        footer={
          <>
            <Button onClick={() => setOpen(false)}>Cancel</Button>
            <Button variant={variant} busy={busy} onClick={confirm}>
              {confirmLabel ?? title}
            </Button>
          </>
        }
      >
        <p>{message}</p>
        <FormError error={error} />
      </Dialog>
    </>
  );
}

/** Copies `value` to the clipboard and says so for a moment. */
export function CopyButton({ value, label = "Copy" }: { value: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <Button
      onClick={async () => {
        await navigator.clipboard?.writeText(value).catch(() => undefined);
        setCopied(true);
        setTimeout(() => setCopied(false), 2000);
      }}
      aria-live="polite"
    >
      {copied ? "Copied" : label}
    </Button>
  );
}

/** A value to copy somewhere else (a URL to give a platform): on one scrolling line, with a copy button. */
export function CopyField({ value, label, testId }: { value: string; label: string; testId?: string }) {
  return (
    <div className="copy-field">
      <code data-testid={testId} aria-label={label}>
        {value}
      </code>
      <CopyButton value={value} label={`Copy`} />
    </div>
  );
}

/** A secret the API shows once: visible now, with a copy button and a warning. */
export function SecretOnce({ label, value, onDone }: { label: string; value: string; onDone?: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="secret-once" role="status">
      <p>
        <strong>{label}</strong> — copy it now: it will not be shown again.
      </p>
      <div className="secret-row">
        <code data-testid="secret-value">{value}</code>
        <Button
          onClick={async () => {
            await navigator.clipboard?.writeText(value).catch(() => undefined);
            setCopied(true);
          }}
        >
          {copied ? "Copied" : "Copy"}
        </Button>
        {onDone ? <Button onClick={onDone}>Done</Button> : null}
      </div>
    </div>
  );
}

export function Tabs<T extends string>({
  tabs,
  current,
  onChange,
  label,
}: {
  tabs: { key: T; label: React.ReactNode }[];
  current: T;
  onChange: (key: T) => void;
  label: string;
}) {
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map((tab) => (
        <button
          key={tab.key}
          type="button"
          role="tab"
          aria-selected={tab.key === current}
          className={tab.key === current ? "tab tab-current" : "tab"}
          onClick={() => onChange(tab.key)}
        >
          {tab.label}
        </button>
      ))}
    </div>
  );
}

/** A scrolling table with a caption for screen readers and one header per column (null columns are left out). */
export function Table({
  caption,
  columns,
  testId,
  children,
}: {
  caption?: React.ReactNode;
  columns: React.ReactNode[];
  testId?: string;
  children: React.ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table data-testid={testId}>
        {caption ? <caption className="visually-hidden">{caption}</caption> : null}
        <thead>
          <tr>
            {columns.map((column, i) =>
              column === null || column === undefined || column === false ? null : (
                <th key={i} scope="col">
                  {column}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** Previous / next for limit-offset pages. */
export function Pager({
  offset,
  limit,
  count,
  onChange,
}: {
  offset: number;
  limit: number;
  count: number;
  onChange: (offset: number) => void;
}) {
  if (count <= limit && offset === 0) return null;
  const last = Math.min(offset + limit, count);
  return (
    <nav className="pager" aria-label="Pages">
      <Button disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - limit))}>
        Previous
      </Button>
      <span>
        {count ? offset + 1 : 0}–{last} of {count}
      </span>
      <Button disabled={last >= count} onClick={() => onChange(offset + limit)}>
        Next
      </Button>
    </nav>
  );
}

export function when(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  return (
    <time dateTime={value} title={value}>
      {when(value)}
    </time>
  );
}
