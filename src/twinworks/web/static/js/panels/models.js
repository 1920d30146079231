// Model versions: each model bound to the twin with its current estimates and
// consistency score, and every version with its status, scores and note. Engineers of
// the twin activate a version or roll back (after confirming), or re-fit the model
// now on the data buffered; a refusal shows the server's message. Follows the model
// events (ModelVersionCreated/Activated/Rejected, ModelRolledBack, ModelDriftDetected).

import { api } from "../api.js";
import { confirmAction } from "../confirm.js";
import { fill, h, keepFocus } from "../dom.js";
import { formatDateTime, formatNumber, formatPercent, humanize } from "../format.js";
import { errorBox } from "../notices.js";
import { permission } from "../roles.js";

export const id = "models";
export const title = "Model versions";
export const column = "side";

export function applies(twin, type) {
  return Object.keys(type.models || {}).length > 0;
}

const STATUS_TEXT = { accepted: "accepted", rejected: "rejected", candidate: "candidate" };

/** Validation scores in words (held-out data; lower NLL is better). */
export function scoreText(scores) {
  const s = scores || {};
  const parts = [];
  if (typeof s.holdout_nll === "number") {
    parts.push(`held-out NLL ${formatNumber(s.holdout_nll)}` + (typeof s.active_holdout_nll === "number" ? ` (active then: ${formatNumber(s.active_holdout_nll)})` : ""));
  }
  if (typeof s.holdout_consistency === "number") {
    parts.push(`within χ² bounds ${formatPercent(s.holdout_consistency, 0)}` + (typeof s.active_holdout_consistency === "number" ? ` (active then: ${formatPercent(s.active_holdout_consistency, 0)})` : ""));
  }
  if (typeof s.holdout_samples === "number") parts.push(`${s.holdout_samples} held-out samples`);
  const known = new Set(["holdout_nll", "active_holdout_nll", "holdout_consistency", "active_holdout_consistency", "holdout_samples"]);
  for (const [k, v] of Object.entries(s)) if (!known.has(k) && typeof v === "number") parts.push(`${humanize(k).toLowerCase()} ${formatNumber(v)}`);
  return parts.join(" · ");
}

export async function mount(body, { twin, scope }) {
  const may = await permission("engineer", { twin: twin.id });
  const content = h("div", { class: "models" });
  const result = h("div", { class: "result", role: "status", "aria-live": "polite", "data-result": "models" });
  body.append(content, result);
  if (!may.ok) body.append(h("p", { class: "hint", id: `models-hint-${twin.id}` }, `Choosing versions: ${may.reason}.`));

  function showResult(ok, text, err = null) {
    result.className = ok ? "result result-ok" : "result result-error";
    result.dataset.outcome = ok ? "done" : "failed";
    fill(result, err ? errorBox(err) : text);
  }

  function refuse() {
    result.className = "result result-error";
    result.dataset.outcome = "refused";
    fill(result, `Not sent. ${may.reason}.`);
  }

  function action(label, attrs, run) {
    const button = h("button", { type: "button", "aria-disabled": String(!may.ok), "aria-describedby": may.ok ? null : `models-hint-${twin.id}`, ...attrs }, label);
    button.addEventListener("click", () => (button.getAttribute("aria-disabled") === "true" ? refuse() : run()));
    return button;
  }

  async function activate(model, v, active) {
    const older = active !== null && v.version < active;
    const ok = await confirmAction({
      title: `${older ? "Roll back" : "Activate"} ${model.model} version ${v.version}?`,
      text: `${twin.id} will estimate with version ${v.version} (${v.status}, ${v.source}) instead of version ${active ?? "none"} from its next step.` +
        (v.status === "rejected" ? " This version was rejected: it did not explain held-out data better." : ""),
      confirm: older ? "Roll back" : "Activate",
    });
    if (!ok) return;
    await send(`/twins/${encodeURIComponent(twin.id)}/models/${encodeURIComponent(model.model)}/activate`, { version: v.version }, (data) => `Version ${activeOf(data)} of ${model.model} is active.`);
  }

  async function rollback(model) {
    const ok = await confirmAction({
      title: `Roll back ${model.model}?`,
      text: `${twin.id} returns to the version of ${model.model} that was active before version ${model.active_version}.`,
      confirm: "Roll back",
    });
    if (!ok) return;
    await send(`/twins/${encodeURIComponent(twin.id)}/models/${encodeURIComponent(model.model)}/rollback`, {}, (data) => `Rolled back: version ${activeOf(data)} of ${model.model} is active.`);
  }

  async function calibrate(model) {
    result.className = "result";
    result.dataset.outcome = "sending";
    fill(result, `Re-fitting ${model.model} on the buffered data…`);
    await send(`/twins/${encodeURIComponent(twin.id)}/models/${encodeURIComponent(model.model)}/calibrate`, undefined, (data) =>
      `Version ${data.version} fitted: ${data.accepted ? "better on held-out data, so it is active now" : "not better on held-out data, so it was rejected (it can still be activated)"}.`);
  }

  async function send(path, payload, describe) {
    try {
      const { data } = await api.post(path, payload);
      showResult(true, describe(data));
    } catch (err) {
      showResult(false, null, err);
    }
    await load();
  }

  function activeOf(versions) {
    return (Array.isArray(versions) ? versions : []).find((v) => v.active)?.version ?? "?";
  }

  function render(models) {
    fill(content, models.map((m) => {
      const estimates = Object.entries(m.estimates || {});
      return h(
        "section",
        { class: "model", "data-model": m.model, "aria-label": `Model ${m.model}` },
        h("h3", {}, humanize(m.model), h("span", { class: "muted" }, ` · ${m["library_model"]} · ${m.estimator || "no estimator"}`)),
        h(
          "dl",
          { class: "details" },
          h("dt", {}, "Active version"),
          h("dd", { "data-active-version": m.active_version ?? "" }, m.active_version === null ? "none" : String(m.active_version)),
          h("dt", {}, "Consistency"),
          h("dd", {}, m.consistency === null ? "—" : `${formatPercent(m.consistency, 0)} of recent updates within bounds`),
          estimates.length ? [h("dt", {}, "Estimates"), h("dd", {}, estimates.map(([k, v]) => `${humanize(k)} ${v === null ? "—" : formatNumber(v)}`).join(" · "))] : null,
        ),
        h(
          "div",
          { class: "command-row" },
          action("Roll back", { "data-model-action": "rollback" }, () => rollback(m)),
          m.estimator ? action("Re-fit now", { "data-model-action": "calibrate" }, () => calibrate(m)) : null,
        ),
        h(
          "ol",
          { class: "versions", reversed: true },
          [...m.versions].reverse().map((v) => h(
            "li",
            { "data-version": v.version, "data-status": v.status, "data-active": String(v.active) },
            h(
              "div",
              { class: "version-head" },
              h("strong", {}, `v${v.version}`),
              h("span", { class: "badge version-status", "data-version-status": v.status }, STATUS_TEXT[v.status] ?? v.status),
              v.active ? h("span", { class: "badge", "data-status": "running" }, "active") : action("Activate", { "data-activate": v.version }, () => activate(m, v, m.active_version)),
            ),
            h("p", { class: "hint" }, `${v.source}, ${formatDateTime(v.created)}${v.parent ? `, from v${v.parent}` : ""}${v.note ? ` — ${v.note}` : ""}`),
            scoreText(v.scores) ? h("p", { class: "hint" }, scoreText(v.scores)) : null,
          )),
        ),
      );
    }));
  }

  async function load() {
    try {
      const models = await api.get(`/twins/${encodeURIComponent(twin.id)}/models`);
      keepFocus(content, () => render(models));
      body.dataset.loaded = "true";
    } catch (err) {
      fill(content, errorBox(err));
    }
  }

  scope.on("event", (m) => {
    if (m.twin_id === twin.id && String(m.kind).startsWith("Model")) load();
  });
  scope.on("resync", () => load());
  await load();
  return { destroy() {} };
}
