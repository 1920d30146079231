// What-if: a scenario (feed-rate change, maintenance at a time, extra shift, rush
// order, …) run against copies of the line forked from the twins' live state; nothing
// on the plant changes. Baseline and scenario are replicated with common random
// numbers, and each KPI is shown for both with its confidence interval, with the
// paired difference and a verdict. The result stays in the address (?result=<id>),
// so it can be linked, and links to the server's full report.

import { API, api } from "../api.js";
import { fill, h } from "../dom.js";
import { formatClock, formatNumber } from "../format.js";
import { errorBox } from "../notices.js";
import { permission } from "../roles.js";

const CHANGE_TYPES = {
  feed_rate: { label: "Feed-rate change", fields: ["station", "percent", "at"] },
  maintenance: { label: "Maintenance at a time", fields: ["station", "at", "duration"] },
  extra_shift: { label: "Extra shift", fields: ["at", "duration"] },
  rush_order: { label: "Rush order", fields: ["product", "quantity", "at", "due_in", "priority"] },
};

const FIELD = {
  station: { label: "Station", kind: "station" },
  product: { label: "Product", kind: "product" },
  percent: { label: "Feed (%)", placeholder: "85" },
  at: { label: "At (from now)", placeholder: "0, 30m or 2h" },
  duration: { label: "Duration", placeholder: "45m" },
  quantity: { label: "Quantity", placeholder: "6" },
  due_in: { label: "Due in", placeholder: "1.5h" },
  priority: { label: "Priority", placeholder: "10" },
};

// scenarios to start from (they name the demo cell's stations and product where they
// exist; the form shows what the line has)
const PRESETS = {
  slow: {
    name: "Slow the last station to 85 % feed",
    horizon: "8h",
    changes: (line) => [{ type: "feed_rate", station: line.stations.at(-1), percent: 85, at: "0" }],
  },
  service: {
    name: "Service a station in 1 h for 45 min",
    horizon: "8h",
    changes: (line) => [{ type: "maintenance", station: line.stations[1] ?? line.stations[0], at: "1h", duration: "45m" }],
  },
  rush: {
    name: "Rush order of 6 parts",
    horizon: "8h",
    changes: (line) => [{ type: "rush_order", product: line.products[0], quantity: 6, at: "30m", due_in: "1.5h", priority: 10 }],
  },
  shift: {
    name: "Extra shift tonight",
    horizon: "24h",
    changes: () => [{ type: "extra_shift", at: "8h", duration: "8h" }],
  },
};

/** A value typed in a form, as the API takes it: numbers as numbers, the rest as typed. */
export function typed(text) {
  const t = String(text).trim();
  return t !== "" && Number.isFinite(Number(t)) ? Number(t) : t;
}

function kpiValue(stats, unit) {
  if (!stats) return "—";
  const share = unit === "";
  const f = (v) => (share ? `${formatNumber(100 * v)}` : formatNumber(v));
  return `${f(stats.mean)} [${f(stats.low)}, ${f(stats.high)}]`;
}

export async function mount(main, { query }) {
  const may = await permission("operator", "anywhere");
  let line = { stations: [], products: [] };
  let lineError = null;
  try {
    const got = await api.get("/production/line");
    line = { stations: Object.keys(got.stations), products: Object.keys(got.products) };
  } catch (err) {
    lineError = err;
  }

  let counter = 0;
  const changesEl = h("ol", { class: "changes" });
  const name = h("input", { id: "wi-name", type: "text", value: PRESETS.slow.name, size: 36 });
  const horizon = h("input", { id: "wi-horizon", type: "text", value: "8h", size: 6 });
  const replications = h("input", { id: "wi-replications", type: "text", inputmode: "numeric", value: "10", size: 4 });
  const seed = h("input", { id: "wi-seed", type: "text", inputmode: "numeric", value: "1", size: 6 });
  const preset = h(
    "select",
    { id: "wi-preset" },
    h("option", { value: "" }, "— choose a scenario to start from —"),
    Object.entries(PRESETS).map(([k, p]) => h("option", { value: k }, p.name)),
  );
  const addType = h("select", { id: "wi-add-type", "aria-label": "Kind of change to add" }, Object.entries(CHANGE_TYPES).map(([k, t]) => h("option", { value: k }, t.label)));
  const addButton = h("button", { type: "button" }, "Add change");
  const runHint = may.ok ? null : h("p", { class: "hint", id: "wi-run-hint" }, may.reason);
  const run = h("button", { type: "submit", class: "primary", "aria-disabled": String(!may.ok), "aria-describedby": may.ok ? null : "wi-run-hint" }, "Run what-if");
  const status = h("div", { class: "result", role: "status", "aria-live": "polite", "data-result": "whatif" });
  const results = h("div", { class: "whatif-results" });
  const pasted = h("textarea", { id: "wi-json", rows: 8, cols: 60, spellcheck: "false", placeholder: '{"name": "…", "horizon": "8h", "replications": 10, "changes": [{"type": "feed_rate", "station": "cnc3", "percent": 85}]}' });
  const runPasted = h("button", { type: "button", "aria-disabled": String(!may.ok), "aria-describedby": may.ok ? null : "wi-run-hint" }, "Run pasted scenario");

  function fieldControl(field, value, idBase) {
    const spec = FIELD[field];
    const id = `${idBase}-${field}`;
    let control;
    if (spec.kind === "station" || spec.kind === "product") {
      const options = spec.kind === "station" ? line.stations : line.products;
      control = h("select", { id, "data-field": field }, options.map((o) => h("option", { value: o, selected: o === value }, o)));
    } else {
      control = h("input", { id, type: "text", "data-field": field, value: value ?? "", placeholder: spec.placeholder, size: 7 });
    }
    return h("div", { class: "field" }, h("label", { for: id }, spec.label), control);
  }

  function addChange(change) {
    const type = CHANGE_TYPES[change.type];
    const idBase = `wi-change-${++counter}`;
    const remove = h("button", { type: "button", class: "link-button" }, "Remove");
    const item = h(
      "li",
      { class: "change", "data-change": change.type },
      h("fieldset", {}, h("legend", {}, type.label), type.fields.map((f) => fieldControl(f, change[f], idBase)), remove),
    );
    remove.setAttribute("aria-label", `Remove ${type.label.toLowerCase()}`);
    remove.addEventListener("click", () => {
      item.remove();
      addType.focus();
    });
    changesEl.append(item);
  }

  function applyPreset(key) {
    const p = PRESETS[key];
    if (!p) return;
    name.value = p.name;
    horizon.value = p.horizon;
    changesEl.replaceChildren();
    for (const c of p.changes(line)) addChange(c);
  }

  function scenarioFromForm() {
    const changes = [...changesEl.children].map((li) => {
      const c = { type: li.dataset.change };
      for (const input of li.querySelectorAll("[data-field]")) {
        if (input.value.trim() !== "") c[input.dataset.field] = typed(input.value);
      }
      return c;
    });
    const out = { name: name.value.trim() || "what-if", changes };
    for (const [key, input] of [["horizon", horizon], ["replications", replications], ["seed", seed]]) {
      if (input.value.trim() !== "") out[key] = typed(input.value);
    }
    return out;
  }

  async function submit(scenario) {
    if (!may.ok) {
      status.className = "result result-error";
      status.dataset.outcome = "refused";
      fill(status, `Not run. ${may.reason}.`);
      return;
    }
    status.className = "result";
    status.dataset.outcome = "running";
    fill(status, "Running the baseline and the scenario…");
    try {
      const { data } = await api.post("/production/whatif", scenario);
      status.className = "result result-ok";
      status.dataset.outcome = "done";
      fill(status, `Done in ${formatNumber(data.elapsed_s)} s: ${data.replications} replications per arm over ${formatNumber(data.horizon_s / 3600)} h.`);
      show(data);
      history.replaceState(null, "", `#/whatif?result=${encodeURIComponent(data.id)}`);
    } catch (err) {
      status.className = "result result-error";
      status.dataset.outcome = "failed";
      fill(status, errorBox(err));
    }
  }

  function show(r) {
    const level = Math.round((r.confidence ?? 0.95) * 100);
    const report = `${API}/production/whatif/${encodeURIComponent(r.id)}/report.html`;
    fill(
      results,
      h("h2", {}, `Result: ${r.scenario?.name ?? r.id}`),
      h("p", { class: "muted" }, `Forked from the live line at ${formatClock(r.fork?.origin)}. Changes: ${(r.changes || []).join("; ") || "none"}.`),
      h(
        "table",
        { class: "kpis", "data-result-id": r.id },
        h("caption", {}, `KPIs: mean [${level} % confidence interval]; difference paired by replication`),
        h("thead", {}, h("tr", {}, ["KPI", "Baseline", "Scenario", "Difference", "Verdict"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, (r.kpis || []).map((k) => h(
          "tr",
          { "data-kpi": k.name, "data-verdict": k.verdict },
          h("th", { scope: "row" }, k.label, k.unit ? h("span", { class: "muted" }, ` (${k.unit})`) : h("span", { class: "muted" }, " (%)")),
          h("td", { class: "nowrap" }, kpiValue(k.baseline, k.unit)),
          h("td", { class: "nowrap" }, kpiValue(k.scenario, k.unit)),
          h("td", { class: "nowrap" }, kpiValue(k.difference, k.unit)),
          h("td", {}, h("span", { class: "verdict", "data-verdict": k.verdict }, k.verdict), h("span", { class: "muted" }, ` (${k.better} is better)`)),
        ))),
      ),
      r.notes?.length ? [h("h3", {}, "Notes"), h("ul", { class: "notes" }, r.notes.map((n) => h("li", {}, n)))] : null,
      h(
        "p",
        {},
        h("a", { href: report, target: "_blank", rel: "noopener", "data-report": "html" }, "Open the full report"),
        " (stations, fork state, assumptions) · ",
        h("a", { href: `${API}/production/whatif/${encodeURIComponent(r.id)}/report.png`, target: "_blank", rel: "noopener" }, "report chart (PNG)"),
      ),
    );
    main.dataset.result = r.id;
  }

  const form = h(
    "form",
    { class: "whatif-form", novalidate: true, "aria-label": "What-if scenario" },
    h("div", { class: "field" }, h("label", { for: "wi-preset" }, "Start from"), preset),
    h(
      "fieldset",
      { class: "scenario-head" },
      h("legend", {}, "Scenario"),
      h("div", { class: "field" }, h("label", { for: "wi-name" }, "Name"), name),
      h("div", { class: "field" }, h("label", { for: "wi-horizon" }, "Horizon"), horizon),
      h("div", { class: "field" }, h("label", { for: "wi-replications" }, "Replications"), replications),
      h("div", { class: "field" }, h("label", { for: "wi-seed" }, "Seed"), seed),
    ),
    h("h2", {}, "Changes"),
    h("p", { class: "hint" }, "Times count from now, as seconds or with a unit (30m, 2h). An empty scenario runs the baseline against itself."),
    changesEl,
    h("div", { class: "add-change" }, addType, addButton),
    h("div", { class: "form-actions" }, run, runHint),
  );
  preset.addEventListener("change", () => applyPreset(preset.value));
  addButton.addEventListener("click", () => {
    const type = addType.value;
    addChange({ type, station: line.stations[0], product: line.products[0], at: type === "feed_rate" ? "0" : "" });
    changesEl.lastElementChild?.querySelector("select, input")?.focus();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit(scenarioFromForm());
  });
  runPasted.addEventListener("click", () => {
    let scenario;
    try {
      scenario = JSON.parse(pasted.value);
    } catch (err) {
      status.className = "result result-error";
      status.dataset.outcome = "failed";
      fill(status, h("p", { class: "error-box", role: "alert" }, `The pasted scenario is not JSON (${err.message}). Paste it as JSON; the command line (twinworks whatif FILE.yaml) takes YAML files.`));
      return;
    }
    submit(scenario);
  });

  applyPreset("slow");
  fill(
    main,
    h("h1", {}, "What-if"),
    h("p", { class: "muted" }, "Try a change on copies of the line forked from its live state: nothing on the plant changes. The baseline and the scenario run from the same state with the same random numbers, so their difference shows what the change does."),
    lineError ? errorBox(lineError) : null,
    form,
    h(
      "details",
      { class: "paste" },
      h("summary", {}, "Paste a scenario (JSON)"),
      h("label", { for: "wi-json" }, "Scenario, as the YAML files' content in JSON"),
      pasted,
      h("div", {}, runPasted),
    ),
    status,
    results,
  );
  main.dataset.page = "whatif";
  const rid = query.get("result");
  if (rid) {
    try {
      show(await api.get(`/production/whatif/${encodeURIComponent(rid)}`));
    } catch (err) {
      fill(status, errorBox(err));
    }
  }
  return () => {};
}
