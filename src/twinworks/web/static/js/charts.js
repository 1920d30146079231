// Time charts on uPlot: fast with many thousands of points, and with real gaps.
//
// A TimeChart holds the raw samples of one or more series and redraws at most once
// per animation frame. Its x axis is the twin's own clock (source time), so a plant
// whose clock runs fast or slow is still shown as it reports. Each chart tells what
// it shows in data-* attributes (latest-ts, points, gaps, longest-gap-s) and in its
// aria-label, for tests and for screen readers.

import { h } from "./dom.js";
import { findGaps, gapThreshold, typicalInterval } from "./gaps.js";
import { formatValue, unitLabel } from "./format.js";

let uPlotPromise = null;

/** uPlot, or null when the library is not installed (the page then says so). */
export function loadChartLibrary() {
  if (uPlotPromise) return uPlotPromise;
  const meta = document.querySelector('meta[name="twinworks-charts"]');
  if (!meta || meta.content !== "uplot") {
    uPlotPromise = Promise.resolve(null);
    return uPlotPromise;
  }
  document.head.append(h("link", { rel: "stylesheet", href: "/vendor/uplot/uPlot.min.css" }));
  uPlotPromise = import("/vendor/uplot/uPlot.esm.js").then((m) => m.default, () => null);
  return uPlotPromise;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/**
 * The clock of one twin, in source time: the newest sample time plus the wall time
 * that passed since it arrived (so the axis keeps moving while nothing changes).
 */
export class SourceClock {
  constructor() {
    this.sourceTs = null;
    this.arrivedAt = null;
  }

  see(ts) {
    if (this.sourceTs === null || ts > this.sourceTs) {
      this.sourceTs = ts;
      this.arrivedAt = Date.now() / 1000;
    }
  }

  now() {
    if (this.sourceTs === null) return Date.now() / 1000;
    return this.sourceTs + (Date.now() / 1000 - this.arrivedAt);
  }
}

/**
 * Gaps seen by a twin's densely sampled signals, shared with its sparse ones. A source
 * that reports by exception sends nothing while a value holds, so a sparse signal's
 * timestamps cannot show an outage; the twin's dense signals can.
 */
export class TwinGaps {
  constructor(denseS = 5) {
    this.denseS = denseS; // a series sampled at least this often counts as dense
    this.bySeries = new Map();
    this.list = [];
  }

  report(key, interval, gaps) {
    if (interval === null || interval > this.denseS) this.bySeries.delete(key);
    else this.bySeries.set(key, gaps);
    const all = [...this.bySeries.values()].flat().sort((x, y) => x[0] - y[0]);
    const merged = [];
    for (const g of all) {
      const last = merged[merged.length - 1];
      if (last && g[0] <= last[1]) last[1] = Math.max(last[1], g[1]);
      else merged.push([g[0], g[1]]);
    }
    this.list = merged;
  }
}

class Series {
  constructor(spec) {
    // {label, color, step, dash, std: a ±2σ band from standard deviations, or interval:
    //  a band from [lower, upper] pairs, with bandLabels naming its edges}
    this.spec = spec;
    this.times = [];
    this.values = [];
    this.std = spec.std || spec.interval ? [] : null;
    this.breaks = [];
    this.interval = null; // typical spacing, refreshed now and then
    this.sinceInterval = 0;
    this.bucketS = null; // set when the history came as buckets of this width
  }

  replace(times, values, std, bucketS = null) {
    // live samples that arrived while the history was loading are newer: keep them
    const last = times.length ? times[times.length - 1] : -Infinity;
    const keep = this.times.findIndex((t) => t > last);
    const tail = keep < 0 ? 0 : this.times.length - keep;
    this.times = times.concat(tail ? this.times.slice(keep) : []);
    this.values = values.concat(tail ? this.values.slice(keep) : []);
    if (this.std) {
      const head = std ? std.slice() : values.map(() => null);
      this.std = head.concat(tail ? this.std.slice(keep) : []);
    }
    this.bucketS = bucketS;
    this.refreshInterval();
  }

  push(ts, value, std) {
    const n = this.times.length;
    if (n && ts <= this.times[n - 1]) {
      if (ts === this.times[n - 1]) {
        this.values[n - 1] = value;
        if (this.std) this.std[n - 1] = std ?? null;
      }
      return; // older than what we have: the history reload has it
    }
    this.times.push(ts);
    this.values.push(value);
    if (this.std) this.std.push(std ?? null);
    if (++this.sinceInterval >= 200 || this.interval === null) this.refreshInterval();
  }

  refreshInterval() {
    this.sinceInterval = 0;
    this.interval = this.bucketS ?? typicalInterval(this.times.slice(-2000));
  }

  trim(before) {
    // keep one sample before the window so that the line enters from the left
    let i = 0;
    while (i + 1 < this.times.length && this.times[i + 1] < before) i++;
    if (i > 256 || (i > 0 && i > this.times.length / 4)) {
      this.times.splice(0, i);
      this.values.splice(0, i);
      if (this.std) this.std.splice(0, i);
      this.breaks = this.breaks.filter((b) => b >= this.times[0]);
    }
  }

  gaps() {
    const threshold = this.bucketS ? 1.5 * this.bucketS : gapThreshold(this.interval);
    return findGaps(this.times, threshold, this.breaks);
  }
}

export class TimeChart {
  /**
   * @param container element the chart goes into
   * @param options {title, unit, series: [{label, color?, step?, std?, interval?, bandLabels?}],
   *                 clock, windowS,
   *                 height?, lib (uPlot or null), valueText?(chart) → string}
   */
  constructor(container, options) {
    this.options = options;
    this.unit = options.unit;
    this.clock = options.clock;
    this.windowS = options.windowS;
    this.hold = false;
    this.series = options.series.map((s) => new Series(s));
    this.lib = options.lib;
    this.plot = null;
    this.pending = false;
    this.latestText = h("span", { class: "chart-latest" }, "—");
    this.canvasBox = h("div", { class: "chart-canvas" });
    this.el = h(
      "figure",
      { class: "chart", role: "group", "aria-label": options.title },
      h("figcaption", {}, h("span", { class: "chart-title" }, options.title), this.latestText),
      this.canvasBox,
    );
    if (options.signal) this.el.dataset.signal = options.signal;
    container.append(this.el);
    if (!this.lib) {
      this.canvasBox.append(
        h("p", { class: "muted" }, "No chart: the chart library is not installed on this server."),
      );
    } else {
      this.resizer = new ResizeObserver(() => this.resize());
      this.resizer.observe(this.canvasBox);
    }
    this.render();
  }

  setWindow(windowS) {
    this.windowS = windowS;
    this.render();
  }

  /** Hold each series' last value up to the clock's now (the source reports by exception). */
  setHold(hold) {
    this.hold = hold;
    this.schedule();
  }

  setHistory(index, times, values, std = null, bucketS = null) {
    this.series[index].replace(times, values, std, bucketS);
    this.schedule();
  }

  push(index, ts, value, std = null) {
    this.series[index].push(ts, value, std);
    this.schedule();
  }

  /** Data is known to have stopped after the newest samples (the twin lost its source). */
  breakAfterLatest() {
    for (const s of this.series) {
      const n = s.times.length;
      if (n) s.breaks.push(s.times[n - 1]);
    }
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  /** Aligned columns for uPlot: union of times; null where a line must break. */
  columns(now) {
    const perSeries = this.series.map((s, index) => {
      s.trim(now - this.windowS);
      const gaps = s.gaps();
      if (this.options.twinGaps && !s.bucketS) {
        this.options.twinGaps.report(`${this.options.signal}/${index}`, s.interval, gaps.slice());
      }
      const xs = [];
      const ys = [];
      const sd = [];
      let g = 0;
      const n = s.times.length;
      const shared = this.options.twinGaps ? this.options.twinGaps.list : [];
      let k = 0;
      const held = [];
      for (let i = 0; i < n; i++) {
        xs.push(s.times[i]);
        ys.push(s.values[i]);
        sd.push(s.std ? s.std[i] : null);
        if (g < gaps.length && gaps[g][0] === s.times[i]) {
          xs.push((gaps[g][0] + gaps[g][1]) / 2);
          ys.push(null);
          sd.push(null);
          g++;
          continue;
        }
        // an outage the twin's dense signals saw, inside this sample's hold: the value
        // held until the outage, is unknown during it, and held again after it (a
        // changed value would have been reported on reconnection)
        const next = i + 1 < n ? s.times[i + 1] : now;
        while (k < shared.length && shared[k][0] < s.times[i]) k++;
        while (k < shared.length && shared[k][1] <= next) {
          const [a, z] = shared[k++];
          xs.push(a, (a + z) / 2, z);
          ys.push(s.values[i], null, s.values[i]);
          sd.push(null, null, null);
          held.push([a, z]);
        }
      }
      if (this.hold && n && now > s.times[n - 1] && !s.breaks.includes(s.times[n - 1])) {
        xs.push(now);
        ys.push(s.values[n - 1]);
        sd.push(s.std ? s.std[n - 1] : null);
      }
      return { xs, ys, sd, gaps: gaps.concat(held) };
    });
    const all = new Set();
    for (const p of perSeries) for (const x of p.xs) all.add(x);
    const x = Float64Array.from(all).sort();
    const index = new Map();
    x.forEach((t, i) => index.set(t, i));
    const data = [x];
    const bands = [];
    perSeries.forEach((p, k) => {
      const y = new Array(x.length).fill(undefined); // undefined: no sample here, span over
      const lo = this.series[k].std ? new Array(x.length).fill(undefined) : null;
      const hi = lo ? new Array(x.length).fill(undefined) : null;
      p.xs.forEach((t, i) => {
        const j = index.get(t);
        y[j] = p.ys[i];
        if (lo) {
          const sd = p.sd[i];
          const ok = p.ys[i] !== null && sd !== null && sd !== undefined;
          const [a, b] = !ok ? [null, null] : Array.isArray(sd) ? sd : [p.ys[i] - 2 * sd, p.ys[i] + 2 * sd];
          lo[j] = ok ? a : p.ys[i] === null ? null : undefined;
          hi[j] = ok ? b : p.ys[i] === null ? null : undefined;
        }
      });
      data.push(y);
      if (lo) bands.push([lo, hi]);
    });
    for (const [lo, hi] of bands) data.push(hi, lo);
    return { data, perSeries };
  }

  render() {
    const now = this.clock.now();
    const { data, perSeries } = this.columns(now);
    // facts for tests and assistive technology
    const first = this.series[0];
    const n = first.times.length;
    const latestTs = n ? first.times[n - 1] : null;
    const gaps = perSeries.flatMap((p) => p.gaps).filter(([a, z]) => z >= now - this.windowS && a <= now);
    this.el.dataset.latestTs = latestTs === null ? "" : String(latestTs);
    this.el.dataset.points = String(perSeries.reduce((sum, p) => sum + p.ys.filter((v) => v !== null).length, 0));
    this.el.dataset.gaps = String(gaps.length);
    this.el.dataset.longestGapS = String(gaps.reduce((m, [a, z]) => Math.max(m, z - a), 0));
    const text = this.options.valueText ? this.options.valueText(this) : n ? formatValue(first.values[n - 1], this.unit) : "—";
    this.latestText.textContent = text;
    this.el.setAttribute("aria-label", `${this.options.title}: latest ${text}` + (gaps.length ? `, ${gaps.length} gap(s) in the data` : ""));
    this.gapRanges = gaps;
    if (!this.lib) return;
    if (!this.plot) this.create(data);
    else this.plot.setData(data);
  }

  create(data) {
    const uPlot = this.lib;
    const text = cssVar("--text-muted") || "#b8c0c8";
    const grid = cssVar("--grid") || "#333a42";
    const palette = [cssVar("--chart-1"), cssVar("--chart-2"), cssVar("--chart-3"), cssVar("--chart-4")];
    const bandFill = cssVar("--chart-band") || "rgba(255,183,77,0.25)";
    const series = [{}];
    this.series.forEach((s, i) => {
      series.push({
        label: s.spec.label,
        stroke: s.spec.color || palette[i % palette.length],
        width: 1.5,
        dash: s.spec.dash,
        spanGaps: false,
        points: { show: false },
        paths: s.spec.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
        value: (u, v) => (v === null || v === undefined ? "—" : formatValue(v, this.unit)),
      });
    });
    const bands = [];
    this.series.forEach((s, i) => {
      if (!s.std) return;
      const hiIdx = series.length;
      for (const which of s.spec.bandLabels || ["+2σ", "−2σ"]) {
        series.push({ label: which, stroke: "transparent", width: 0, spanGaps: false, points: { show: false }, value: (u, v) => (v == null ? "—" : formatValue(v, this.unit)) });
      }
      bands.push({ series: [hiIdx, hiIdx + 1], fill: bandFill });
      void i;
    });
    // sizes follow the page's font size, which grows on large (control-room) screens
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    const axisFont = `${Math.round(rem * 0.75)}px system-ui, sans-serif`;
    const gapFill = cssVar("--gap-fill") || "rgba(255,255,255,0.07)";
    const gapText = cssVar("--text-muted") || "#b8c0c8";
    const opts = {
      width: Math.max(200, this.canvasBox.clientWidth),
      height: this.options.height || Math.round(rem * 11),
      series,
      bands,
      legend: { show: this.series.length > 1 || this.series.some((x) => x.std), live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: () => { const now = this.clock.now(); return [now - this.windowS, now]; } },
        y: { range: (u, min, max) => pad(min, max) },
      },
      axes: [
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font: axisFont, space: rem * 4.5, values: (u, splits) => splits.map(axisTime) },
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font: axisFont, labelFont: axisFont, size: rem * 4, label: unitLabel(this.unit) || undefined, labelSize: 18 },
      ],
      hooks: {
        // shade stretches without data, so a gap reads as "no data", not as a flat line
        drawClear: [(u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.fillStyle = gapFill;
          for (const [a, z] of this.gapRanges || []) {
            const x0 = Math.max(u.valToPos(a, "x", true), u.bbox.left);
            const x1 = Math.min(u.valToPos(z, "x", true), u.bbox.left + u.bbox.width);
            if (x1 <= x0) continue;
            ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
            if (x1 - x0 > 60 * devicePixelRatio) {
              ctx.fillStyle = gapText;
              ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
              ctx.textAlign = "center";
              ctx.fillText("no data", (x0 + x1) / 2, u.bbox.top + 16 * devicePixelRatio);
              ctx.fillStyle = gapFill;
            }
          }
          ctx.restore();
        }],
      },
    };
    this.plot = new uPlot(opts, data, this.canvasBox);
  }

  resize() {
    if (!this.plot) return;
    const width = Math.max(200, this.canvasBox.clientWidth);
    if (width !== this.plot.width) this.plot.setSize({ width, height: this.plot.height });
  }

  destroy() {
    if (this.resizer) this.resizer.disconnect();
    if (this.plot) this.plot.destroy();
    this.el.remove();
  }
}

function axisTime(ts) {
  const d = new Date(ts * 1000);
  const pad2 = (n) => String(n).padStart(2, "0");
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}` + (d.getSeconds() ? `:${pad2(d.getSeconds())}` : "");
}

function pad(min, max) {
  if (min === null || max === null) return [0, 1];
  if (min === max) {
    const d = Math.abs(min) * 0.05 || 1;
    return [min - d, max + d];
  }
  const d = (max - min) * 0.08;
  return [min - d, max + d];
}
