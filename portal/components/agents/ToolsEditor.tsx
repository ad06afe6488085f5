"use client";

import Link from "next/link";
import { useMemo, useState } from "react";

import { Badge, Button, EmptyState, FormError } from "@/components/ui";
import { ApiError } from "@/lib/api/errors";
import { useSubmit } from "@/lib/useForm";

import type { AvailableConnection, Grant, Policy } from "./types";

type Pick = { resources: string[]; actions: string[]; policies?: Record<string, Policy>; unattended?: boolean };
type Chosen = Record<number, Pick>;

// The two kinds of grant of a connection, each a group of checkboxes.
const GROUPS = [
  { kind: "resources", what: "data it may read", title: "May read", none: "Nothing to read." },
  { kind: "actions", what: "actions it may perform", title: "May do", none: "No actions." },
] as const;

export function chosenFrom(available: AvailableConnection[]): Chosen {
  const out: Chosen = {};
  for (const item of available) {
    out[item.connection.id] = {
      resources: item.resources.filter((r) => r.granted).map((r) => r.name),
      actions: item.actions.filter((a) => a.granted).map((a) => a.name),
      policies: Object.fromEntries(item.actions.filter((a) => a.granted).map((a) => [a.name, a.policy ?? "allow"])),
      unattended: Boolean(item.allow_unattended_from_rules),
    };
  }
  return out;
}

/** The body of PUT /agents/{id}/tools/: one grant per connection with something ticked, in the page's order. */
export function buildGrants(available: AvailableConnection[], chosen: Chosen): Grant[] {
  const grants: Grant[] = [];
  for (const item of available) {
    const pick = chosen[item.connection.id];
    if (!pick) continue;
    // the order the connector lists them, so that error paths (grants.0.actions.1) point at a stable checkbox
    const resources = item.resources.map((r) => r.name).filter((name) => pick.resources.includes(name));
    const actions = item.actions.map((a) => a.name).filter((name) => pick.actions.includes(name));
    // ask or allow for each granted action; runs started by rules ask before writes unless unattended is set
    const action_policies = Object.fromEntries(
      actions.map((name) => [name, pick.policies?.[name] ?? "allow"] as [string, Policy]),
    );
    const allow_unattended_from_rules = Boolean(pick.unattended) && actions.length > 0;
    if (resources.length || actions.length) {
      grants.push({ connection: item.connection.id, resources, actions, action_policies, allow_unattended_from_rules });
    }
  }
  return grants;
}

function same(a: Chosen, b: Chosen): boolean {
  return JSON.stringify(buildGrantsKey(a)) === JSON.stringify(buildGrantsKey(b));
}

function buildGrantsKey(chosen: Chosen) {
  return Object.keys(chosen)
    .sort()
    .map((id) => {
      const pick = chosen[Number(id)];
      const actions = [...pick.actions].sort();
      return [
        id,
        [...pick.resources].sort(),
        actions,
        actions.map((name) => pick.policies?.[name] ?? "allow"),
        Boolean(pick.unattended) && actions.length > 0,
      ];
    });
}

/** Checkboxes per connection, per resource it may read and per action it may perform. */
export function ToolsEditor({
  available,
  readOnly,
  onSave,
}: {
  available: AvailableConnection[];
  readOnly: boolean;
  onSave: (grants: Grant[]) => Promise<unknown>;
}) {
  const initial = useMemo(() => chosenFrom(available), [available]);
  const [saved, setSaved] = useState<Chosen>(initial);
  const [chosen, setChosen] = useState<Chosen>(initial);
  const [sent, setSent] = useState<Grant[]>([]);
  const [justSaved, setJustSaved] = useState(false);
  const dirty = !same(saved, chosen);
  const { submit, busy, error } = useSubmit(async () => {
    const grants = buildGrants(available, chosen);
    setSent(grants);
    await onSave(grants);
    setSaved(chosen);
    setJustSaved(true);
  });

  if (!available.length) {
    return (
      <EmptyState title="No connections to use as tools">
        Connect a service on the <Link href="/dashboard/connectors">Connectors</Link> page; then you can let this
        agent read its data or perform its actions.
      </EmptyState>
    );
  }

  const toggle = (id: number, kind: "resources" | "actions", name: string, on: boolean) => {
    setChosen((current) => {
      const pick = current[id] ?? { resources: [], actions: [] };
      const list = on ? [...pick[kind], name] : pick[kind].filter((n) => n !== name);
      return { ...current, [id]: { ...pick, [kind]: list } };
    });
    setJustSaved(false);
  };
  const update = (id: number, change: (pick: Pick) => Pick) => {
    setChosen((current) => ({ ...current, [id]: change(current[id] ?? { resources: [], actions: [] }) }));
    setJustSaved(false);
  };
  const errorsOf = (id: number): string[] => {
    if (!(error instanceof ApiError)) return [];
    const index = sent.findIndex((g) => g.connection === id);
    return index < 0 ? [] : error.forField(`grants.${index}`, true);
  };
  const shown = sent.map((_, index) => `grants.${index}`);

  return (
    <form
      aria-label="Tools"
      onSubmit={(event) => {
        event.preventDefault();
        if (dirty && !readOnly) submit();
      }}
    >
      <FormError error={error} shown={shown} />
      <div className="stack">
        {available.map((item) => {
          const id = item.connection.id;
          const pick = chosen[id] ?? { resources: [], actions: [] };
          const errors = errorsOf(id);
          const errorId = `tools-${id}-error`;
          return (
            <fieldset
              key={id}
              className={`agent-tools ${errors.length ? "field-invalid" : ""}`}
              disabled={readOnly}
              aria-describedby={errors.length ? errorId : undefined}
              data-testid={`tools-${id}`}
            >
              <legend>
                {item.connection.name} <span className="muted">({item.connection.provider_name})</span>{" "}
                {item.connection.status !== "active" ? <Badge>{item.connection.status}</Badge> : null}
              </legend>
              <div className="agent-tools-groups">
                {GROUPS.map(({ kind, what, title, none }) => (
                  <div key={kind} role="group" aria-label={`${item.connection.name}: ${what}`}>
                    <p className="agent-tools-title">{title}</p>
                    {item[kind].length ? (
                      item[kind].map((r) => (
                        <label key={r.name} className="checkbox" title={r.description}>
                          <input
                            type="checkbox"
                            checked={pick[kind].includes(r.name)}
                            onChange={(e) => toggle(id, kind, r.name, e.target.checked)}
                          />
                          <span>
                            {r.name}
                            {r.description ? <span className="muted agent-desc"> — {r.description}</span> : null}
                          </span>
                        </label>
                      ))
                    ) : (
                      <p className="muted">{none}</p>
                    )}
                  </div>
                ))}
              </div>
              {pick.actions.length ? (
                <div
                  className="agent-tools-policies"
                  role="group"
                  aria-label={`${item.connection.name}: approvals`}
                  data-testid={`policies-${id}`}
                >
                  <p className="agent-tools-title">Before acting</p>
                  {item.actions
                    .filter((a) => pick.actions.includes(a.name))
                    .map((a) => (
                      <label key={a.name} className="field-inline">
                        <span>{a.name}</span>{" "}
                        <select
                          aria-label={`${a.name}: allow or ask`}
                          value={pick.policies?.[a.name] ?? "allow"}
                          onChange={(e) =>
                            update(id, (p) => ({
                              ...p,
                              policies: { ...(p.policies ?? {}), [a.name]: e.target.value as Policy },
                            }))
                          }
                        >
                          <option value="allow">Allow: perform at once</option>
                          <option value="ask">Ask: wait for a person&apos;s approval</option>
                        </select>
                      </label>
                    ))}
                  <label className="checkbox">
                    <input
                      type="checkbox"
                      checked={Boolean(pick.unattended)}
                      onChange={(e) => update(id, (p) => ({ ...p, unattended: e.target.checked }))}
                    />
                    <span>
                      Runs started by a rule may act unattended
                      <span className="muted agent-desc">
                        {" "}
                        — by default they ask before every action, since rules act on data outsiders sent
                      </span>
                    </span>
                  </label>
                </div>
              ) : null}
              {errors.length ? (
                <p className="field-error" id={errorId} role="alert">
                  {errors.join(" ")}
                </p>
              ) : null}
            </fieldset>
          );
        })}
      </div>
      {readOnly ? null : (
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={busy} disabled={!dirty}>
            {justSaved && !dirty ? "Tools saved" : "Save tools"}
          </Button>
        </div>
      )}
    </form>
  );
}
