"use client";

// The schedule of a workflow: manual only, or a cron (a preset or a custom expression) in a time zone, with the
// next start times the API computed for the saved schedule, shown in that zone.
import { useMemo, useState } from "react";
import useSWR from "swr";

import { Field } from "@/components/ui";
import { READ_ONLY, api, unwrap } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";

import {
  CUSTOM,
  PRESETS,
  describeCron,
  formatInZone,
  normaliseCron,
  presetOf,
  timeZones,
} from "./schedule";

export type ScheduleValue = { cron: string; timezone: string };

export function NextRuns({
  runs,
  timezone,
  locale,
  empty = "No upcoming runs.",
}: {
  runs: string[];
  timezone: string;
  locale?: string;
  empty?: string;
}) {
  if (!runs.length) return <p className="muted">{empty}</p>;
  return (
    <ol className="wf-next-runs" data-testid="next-runs" aria-label={`Next runs (${timezone})`}>
      {runs.map((iso) => (
        <li key={iso}>
          <time dateTime={iso}>{formatInZone(iso, timezone, locale)}</time>
        </li>
      ))}
    </ol>
  );
}

export function ScheduleEditor({
  value,
  onChange,
  saved,
  errors = {},
  disabled = false,
  locale,
}: {
  value: ScheduleValue;
  onChange: (value: ScheduleValue) => void;
  /** The saved schedule and the next runs the API computed for it. */
  saved?: ScheduleValue & { nextRuns: string[]; enabled: boolean };
  errors?: { schedule_cron?: string[]; timezone?: string[] };
  disabled?: boolean;
  locale?: string;
}) {
  // the mode is the editor's own: clearing a custom cron while typing must not flip it to manual only
  const [scheduled, setScheduled] = useState(() => normaliseCron(value.cron) !== "");
  const [custom, setCustom] = useState(() => scheduled && presetOf(value.cron) === CUSTOM);
  const [lastCron, setLastCron] = useState(scheduled ? value.cron : PRESETS[0].cron);
  const zones = useMemo(() => timeZones([value.timezone]), [value.timezone]);
  const words = describeCron(value.cron);
  const selected = custom ? CUSTOM : presetOf(value.cron);

  const setMode = (mode: "manual" | "cron") => {
    if (mode === "manual") {
      if (scheduled && normaliseCron(value.cron)) setLastCron(value.cron);
      setScheduled(false);
      onChange({ ...value, cron: "" });
    } else if (!scheduled) {
      setScheduled(true);
      onChange({ ...value, cron: lastCron || PRESETS[0].cron });
    }
  };
  const choose = (key: string) => {
    if (key === CUSTOM) {
      setCustom(true);
      return;
    }
    setCustom(false);
    const preset = PRESETS.find((p) => p.key === key);
    if (preset) onChange({ ...value, cron: preset.cron });
  };

  const savedMatches =
    saved !== undefined &&
    normaliseCron(saved.cron) === normaliseCron(value.cron) &&
    saved.timezone === value.timezone;

  return (
    <fieldset className="wf-schedule" disabled={disabled}>
      <legend>Schedule</legend>
      <div className="wf-radios" role="radiogroup" aria-label="When it runs">
        <label className="checkbox">
          <input type="radio" name="schedule-mode" checked={!scheduled} onChange={() => setMode("manual")} />
          Manual only (run it with “Run now” or from a rule)
        </label>
        <label className="checkbox">
          <input type="radio" name="schedule-mode" checked={scheduled} onChange={() => setMode("cron")} />
          On a schedule
        </label>
      </div>
      {scheduled ? (
        <>
          <Field label="Repeat" errors={custom ? undefined : errors.schedule_cron}>
            {(props) => (
              <select {...props} value={selected} onChange={(e) => choose(e.target.value)}>
                {PRESETS.map((p) => (
                  <option key={p.key} value={p.key}>
                    {p.label}
                  </option>
                ))}
                <option value={CUSTOM}>Custom cron expression</option>
              </select>
            )}
          </Field>
          {custom ? (
            <Field
              label="Cron expression"
              help="Five fields: minute hour day-of-month month day-of-week, e.g. 0 9 * * 6,0 (weekends at 09:00)."
              errors={errors.schedule_cron}
            >
              {(props) => (
                <input
                  {...props}
                  type="text"
                  className="wf-mono"
                  value={value.cron}
                  spellCheck={false}
                  autoComplete="off"
                  onChange={(e) => onChange({ ...value, cron: e.target.value })}
                />
              )}
            </Field>
          ) : null}
          <p className="wf-words" data-testid="schedule-words" aria-live="polite">
            {words ? (
              <>
                {words} <span className="muted">({value.timezone})</span> · <code>{normaliseCron(value.cron)}</code>
              </>
            ) : (
              <span className="field-error">Not a valid five-field cron expression.</span>
            )}
          </p>
        </>
      ) : null}
      <Field
        label="Time zone"
        help={scheduled ? "The schedule's times are in this zone (daylight saving time included)." : undefined}
        errors={errors.timezone}
      >
        {(props) => (
          <select {...props} value={value.timezone} onChange={(e) => onChange({ ...value, timezone: e.target.value })}>
            {zones.map((zone) => (
              <option key={zone} value={zone}>
                {zone}
              </option>
            ))}
          </select>
        )}
      </Field>
      {scheduled ? (
        <section className="wf-next" aria-label="Next runs">
          <h3>Next runs</h3>
          {savedMatches && saved ? (
            <NextRuns
              runs={saved.nextRuns}
              timezone={value.timezone}
              locale={locale}
              empty={saved.enabled ? "No upcoming runs." : "Paused: no runs until it is resumed."}
            />
          ) : (
            <PreviewRuns cron={value.cron} timezone={value.timezone} locale={locale} />
          )}
        </section>
      ) : null}
    </fieldset>
  );
}

/** The next runs of a schedule not saved yet, computed by the gateway (the same rules as the saved schedule). */
function PreviewRuns({ cron, timezone, locale }: { cron: string; timezone: string; locale?: string }) {
  const normalised = normaliseCron(cron);
  const { data, error } = useSWR(
    normalised ? ["workflows:schedule-preview", normalised, timezone] : null,
    () =>
      unwrap(
        api.POST("/api/v1/workflows/configs/preview-schedule/", {
          ...READ_ONLY,
          body: { schedule_cron: normalised, timezone },
        }),
      ),
    { revalidateOnFocus: false, shouldRetryOnError: false },
  );
  if (!normalised) return <p className="muted">Choose when it runs to see the next runs.</p>;
  if (error) {
    const message =
      error instanceof ApiError ? [...error.forField("schedule_cron"), ...error.forField("timezone")][0] : undefined;
    return (
      <p className="muted" data-testid="next-runs-pending">
        {message ?? "The next runs cannot be shown right now."}
      </p>
    );
  }
  if (!data) {
    return (
      <p className="muted" data-testid="next-runs-pending" role="status">
        Working out the next runs…
      </p>
    );
  }
  return <NextRuns runs={data.next_runs} timezone={timezone} locale={locale} empty="No upcoming runs." />;
}
