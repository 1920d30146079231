// Desired-state controls (e.g. the feed-rate override) and commands (start, stop, ...).
//
// Every request shows its outcome where it was made: acknowledged by the asset (with
// the time it took), still pending (the outcome then arrives as an event on the live
// stream), or refused, with the server's own message. Command buttons follow the
// twin's state: outside their allowed states they are marked unavailable and say why.

import { api } from "../api.js";
import { h } from "../dom.js";
import { formatValue, humanize, unitLabel } from "../format.js";
import { errorBox } from "../notices.js";

export const id = "controls";
export const title = "Controls";
export const column = "side";

export function applies(twin, type) {
  return Object.keys(type.desired || {}).length + Object.keys(type.commands || {}).length > 0;
}

const OUTCOMES = new Set(["CommandAcknowledged", "CommandFailed"]);

export async function mount(body, { twin, type, scope }) {
  const outcomes = new Map(); // command id → outcome event data
  const waiting = new Map(); // command id → resolve
  scope.on("event", (m) => {
    if (!OUTCOMES.has(m.kind) || !m.data?.command) return;
    outcomes.set(m.data.command, m);
    const resolve = waiting.get(m.data.command);
    if (resolve) resolve(m);
  });

  function outcomeOf(commandId) {
    if (outcomes.has(commandId)) return Promise.resolve(outcomes.get(commandId));
    return new Promise((resolve) => waiting.set(commandId, resolve));
  }

  /** Send and show the outcome in `result` (a live region). */
  async function send(result, request, what) {
    result.className = "result";
    result.dataset.outcome = "sending";
    result.replaceChildren(`${what}: sending…`);
    try {
      const { status, data } = await request();
      if (status === 202) {
        result.dataset.outcome = "pending";
        result.replaceChildren(`${what}: sent, waiting for the asset's acknowledgement…`);
        const event = await outcomeOf(data.id);
        showOutcome(result, what, event.kind === "CommandAcknowledged", event.data.error, event.data.latency_s);
      } else {
        showOutcome(result, what, true, null, data.finished - data.created);
      }
    } catch (err) {
      result.dataset.outcome = "failed";
      result.className = "result result-error";
      result.replaceChildren(errorBox(err));
    }
  }

  function showOutcome(result, what, ok, error, seconds) {
    result.dataset.outcome = ok ? "acknowledged" : "failed";
    result.className = ok ? "result result-ok" : "result result-error";
    const took = typeof seconds === "number" ? ` in ${Math.round(seconds * 1000)} ms` : "";
    result.replaceChildren(ok ? `${what}: acknowledged by the asset${took}.` : `${what}: failed — ${error || "the asset refused it"}.`);
  }

  const parts = [];
  const desiredRows = new Map();
  for (const [name, spec] of Object.entries(type.desired || {})) {
    const unit = spec.unit;
    const limits = [spec.min, spec.max].every((v) => v !== undefined)
      ? `${formatValue(spec.min)}–${formatValue(spec.max, unit)}`
      : "";
    const inputId = `desired-${twin.id}-${name}`;
    const input = h("input", { id: inputId, name, type: "text", inputmode: "decimal", autocomplete: "off", size: 8, "aria-describedby": `${inputId}-hint` });
    const result = h("div", { class: "result", role: "status", "aria-live": "polite", "data-result": name });
    const current = h("span", { class: "current" });
    const form = h(
      "form",
      { class: "desired", "data-desired": name, novalidate: true },
      h("label", { for: inputId }, humanize(name), unit ? ` (${unitLabel(unit)})` : ""),
      h("div", { class: "desired-row" }, input, h("button", { type: "submit" }, "Set")),
      h("p", { class: "hint", id: `${inputId}-hint` }, [limits ? `Allowed ${limits}. ` : "", capitalize(spec.description || "")]),
      current,
      result,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (text === "") {
        result.className = "result result-error";
        result.dataset.outcome = "failed";
        result.replaceChildren(h("p", { class: "error-box", role: "alert" }, `Enter a value for ${humanize(name).toLowerCase()} first.`));
        input.focus();
        return;
      }
      // a number goes as a number; anything else as typed, and the server says what is wrong
      const value = text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
      send(result, () => api.put(`/twins/${encodeURIComponent(twin.id)}/desired/${encodeURIComponent(name)}`, { value }), `${humanize(name)} → ${text}`);
    });
    desiredRows.set(name, { spec, current });
    parts.push(form);
  }

  const buttons = new Map();
  const commandResult = h("div", { class: "result", role: "status", "aria-live": "polite", "data-result": "commands" });
  for (const [name, spec] of Object.entries(type.commands || {})) {
    const hint = spec.allowed_states ? `allowed when ${spec.allowed_states.join(", ")}` : "";
    const button = h("button", { type: "button", class: "command", "data-command": name, title: [spec.description, hint].filter(Boolean).join(" — ") }, humanize(name));
    button.addEventListener("click", () => {
      if (button.getAttribute("aria-disabled") === "true") {
        const state = twin.reported.state?.value;
        commandResult.className = "result result-error";
        commandResult.dataset.outcome = "refused";
        commandResult.replaceChildren(`${humanize(name)} is not allowed while the twin is ${state ?? "without a state"}; ${hint}.`);
        return;
      }
      if (Object.keys(spec.args || {}).length) {
        commandResult.replaceChildren("This command takes arguments; use the API (see /docs).");
        return;
      }
      send(commandResult, () => api.post(`/twins/${encodeURIComponent(twin.id)}/commands/${encodeURIComponent(name)}`, { args: {} }), humanize(name));
    });
    buttons.set(name, { button, spec });
  }
  if (buttons.size) {
    parts.push(h("div", { class: "commands" }, h("h3", {}, "Commands"), h("div", { class: "command-row" }, [...buttons.values()].map((b) => b.button)), commandResult));
  }

  function refresh() {
    for (const [name, { spec, current }] of desiredRows) {
      const desired = twin.desired?.[name];
      const reported = spec.reported_by ? twin.reported[spec.reported_by] : null;
      current.replaceChildren(
        h("span", {}, "Desired ", h("strong", { "data-desired-value": name }, desired ? formatValue(desired.value, spec.unit) : "not set")),
        " · ",
        h("span", {}, "Reported ", h("strong", { "data-reported-value": name }, reported ? formatValue(reported.value, spec.unit) : "—")),
      );
    }
    const state = twin.reported.state?.value;
    for (const { button, spec } of buttons.values()) {
      const allowed = !spec.allowed_states || spec.allowed_states.includes(state);
      button.setAttribute("aria-disabled", String(!allowed));
    }
  }
  scope.on("telemetry", refresh);
  scope.on("event", (m) => {
    if (m.kind === "DesiredPropertyChanged" && m.data?.name) {
      twin.desired = { ...(twin.desired || {}), [m.data.name]: { value: m.data.value, ts: m.ts, by: m.data.by } };
      refresh();
    }
  });
  refresh();
  body.append(...parts);
  return { destroy() {} };
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
