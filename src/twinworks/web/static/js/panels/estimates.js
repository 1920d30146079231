// Model estimates: the twin's virtual values (computed by its models and services),
// whatever they are. A value "<name>" with a "<name>.std" beside it is drawn as an
// estimate with a ±2σ band, one with "<name>.lower" and "<name>.upper" with that
// interval; when "<producer>.<signal>" names a measured signal of the twin (e.g.
// "ukf.spindle_temperature"), the measurement is drawn with it. The remaining useful
// life has its own panel (panels/rul.js): its series are listed here, not charted.

import { api } from "../api.js";
import { TimeChart } from "../charts.js";
import { fill, h } from "../dom.js";
import { formatClock, formatValue, humanize } from "../format.js";
import { isRulSeries } from "./rul.js";
import { loadHistory } from "./telemetry.js";

export const id = "estimates";
export const title = "Model estimates";

const STD = ".std";
const BOUNDS = [".lower", ".upper"];
const WINDOW_S = 600;

/** The measured signal an estimate is of, if the twin measures it. */
export function measuredCounterpart(name, type) {
  const dot = name.indexOf(".");
  const signal = dot < 0 ? null : name.slice(dot + 1);
  return signal && type.telemetry && signal in type.telemetry ? signal : null;
}

export async function mount(body, { twin, type, scope, clock, ctx }) {
  const values = new Map(Object.entries(twin.virtual || {}).map(([k, v]) => [k, [v.ts, v.value]]));
  const charts = new Map(); // estimate name → {chart, measured}
  const grid = h("div", { class: "chart-grid" });
  const table = h("div", { class: "estimate-table" });
  const empty = h(
    "p",
    { class: "empty", "data-empty": "estimates" },
    "No model estimates for this twin yet: nothing on this server computes derived values for it. " +
      "They appear here, with their uncertainty, as soon as a model or service writes them.",
  );
  body.append(empty, grid, table);

  /** The estimate a ".std", ".lower" or ".upper" value belongs to, if the twin has it. */
  function baseOf(name) {
    for (const suffix of [STD, ...BOUNDS]) {
      if (name.endsWith(suffix) && values.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length);
    }
    return null;
  }

  function isEstimate(name) {
    return baseOf(name) === null;
  }

  function hasInterval(name) {
    return BOUNDS.every((b) => values.has(name + b));
  }

  function charted(name) {
    return isEstimate(name) && typeof values.get(name)[1] === "number" && !isRulSeries(name, [...values.keys()]);
  }

  async function addChart(name) {
    if (charts.has(name)) return;
    const hasStd = values.has(name + STD);
    const interval = !hasStd && hasInterval(name);
    const measured = measuredCounterpart(name, type);
    const series = [{ label: `estimate ${humanize(name)}`, std: hasStd, interval, bandLabels: interval ? ["upper", "lower"] : undefined, color: cssColor("--chart-2") }];
    if (measured) series.push({ label: `measured ${humanize(measured)}`, color: cssColor("--chart-1"), step: true });
    const unit = measured ? type.telemetry[measured].unit : null;
    const chart = new TimeChart(grid, {
      title: humanize(name) + (hasStd ? " (±2σ)" : interval ? " (interval)" : ""),
      signal: name,
      unit,
      clock,
      windowS: WINDOW_S,
      lib: ctx.lib,
      series,
    });
    charts.set(name, { chart, measured, hasStd, interval });
    await loadInto(name);
  }

  async function loadInto(name) {
    const { chart, measured, hasStd, interval } = charts.get(name);
    const [est, std, lower, upper, meas] = await Promise.all([
      loadHistory(twin.id, name, clock, WINDOW_S),
      hasStd ? loadHistory(twin.id, name + STD, clock, WINDOW_S) : null,
      interval ? loadHistory(twin.id, name + ".lower", clock, WINDOW_S) : null,
      interval ? loadHistory(twin.id, name + ".upper", clock, WINDOW_S) : null,
      measured ? loadHistory(twin.id, measured, clock, WINDOW_S) : null,
    ]);
    const at = (got) => new Map(got.times.map((t, i) => [t, got.values[i]]));
    let sd = null;
    if (std) {
      const byTime = at(std);
      sd = est.times.map((t) => byTime.get(t) ?? null);
    } else if (interval) {
      const lo = at(lower);
      const hi = at(upper);
      sd = est.times.map((t) => (lo.has(t) && hi.has(t) ? [lo.get(t), hi.get(t)] : null));
    }
    chart.setHistory(0, est.times, est.values, sd);
    if (meas) chart.setHistory(1, meas.times, meas.values);
  }

  function renderTable() {
    const names = [...values.keys()].filter(isEstimate).sort();
    empty.hidden = names.length > 0;
    if (!names.length) {
      table.replaceChildren();
      return;
    }
    fill(
      table,
      h(
        "table",
        {},
        h("caption", {}, "Latest derived values"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, "Estimate"), h("th", { scope: "col" }, "± 1σ or interval"), h("th", { scope: "col" }, "Measured"), h("th", { scope: "col" }, "Time"))),
        h("tbody", {}, names.map((name) => {
          const [ts, value] = values.get(name);
          const sd = values.get(name + STD);
          const measured = measuredCounterpart(name, type);
          const m = measured ? twin.reported[measured] : null;
          return h(
            "tr",
            { "data-virtual": name },
            h("th", { scope: "row" }, name),
            h("td", {}, formatValue(value)),
            h("td", {}, sd ? formatValue(sd[1]) : hasInterval(name) ? `${formatValue(values.get(name + ".lower")[1])} – ${formatValue(values.get(name + ".upper")[1])}` : "—"),
            h("td", {}, m ? formatValue(m.value, m.unit) : "—"),
            h("td", {}, formatClock(ts)),
          );
        })),
      ),
    );
  }

  scope.on("virtual", (m) => {
    const added = [];
    for (const [name, [ts, value]] of Object.entries(m.values)) {
      if (!values.has(name)) added.push(name);
      values.set(name, [ts, value]);
    }
    const touched = new Set();
    for (const [name, [, value]] of Object.entries(m.values)) {
      if (typeof value !== "number") continue;
      touched.add(baseOf(name) ?? name);
    }
    for (const name of touched) {
      if (!charts.has(name)) continue;
      const { chart, hasStd, interval } = charts.get(name);
      const [ts, value] = values.get(name);
      const same = (suffix) => {
        const v = values.get(name + suffix);
        return v && v[0] === ts ? v[1] : null;
      };
      const lo = interval ? same(".lower") : null;
      const hi = interval ? same(".upper") : null;
      chart.push(0, ts, value, hasStd ? same(STD) : lo !== null && hi !== null ? [lo, hi] : null);
    }
    // a newly seen estimate gets its chart (a new ".std" or bound redraws it with a band)
    for (const name of added) {
      const base = baseOf(name);
      if (base && charts.has(base)) {
        charts.get(base).chart.destroy();
        charts.delete(base);
        addChart(base).catch((err) => console.warn("estimate chart failed", err));
      } else if (!base && charted(name)) {
        addChart(name).catch((err) => console.warn("estimate chart failed", err));
      }
    }
    renderTable();
  });
  scope.on("telemetry", (m) => {
    for (const { chart, measured } of charts.values()) {
      const v = measured ? m.values[measured] : null;
      if (v && typeof v[1] === "number") chart.push(1, v[0], v[1]);
    }
  });
  scope.on("resync", () => {
    for (const name of charts.keys()) loadInto(name).catch(() => {});
  });

  for (const name of [...values.keys()].filter(charted)) await addChart(name);
  renderTable();
  return {
    destroy() {
      for (const { chart } of charts.values()) chart.destroy();
    },
  };
}

function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || undefined;
}
