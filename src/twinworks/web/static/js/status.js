// Twin statuses: the words, and whether data is flowing.

export const STATUS_TEXT = {
  running: "running",
  idle: "idle",
  setup: "setup",
  stopped: "stopped",
  fault: "fault",
  stale: "stale data",
  disconnected: "disconnected",
  offline: "no data yet",
  virtual: "virtual",
};

// statuses in which the source is heard from: a value that did not change still holds
const LIVE = new Set(["running", "idle", "setup", "stopped", "fault"]);

export function isLive(status) {
  return LIVE.has(status);
}

/** A badge: colour and text together, so that status never rests on colour alone. */
export function statusBadge(h, status) {
  const s = status || "offline";
  return h("span", { class: "badge", "data-status": s }, STATUS_TEXT[s] ?? s);
}
