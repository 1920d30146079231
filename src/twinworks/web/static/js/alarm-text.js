// Alarms in words: their ISA-18.2 state and the evidence that raised them.

import { formatNumber, formatValue, humanize } from "./format.js";

export const STATE_TEXT = {
  active_unacknowledged: "active, unacknowledged",
  active_acknowledged: "active, acknowledged",
  cleared_unacknowledged: "cleared, unacknowledged",
  normal: "normal",
};

/** The alarm's state as words, from an alarm of GET /alarms. */
export function stateKey(alarm) {
  if (alarm.state === "active") return alarm.acknowledged ? "active_acknowledged" : "active_unacknowledged";
  return alarm.state;
}

/** What made the alarm: "vibration 12.3 above the high limit 9.5 (dead-band 0.5), held 1.0 s". */
export function evidenceText(evidence, unit = null) {
  const e = evidence || {};
  const held = typeof e.held_s === "number" ? `, held ${formatNumber(e.held_s)} s` : "";
  if (typeof e.score === "number") {
    const parts = (e.contributions || [])
      .slice(0, 3)
      .map((c) => `${humanize(c.signal).toLowerCase()} ${Math.round((100 * c.share) / e.score)} % (${formatNumber(c.value)}, expected ${formatNumber(c.expected)} ± ${formatNumber(c.spread)})`);
    return (
      `anomaly score ${formatNumber(e.score)} above ${formatNumber(e.threshold)}` +
      (typeof e.tail_probability === "number" ? ` (tail probability ${e.tail_probability.toExponential(1)})` : "") +
      (parts.length ? `; shares: ${parts.join(", ")}` : "") +
      held
    );
  }
  if (typeof e.rate === "number") {
    return (
      `${humanize(e.signal || "value").toLowerCase()} changing ${formatNumber(e.rate)}/s ` +
      `(limit ${formatNumber(e.threshold)}/s, ${e.direction || "rise"}) over ${formatNumber(e.window_s)} s, ${e.samples} samples` +
      held
    );
  }
  if (e.limit) {
    const side = e.limit === "high" ? "above the high" : "below the low";
    return (
      `${humanize(e.signal || "value").toLowerCase()} ${formatValue(e.value, unit)} ${side} limit ${formatValue(e.threshold, unit)}` +
      (e.deadband ? ` (dead-band ${formatNumber(e.deadband)})` : "") +
      held
    );
  }
  if (e.by) return `by ${e.by}`;
  if (typeof e.value === "number") return `${humanize(e.signal || "value").toLowerCase()} ${formatValue(e.value, unit)}`;
  return "";
}
