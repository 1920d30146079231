// The event log: filters by kind, twin and time (kept in the address, so a filtered
// view can be linked), newest first, and new events arrive live.
// Bad filter values are sent as typed; the server's message says what is wrong.

import { api } from "../api.js";
import { fill, h } from "../dom.js";
import { evidenceText } from "../alarm-text.js";
import { formatClock, formatDateTime, formatPercent } from "../format.js";
import { LiveScope } from "../live.js";
import { errorBox } from "../notices.js";

// the kinds the runtime records (twinworks.runtime.events); others are added as seen
export const KNOWN_KINDS = [
  "CommandSent",
  "CommandAcknowledged",
  "CommandFailed",
  "CommandRejected",
  "DesiredPropertyChanged",
  "StateChanged",
  "TelemetryRejected",
  "ConnectorConnected",
  "ConnectorDisconnected",
  "TwinRegistered",
  "TwinUpdated",
  "DefinitionLoaded",
  "RuntimeStarted",
  "RuntimeStopped",
  // health services
  "AlarmRaised",
  "AlarmAcknowledged",
  "AlarmCleared",
  "MaintenanceRecommended",
  // models
  "ModelDriftDetected",
  "ModelFailed",
  "ModelVersionCreated",
  "ModelVersionActivated",
  "ModelVersionRejected",
  "ModelRolledBack",
  // production
  "WhatIfCompleted",
  "ScheduleCreated",
  "ScheduleRevised",
];

const SEVERE = new Set(["CommandFailed", "CommandRejected", "TelemetryRejected", "ConnectorDisconnected", "AlarmRaised", "ModelDriftDetected", "ModelFailed"]);
const PAGE = 200;

/** A short, readable summary of an event's data. */
export function summary(event) {
  const d = event.data || {};
  switch (event.kind) {
    case "StateChanged":
      return `${d.from} → ${d.to}`;
    case "DesiredPropertyChanged":
      return `${d.name} = ${d.value} (by ${d.by})`;
    case "CommandSent":
      return `${d.name}${d.args && Object.keys(d.args).length ? " " + JSON.stringify(d.args) : ""}`;
    case "CommandAcknowledged":
      return `${d.name}${d.args?.value !== undefined ? " = " + d.args.value : ""} acknowledged in ${Math.round((d.latency_s || 0) * 1000)} ms`;
    case "CommandFailed":
      return `${d.name}: ${d.error}`;
    case "CommandRejected":
      return d.reason || d.error || "";
    case "TelemetryRejected":
      return `${d.signal}: ${d.message}`;
    case "ConnectorConnected":
    case "ConnectorDisconnected":
      return `${d.connector}${d.error ? ": " + d.error : ""}`;
    case "AlarmRaised":
      return `${d.alarm} (${d.severity}): ${evidenceText(d.evidence)}`;
    case "AlarmAcknowledged":
      return `${d.alarm} acknowledged by ${d.evidence?.by ?? "?"} (${d.state})`;
    case "AlarmCleared":
      return `${d.alarm} cleared (${d.state})`;
    case "MaintenanceRecommended":
      return `${d.action ?? "maintenance"} at ${formatClock(d.at)}${d.window !== null && d.window !== undefined ? ` (window ${d.window})` : ""}, P(failure before) ${formatPercent(d.failure_probability)}`;
    case "ModelVersionCreated":
      return `${d.model} v${d.version} (${d.source})${d.by ? ` by ${d.by}` : ""}`;
    case "ModelVersionActivated":
      return `${d.model} v${d.version} active${d.previous ? ` (was v${d.previous})` : ""}${d.by ? ` by ${d.by}` : d.reason ? `: ${d.reason}` : ""}`;
    case "ModelVersionRejected":
      return `${d.model} v${d.version} rejected: ${d.reason}`;
    case "ModelRolledBack":
      return `${d.model} v${d.from} → v${d.to}${d.by ? ` by ${d.by}` : ""}`;
    case "ScheduleCreated":
      return `plan revision ${d.revision}: ${d.jobs} jobs, ${d.operations} operations${d.by ? ` by ${d.by}` : ""}`;
    case "ScheduleRevised":
      return `plan revision ${d.revision}: ${d.moved} moved, ${d.kept} kept${d.by ? ` by ${d.by}` : ""}`;
    default: {
      const text = Object.entries(d).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
      return text.length > 160 ? text.slice(0, 157) + "…" : text;
    }
  }
}

export function eventTableHead(withTwin = true) {
  return h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Kind"), withTwin ? h("th", { scope: "col" }, "Twin") : null, h("th", { scope: "col" }, "Details")));
}

export function eventRow(e, withTwin = true) {
  return h(
    "tr",
    { "data-event-id": e.id, "data-kind": e.kind, class: SEVERE.has(e.kind) ? "severe" : null },
    h("td", { class: "nowrap" }, formatDateTime(e.ts)),
    h("td", {}, e.kind),
    withTwin ? h("td", {}, e.twin_id ? h("a", { href: `#/twin/${encodeURIComponent(e.twin_id)}` }, e.twin_id) : "—") : null,
    h("td", {}, summary(e)),
  );
}

export async function mount(main, { query, ctx }) {
  const filters = {
    kind: query.get("kind") || "",
    twin: query.get("twin") || "",
    since: query.get("since") || "",
    until: query.get("until") || "",
  };
  let limit = PAGE;
  const scope = new LiveScope(ctx.live);
  const twins = await api.get("/twins");
  const kinds = [...new Set([...KNOWN_KINDS, filters.kind].filter(Boolean))];

  const kindSelect = h("select", { id: "f-kind", name: "kind" }, h("option", { value: "" }, "all kinds"), kinds.map((k) => h("option", { value: k, selected: k === filters.kind }, k)));
  const twinSelect = h("select", { id: "f-twin", name: "twin" }, h("option", { value: "" }, "all twins"), twins.map((t) => h("option", { value: t.id, selected: t.id === filters.twin }, `${t.id} — ${t.name}`)));
  const since = h("input", { id: "f-since", name: "since", type: "text", value: filters.since, placeholder: "e.g. 10m or 2025-05-01T08:00", "aria-describedby": "f-time-hint" });
  const until = h("input", { id: "f-until", name: "until", type: "text", value: filters.until, placeholder: "e.g. now", "aria-describedby": "f-time-hint" });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Event filters" },
    h("div", {}, h("label", { for: "f-kind" }, "Kind"), kindSelect),
    h("div", {}, h("label", { for: "f-twin" }, "Twin"), twinSelect),
    h("div", {}, h("label", { for: "f-since" }, "Since"), since),
    h("div", {}, h("label", { for: "f-until" }, "Until"), until),
    h("div", { class: "filter-actions" }, h("button", { type: "submit" }, "Apply"), h("a", { href: "#/events", class: "button-link" }, "Clear")),
    h("p", { class: "hint", id: "f-time-hint" }, "Times: an age such as 10m or 2h, ISO 8601, seconds since the epoch, or now."),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (kindSelect.value) q.set("kind", kindSelect.value);
    if (twinSelect.value) q.set("twin", twinSelect.value);
    if (since.value.trim()) q.set("since", since.value.trim());
    if (until.value.trim()) q.set("until", until.value.trim());
    const next = "#/events" + (q.toString() ? "?" + q : "");
    if (window.location.hash === next) load();
    else window.location.hash = next;
  });

  const status = h("div", { class: "event-status", role: "status", "aria-live": "polite" });
  const tbody = h("tbody", {});
  const table = h("table", { class: "events" }, h("caption", { class: "visually-hidden" }, "Events, newest first"), eventTableHead(true), tbody);
  const more = h("button", { type: "button", hidden: true }, "Show older events");
  more.addEventListener("click", () => {
    limit = Math.min(limit + PAGE, 10000);
    load();
  });

  function showCount() {
    const n = tbody.children.length;
    fill(status, n ? `${n} event${n > 1 ? "s" : ""}` + (filters.until ? "" : ", live") : "No events match these filters.");
  }

  async function load() {
    try {
      const events = await api.get("/events", {
        kind: filters.kind || null,
        twin_id: filters.twin || null,
        since: filters.since || null,
        until: filters.until || null,
        limit,
      });
      fill(tbody, events.map((e) => eventRow(e)));
      showCount();
      more.hidden = events.length < limit;
      main.dataset.loaded = "true";
    } catch (err) {
      fill(tbody);
      fill(status, errorBox(err));
      more.hidden = true;
      main.dataset.loaded = "error";
    }
  }

  scope.on("event", (m) => {
    if (filters.until || main.dataset.loaded !== "true") return; // a closed range does not grow
    if (filters.kind && m.kind !== filters.kind) return;
    if (filters.twin && m.twin_id !== filters.twin) return;
    tbody.prepend(eventRow(m));
    while (tbody.children.length > limit) tbody.lastElementChild.remove();
    showCount();
  });
  scope.on("resync", () => load());

  fill(main, h("h1", {}, "Event log"), form, status, table, more);
  main.dataset.page = "events";
  await load();
  return () => scope.close();
}
