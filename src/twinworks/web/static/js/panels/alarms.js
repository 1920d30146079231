// Alarms of this twin: those needing attention (active, or cleared but not yet
// acknowledged), most severe first, each with its evidence and an Acknowledge button;
// then every declared alarm and its state. Follows AlarmRaised / AlarmAcknowledged /
// AlarmCleared on the live stream. A user without the operator role on the twin sees
// the button unavailable, with the reason.

import { stateKey, STATE_TEXT, evidenceText } from "../alarm-text.js";
import { api, ApiError } from "../api.js";
import { fill, h, keepFocus } from "../dom.js";
import { formatClock, formatValue, humanize } from "../format.js";
import { errorBox } from "../notices.js";
import { permission } from "../roles.js";
import { severityBadge, worstSeverity } from "../status.js";

export const id = "alarms";
export const title = "Alarms";
export const column = "main";

export function applies(twin, type) {
  return Object.keys(type.alarms || {}).length > 0;
}

export async function mount(body, { twin, type, scope }) {
  const may = await permission("operator", { twin: twin.id });
  const results = new Map(); // alarm name → {ok, text} of the last acknowledgement asked here
  const summary = h("p", { class: "alarm-summary", role: "status", "aria-live": "polite" });
  const list = h("ul", { class: "alarm-list" });
  const all = h("div", { class: "alarm-all" });
  body.append(summary, list, all);

  function unitOf(signal) {
    return type.telemetry?.[signal]?.unit ?? null;
  }

  function render(alarms) {
    const attention = alarms.filter((a) => a.state !== "normal");
    const worst = worstSeverity(attention);
    body.dataset.alarms = String(attention.length);
    fill(
      summary,
      attention.length
        ? [severityBadge(h, worst, `${attention.length} need${attention.length > 1 ? "" : "s"} attention · worst ${worst}`)]
        : "No alarm needs attention.",
    );
    fill(list, attention.map((a) => item(a)));
    list.hidden = attention.length === 0;
    fill(
      all,
      h(
        "details",
        {},
        h("summary", {}, `Declared alarms (${alarms.length})`),
        h(
          "table",
          { class: "compact" },
          h("thead", {}, h("tr", {}, ["Alarm", "Kind", "Severity", "State", "Last value"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, alarms.map((a) => h(
            "tr",
            { "data-declared": a.name },
            h("th", { scope: "row" }, humanize(a.name)),
            h("td", {}, a.kind),
            h("td", {}, a.severity),
            h("td", {}, STATE_TEXT[stateKey(a)] ?? a.state),
            h("td", { class: "nowrap" }, a.value === null ? "—" : formatValue(a.value, a.kind === "anomaly" ? null : unitOf(type.alarms?.[a.name]?.signal))),
          ))),
        ),
      ),
    );
  }

  function item(a) {
    const key = stateKey(a);
    const hintId = `ack-hint-${twin.id}-${a.name}`;
    const result = h("div", { class: "result", role: "status", "aria-live": "polite", "data-ack-result": a.name });
    const last = results.get(a.name);
    if (last) {
      result.className = last.ok ? "result result-ok" : "result result-error";
      result.append(last.ok ? last.text : errorBox(last.error));
      result.dataset.outcome = last.ok ? "acknowledged" : "failed";
    }
    let action = null;
    if (!a.acknowledged) {
      const button = h(
        "button",
        { type: "button", "data-ack": a.name, "aria-disabled": String(!may.ok), "aria-describedby": may.ok ? null : hintId },
        "Acknowledge",
      );
      button.addEventListener("click", () => acknowledge(a, button, result));
      action = h("div", { class: "alarm-actions" }, button, may.ok ? null : h("p", { class: "hint", id: hintId }, may.reason));
    } else if (a.acknowledged_by) {
      action = h("p", { class: "hint" }, `Acknowledged by ${a.acknowledged_by} at ${formatClock(a.acknowledged_at)}; active until its condition clears.`);
    }
    const unit = a.kind === "anomaly" ? null : unitOf(a.evidence?.signal);
    return h(
      "li",
      { class: "alarm", "data-alarm": a.name, "data-state": key, "data-severity": a.severity },
      h(
        "div",
        { class: "alarm-head" },
        severityBadge(h, a.severity),
        h("strong", {}, humanize(a.name)),
        h("span", { class: "alarm-state" }, STATE_TEXT[key] ?? a.state),
      ),
      a.message ? h("p", { class: "alarm-message" }, a.message) : null,
      h(
        "p",
        { class: "alarm-evidence" },
        evidenceText(a.evidence, unit),
        a.raised_at ? ` · raised ${formatClock(a.raised_at)}` : "",
        a.cleared_at && a.state !== "active" ? ` · cleared ${formatClock(a.cleared_at)}` : "",
      ),
      action,
      result,
    );
  }

  async function acknowledge(a, button, result) {
    if (button.getAttribute("aria-disabled") === "true") {
      result.className = "result result-error";
      result.dataset.outcome = "refused";
      result.replaceChildren(`Not sent. ${may.reason}.`);
      return;
    }
    result.className = "result";
    result.dataset.outcome = "sending";
    result.replaceChildren("Acknowledging…");
    try {
      const { data } = await api.post(`/alarms/${encodeURIComponent(twin.id)}/${encodeURIComponent(a.name)}/acknowledge`);
      results.set(a.name, { ok: true, text: `Acknowledged by ${data.acknowledged_by} at ${formatClock(data.acknowledged_at)}.` });
    } catch (err) {
      results.set(a.name, { ok: false, error: err });
    }
    await load();
    // the alarm may have left the list (acknowledged after it cleared): say so at the top
    const last = results.get(a.name);
    if (last?.ok && !list.querySelector(`[data-alarm="${CSS.escape(a.name)}"]`)) {
      summary.append(h("span", { class: "result-ok", "data-ack-result": a.name, "data-outcome": "acknowledged" }, ` ${humanize(a.name)}: ${last.text}`));
    }
  }

  async function load() {
    try {
      const alarms = await api.get("/alarms", { twin_id: twin.id, all: true });
      keepFocus(body, () => render(alarms));
    } catch (err) {
      body.dataset.alarms = "";
      const text = err instanceof ApiError && err.code === "no_alarm_service"
        ? "This server runs no alarm service, so no alarm is evaluated."
        : null;
      fill(summary, text ?? errorBox(err));
      fill(list);
      fill(all);
    }
  }

  let pending = null;
  const reload = () => {
    // several transitions arrive together (raised on one alarm, cleared on another)
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      load();
    }, 150);
  };
  scope.on("event", (m) => {
    if (m.twin_id === twin.id && String(m.kind).startsWith("Alarm")) reload();
  });
  scope.on("resync", reload);
  await load();
  return {
    destroy() {
      if (pending) clearTimeout(pending);
    },
  };
}
