// Twin statuses and alarm severities: the words, and whether data is flowing.

export const STATUS_TEXT = {
  running: "running",
  idle: "idle",
  setup: "setup",
  stopped: "stopped",
  alarm: "alarm",
  fault: "fault",
  stale: "stale data",
  disconnected: "disconnected",
  offline: "no data yet",
  virtual: "virtual",
};

// statuses in which the source is heard from: a value that did not change still holds
const LIVE = new Set(["running", "idle", "setup", "stopped", "alarm", "fault"]);

export function isLive(status) {
  return LIVE.has(status);
}

/** A badge: colour and text together, so that status never rests on colour alone. */
export function statusBadge(h, status) {
  const s = status || "offline";
  return h("span", { class: "badge", "data-status": s }, STATUS_TEXT[s] ?? s);
}

// ISA-18.2 priorities, most urgent first
export const SEVERITIES = ["critical", "high", "medium", "low"];

/** The most urgent severity among alarms (null when there are none). */
export function worstSeverity(alarms) {
  let best = null;
  for (const a of alarms) {
    const rank = SEVERITIES.indexOf(a.severity);
    if (rank >= 0 && (best === null || rank < SEVERITIES.indexOf(best))) best = a.severity;
  }
  return best;
}

export function severityBadge(h, severity, text = severity) {
  return h("span", { class: "badge severity", "data-severity": severity }, text);
}
