// Schedules as the workflows API stores them: a five-field cron (empty: manual only) in an IANA time zone.
import cronstrue from "cronstrue";

export type Preset = { key: string; label: string; cron: string };

export const PRESETS: Preset[] = [
  { key: "weekends-0900", label: "Weekends at 09:00", cron: "0 9 * * 6,0" },
  { key: "weekdays-0800", label: "Every weekday at 08:00", cron: "0 8 * * 1-5" },
  { key: "daily-0700", label: "Every day at 07:00", cron: "0 7 * * *" },
  { key: "monday-0900", label: "Every Monday at 09:00", cron: "0 9 * * 1" },
  { key: "monthly-first-0900", label: "On the 1st of every month at 09:00", cron: "0 9 1 * *" },
  { key: "hourly", label: "Every hour", cron: "0 * * * *" },
];

export const CUSTOM = "custom";

export function normaliseCron(cron: string): string {
  return cron.trim().split(/\s+/).filter(Boolean).join(" ");
}

/** The preset a cron is, or "custom". */
export function presetOf(cron: string): string {
  const normal = normaliseCron(cron);
  return PRESETS.find((p) => p.cron === normal)?.key ?? CUSTOM;
}

/** The cron in words (a preset's own label, else "At 06:30, only on Monday"), or null when it is not a valid
 * five-field cron. */
export function describeCron(cron: string): string | null {
  const normal = normaliseCron(cron);
  if (!normal) return null;
  if (normal.split(" ").length !== 5) return null;
  const preset = PRESETS.find((p) => p.cron === normal);
  if (preset) return preset.label;
  try {
    return cronstrue.toString(normal, { use24HourTimeFormat: true, throwExceptionOnParseError: true, verbose: false });
  } catch {
    return null;
  }
}

/** A schedule in words for lists: "Manual only", or the cron in words with its time zone. */
export function scheduleInWords(cron: string, timezone: string): string {
  if (!normaliseCron(cron)) return "Manual only";
  return `${describeCron(cron) ?? normaliseCron(cron)} (${timezone})`;
}

export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

const FALLBACK_ZONES = [
  "UTC",
  "Europe/London",
  "Europe/Berlin",
  "Europe/Paris",
  "Europe/Madrid",
  "America/New_York",
  "America/Chicago",
  "America/Los_Angeles",
  "Asia/Kolkata",
  "Asia/Tokyo",
  "Australia/Sydney",
];

/** Every IANA zone the browser knows (with UTC and `include` first-class members of the list). */
export function timeZones(include: string[] = []): string[] {
  let zones: string[] = FALLBACK_ZONES;
  const supported = (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf;
  if (supported) {
    try {
      zones = supported("timeZone");
    } catch {
      zones = FALLBACK_ZONES;
    }
  }
  return Array.from(new Set(["UTC", ...include.filter(Boolean), ...zones])).sort((a, b) =>
    a === "UTC" ? -1 : b === "UTC" ? 1 : a.localeCompare(b),
  );
}

/** A start time as people in `timeZone` read it: "Sat, 9 May 2026, 09:00 CEST". */
export function formatInZone(iso: string, timeZone: string, locale?: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  try {
    return new Intl.DateTimeFormat(locale, {
      timeZone,
      weekday: "short",
      day: "numeric",
      month: "short",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    }).format(date);
  } catch {
    return date.toISOString();
  }
}

export const OVERLAP_POLICIES: { value: "skip" | "buffer_one" | "allow_all" | "cancel_other"; label: string }[] = [
  { value: "skip", label: "Skip the new run while one is still going" },
  { value: "buffer_one", label: "Queue one run to start after the current one" },
  { value: "allow_all", label: "Allow runs to overlap" },
  { value: "cancel_other", label: "Cancel the running one and start the new one" },
];
