// Remaining useful life in words: the names of what an explanation varies, and times.

import { formatClock, formatDuration, formatPercent, humanize, quantityName } from "./format.js";

/** "parameter:tool_life_s" → {label: "Tool life", what: "parameter"}. */
export function contributionLabel(name) {
  const [kind, rest] = String(name).includes(":") ? String(name).split(/:(.*)/s) : [null, String(name)];
  return { label: quantityName(rest), what: kind };
}

/** One planned intervention as a sentence, e.g. for the twin page. */
export function interventionText(item, plan) {
  const action = humanize(item.action || "maintenance").toLowerCase();
  if (item.time_s === null || item.time_s === undefined) {
    return `${action}: not within the planning horizon`;
  }
  const window = item.window === null || item.window === undefined ? null : plan.windows?.[item.window];
  const where = window ? `in maintenance window ${item.window} (${formatClock(window.start)}–${formatClock(window.end)})` : `at ${formatClock(item.at)}`;
  return `${action} ${where}, in ${formatDuration(item.time_s)} of plant time; ` +
    `P(failure before) ${formatPercent(item.failure_probability)}`;
}
