// Formatting of values, units and times for people.

const UNIT_LABELS = { degC: "°C", percent: "%", "1/hour": "/h" };

export function unitLabel(unit) {
  if (!unit) return "";
  return UNIT_LABELS[unit] ?? unit;
}

export function formatNumber(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-GB");
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatValue(value, unit) {
  if (value === null || value === undefined) return "—";
  const text = typeof value === "number" ? formatNumber(value) : String(value);
  const label = unitLabel(unit);
  return label ? `${text} ${label}` : text;
}

/** Local wall-clock time of an epoch-seconds timestamp, e.g. "14:03:07". */
export function formatClock(ts) {
  if (ts === null || ts === undefined) return "—";
  return new Date(ts * 1000).toLocaleTimeString("en-GB", { hour12: false });
}

/** Date and time, e.g. "2025-05-01 14:03:07". */
export function formatDateTime(ts) {
  if (ts === null || ts === undefined) return "—";
  const d = new Date(ts * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` + formatClock(ts);
}

/** "3 s ago", "4 min ago" from an epoch-seconds wall-clock time. */
export function formatAge(ts, now = Date.now() / 1000) {
  if (ts === null || ts === undefined) return "never";
  const age = Math.max(0, now - ts);
  if (age < 1) return "just now";
  if (age < 90) return `${Math.round(age)} s ago`;
  if (age < 90 * 60) return `${Math.round(age / 60)} min ago`;
  return `${Math.round(age / 3600)} h ago`;
}

/** A readable label from a snake_case or dotted name: "spindle_temperature" → "Spindle temperature". */
export function humanize(name) {
  const text = String(name).replace(/[._]/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A length of time for people: "45 s", "12 min", "1 h 05 min", "3.2 d". */
export function formatDuration(seconds) {
  if (typeof seconds !== "number" || Number.isNaN(seconds)) return "—";
  if (!Number.isFinite(seconds)) return "beyond the horizon";
  const s = Math.abs(seconds);
  const sign = seconds < 0 ? "−" : "";
  if (s < 90) return `${sign}${Math.round(s)} s`;
  if (s < 3600) return `${sign}${Math.round(s / 60)} min`;
  if (s < 48 * 3600) {
    const hours = Math.floor(s / 3600);
    const minutes = Math.round((s - hours * 3600) / 60);
    return minutes === 60 ? `${sign}${hours + 1} h 00 min` : `${sign}${hours} h ${String(minutes).padStart(2, "0")} min`;
  }
  return `${sign}${(s / 86400).toFixed(1)} d`;
}

/** A share as a percentage: 0.397 → "39.7 %". */
export function formatPercent(share, digits = 1) {
  if (typeof share !== "number" || !Number.isFinite(share)) return "—";
  return `${(share * 100).toFixed(digits)} %`;
}

const UNIT_SUFFIX = /_(s|ms|min|h|mm|m|pct|percent|kw|w|c|degc|rpm|kwh)$/i;

/** A quantity's name without the unit its identifier carries: "tool_life_s" → "Tool life". */
export function quantityName(name) {
  return humanize(String(name).replace(UNIT_SUFFIX, ""));
}
