// Remaining useful life: the latest estimate (median and interval, method, when), its
// course over the last hour as the median with its interval band (the stored derived
// series rul.<name> with rul.<name>.lower / .upper), why (the explanation's
// contributions as a bar list) and the maintenance planned for this asset.
//
// The panel shows only for twins something estimates an RUL for; it appears as soon
// as the first estimate arrives on the live stream.

import { api } from "../api.js";
import { TimeChart } from "../charts.js";
import { fill, h } from "../dom.js";
import { formatClock, formatDuration, formatNumber, quantityName } from "../format.js";
import { contributionLabel, interventionText } from "../rul-text.js";

export const id = "rul";
export const title = "Remaining useful life";
export const column = "main";

const WINDOW_S = 3600; // of the twin's clock
const REFRESH_MS = 4000; // at most one reload of the explanation per this
const LIMIT = 5000;

/** The RUL series of a twin's virtual values: "rul.x" with "rul.x.lower" and "rul.x.upper". */
export function rulSeries(names) {
  const set = new Set(names);
  return [...set].filter((n) => n.startsWith("rul.") && set.has(`${n}.lower`) && set.has(`${n}.upper`)).sort();
}

/** Whether another panel should leave this derived series to this one. */
export function isRulSeries(name, names) {
  const base = name.replace(/\.(lower|upper)$/, "");
  return rulSeries(names).includes(base);
}

export async function mount(body, { twin, scope, clock, ctx, setHidden }) {
  const virtualNames = new Set(Object.keys(twin.virtual || {}));
  const charts = new Map(); // series → chart
  const figures = h("div", { class: "rul-figures" });
  const plan = h("div", { class: "rul-plan" });
  const grid = h("div", { class: "rul-charts" });
  const why = h("div", { class: "rul-why" });
  body.append(h("div", { class: "rul-layout" }, h("div", {}, figures, plan, why), grid));
  let estimate = null;
  let planLoaded = false;

  async function loadEstimate() {
    const all = await api.get("/rul");
    estimate = all[twin.id] || null;
    setHidden(!estimate && rulSeries(virtualNames).length === 0);
    body.dataset.rul = estimate ? "shown" : "none";
    if (!estimate) {
      fill(figures, h("p", { class: "empty" }, "No RUL estimate for this twin yet; it needs a few seconds of live data."));
      fill(why);
      return;
    }
    showFigures(estimate);
    showWhy(estimate.explanation);
    // the plan only for an asset with an estimate: a server without prognostics has
    // no plan either, and asking would only be refused
    if (!planLoaded) {
      planLoaded = true;
      await loadPlan();
    }
  }

  function inUnit(seconds) {
    return formatDuration(seconds);
  }

  function showFigures(e) {
    const level = Math.round((e.level ?? 0.9) * 100);
    const lowQ = Math.round((100 - level) / 2);
    fill(
      figures,
      h(
        "dl",
        { class: "figures" },
        h("dt", {}, "Median"),
        h("dd", { "data-rul": "median" }, inUnit(e.value)),
        h("dt", {}, `${level} % interval (${lowQ}–${100 - lowQ} %)`),
        h("dd", { "data-rul": "interval" }, `${inUnit(e.lower)} – ${inUnit(e.upper)}`),
        h("dt", {}, "Method"),
        h("dd", { "data-rul": "method" }, e.method || "—"),
        h("dt", {}, "Estimated at"),
        h("dd", {}, e.extra?.at ? `${formatClock(e.extra.at)} (twin's clock)` : "—"),
      ),
    );
  }

  function showWhy(x) {
    if (!x || !Array.isArray(x.contributions) || !x.contributions.length) {
      fill(why, h("p", { class: "empty" }, "This estimate comes without an explanation."));
      return;
    }
    const items = x.contributions.filter((c) => typeof c.value === "number");
    const largest = Math.max(...items.map((c) => Math.abs(c.value)), 1e-9);
    fill(
      why,
      h("h3", {}, "Why: what moves the estimate"),
      x.note ? h("p", { class: "hint" }, capitalize(x.note) + ".") : null,
      h(
        "ul",
        { class: "contributions", "aria-label": "Contributions to the estimate" },
        items.map((c) => {
          const { label, what } = contributionLabel(c.name);
          const share = Math.abs(c.value) / largest;
          const sign = c.value > 0 ? "longer" : c.value < 0 ? "shorter" : "none";
          const bar = h("span", { class: "bar", "data-sign": sign });
          bar.style.width = `${(share * 50).toFixed(1)}%`;
          return h(
            "li",
            { "data-contribution": c.name },
            h("span", { class: "contribution-name" }, label, what ? h("span", { class: "muted" }, ` (${what})`) : null),
            h("span", { class: "bar-track", "aria-hidden": "true" }, bar),
            h("span", { class: "contribution-value" }, (c.value > 0 ? "+" : c.value < 0 ? "−" : "±") + formatDuration(Math.abs(c.value))),
          );
        }),
      ),
      h("p", { class: "hint" }, "+ lengthens the remaining life, − shortens it" + (typeof x.base_value === "number" ? `; from a base of ${formatDuration(x.base_value)}.` : ".")),
    );
  }

  async function loadPlan() {
    try {
      const p = await api.get("/maintenance/plan");
      const mine = (p.interventions || []).filter((i) => i.asset === twin.id);
      fill(
        plan,
        mine.length
          ? mine.map((i) => h("p", { "data-planned": twin.id }, h("strong", {}, "Planned: "), interventionText(i, p), ". ", h("a", { href: "#/maintenance" }, "The maintenance plan")))
          : h("p", { class: "muted" }, "No maintenance planned for this asset. ", h("a", { href: "#/maintenance" }, "The maintenance plan")),
      );
    } catch {
      fill(plan); // no planning on this server: nothing to say here
    }
  }

  async function addChart(name) {
    if (charts.has(name)) return;
    const chart = new TimeChart(grid, {
      title: `${quantityName(name.replace(/^rul\./, ""))} remaining: median and interval`,
      signal: name,
      unit: "min",
      clock,
      windowS: WINDOW_S,
      lib: ctx.lib,
      series: [{ label: "median", interval: true, bandLabels: ["upper", "lower"], color: cssColor("--chart-2") }],
      valueText: (c) => {
        const s = c.series[0];
        const n = s.times.length;
        if (!n) return "—";
        const band = s.std[n - 1];
        return `${formatNumber(s.values[n - 1])} min` + (band ? ` (${formatNumber(band[0])}–${formatNumber(band[1])})` : "");
      },
    });
    charts.set(name, chart);
    await loadHistory(name);
  }

  async function series(name) {
    const now = clock.now();
    const got = await api.get(`/twins/${encodeURIComponent(twin.id)}/telemetry/${encodeURIComponent(name)}`, { start: String(now - WINDOW_S), limit: LIMIT });
    return got.points;
  }

  async function loadHistory(name) {
    const [mid, lo, hi] = await Promise.all([series(name), series(`${name}.lower`), series(`${name}.upper`)]);
    const loAt = new Map(lo.map(([t, v]) => [t, v]));
    const hiAt = new Map(hi.map(([t, v]) => [t, v]));
    const band = mid.map(([t]) => (loAt.has(t) && hiAt.has(t) ? [loAt.get(t) / 60, hiAt.get(t) / 60] : null));
    charts.get(name).setHistory(0, mid.map((p) => p[0]), mid.map((p) => p[1] / 60), band);
  }

  // live: new points go on the chart; the figures and explanation follow, throttled
  const latest = new Map();
  let lastLoad = 0;
  let timer = null;
  function refreshSoon() {
    if (timer) return;
    const wait = Math.max(0, lastLoad + REFRESH_MS - Date.now());
    timer = setTimeout(() => {
      timer = null;
      lastLoad = Date.now();
      loadEstimate().catch((err) => console.warn("RUL reload failed", err));
    }, wait);
  }
  scope.on("virtual", (m) => {
    let touched = false;
    for (const [name, [ts, value]] of Object.entries(m.values)) {
      if (!name.startsWith("rul.")) continue;
      touched = true;
      virtualNames.add(name);
      latest.set(name, [ts, value]);
    }
    if (!touched) return;
    for (const name of rulSeries(virtualNames)) {
      const [ts, v] = latest.get(name) || [];
      const lo = latest.get(`${name}.lower`);
      const hi = latest.get(`${name}.upper`);
      if (!charts.has(name)) addChart(name).catch((err) => console.warn("RUL chart failed", err));
      else if (typeof v === "number" && lo && hi && lo[0] === ts && hi[0] === ts) charts.get(name).push(0, ts, v / 60, [lo[1] / 60, hi[1] / 60]);
    }
    refreshSoon();
  });
  scope.on("event", (m) => {
    if (m.kind === "MaintenanceRecommended" && m.twin_id === twin.id) loadPlan();
  });
  scope.on("resync", () => {
    loadEstimate().catch(() => {});
    for (const name of charts.keys()) loadHistory(name).catch(() => {});
  });

  await loadEstimate();
  lastLoad = Date.now();
  for (const name of rulSeries(virtualNames)) await addChart(name);
  return {
    destroy() {
      if (timer) clearTimeout(timer);
      for (const chart of charts.values()) chart.destroy();
    },
  };
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || undefined;
}
