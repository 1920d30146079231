// Live telemetry charts: one per numeric signal, history from the REST API, then
// live samples from the stream. Windows up to RAW_MAX_S come as raw samples;
// longer ones as bucket means (empty buckets stay empty: a gap stays a gap).

import { api } from "../api.js";
import { TimeChart, TwinGaps } from "../charts.js";
import { h } from "../dom.js";
import { humanize } from "../format.js";
import { isLive } from "../status.js";

export const id = "telemetry";
export const title = "Telemetry";

export const WINDOWS = [
  [120, "2 min"],
  [600, "10 min"],
  [3600, "1 h"],
];
const DEFAULT_WINDOW_S = 600;
const RAW_MAX_S = 900;
const RAW_LIMIT = 20000;
const BUCKETS = 900;

function numericSignals(type) {
  return Object.entries(type.telemetry || {}).filter(([, s]) => (s.dtype ?? "float") === "float" || s.dtype === "int");
}

export function applies(twin, type) {
  return numericSignals(type).length > 0;
}

/** History of one signal over the last windowS of the twin's clock: {times, values, bucketS}. */
export async function loadHistory(twinId, signal, clock, windowS) {
  const now = clock.now();
  const start = now - windowS;
  const path = `/twins/${encodeURIComponent(twinId)}/telemetry/${encodeURIComponent(signal)}`;
  if (windowS <= RAW_MAX_S) {
    const [inside, before] = await Promise.all([
      api.get(path, { start: String(start), limit: RAW_LIMIT }),
      api.get(path, { end: String(start), limit: 1 }), // the value the window starts with
    ]);
    const points = [...before.points, ...inside.points];
    return { times: points.map((p) => p[0]), values: points.map((p) => p[1]), bucketS: null };
  }
  const got = await api.get(path, { start: String(start), end: String(now + 1), buckets: BUCKETS });
  return { times: got.buckets.map((b) => b.start), values: got.buckets.map((b) => b.mean), bucketS: got.bucket_s };
}

export async function mount(body, { twin, type, scope, clock, ctx, query }) {
  let windowS = Number(query.get("window")) || DEFAULT_WINDOW_S;
  const charts = new Map();
  const twinGaps = new TwinGaps();
  const grid = h("div", { class: "chart-grid" });
  const picker = h(
    "fieldset",
    { class: "window-picker" },
    h("legend", {}, "Time window"),
    WINDOWS.map(([seconds, label]) => {
      const input = h("input", { type: "radio", name: `window-${twin.id}`, value: String(seconds), checked: seconds === windowS });
      input.addEventListener("change", () => {
        windowS = seconds;
        for (const chart of charts.values()) chart.setWindow(windowS);
        reload();
      });
      return h("label", {}, input, " ", label);
    }),
  );
  body.append(picker, grid);

  for (const [signal, spec] of numericSignals(type)) {
    const chart = new TimeChart(grid, {
      title: humanize(signal),
      signal,
      unit: spec.unit,
      clock,
      windowS,
      lib: ctx.lib,
      twinGaps,
      // a reported value holds until the next report: steps, never slopes between samples
      series: [{ label: humanize(signal), step: true }],
    });
    chart.setHold(isLive(twin.status));
    charts.set(signal, chart);
  }

  async function reload() {
    await Promise.all(
      [...charts].map(async ([signal, chart]) => {
        const got = await loadHistory(twin.id, signal, clock, windowS);
        chart.setHistory(0, got.times, got.values, null, got.bucketS);
      }),
    );
  }

  scope.on("telemetry", (m) => {
    for (const [signal, [ts, value]] of Object.entries(m.values)) {
      const chart = charts.get(signal);
      if (chart && typeof value === "number") chart.push(0, ts, value);
    }
  });
  scope.on("status", (m) => {
    const live = isLive(m.status);
    for (const chart of charts.values()) {
      if (!live && isLive(m.previous)) chart.breakAfterLatest();
      chart.setHold(live);
    }
  });
  scope.on("resync", () => reload().catch((err) => console.warn("telemetry reload failed", err)));
  // the x axis follows the twin's clock even when nothing changes
  const tick = setInterval(() => {
    for (const chart of charts.values()) chart.schedule();
  }, 1000);

  await reload();
  return {
    destroy() {
      clearInterval(tick);
      for (const chart of charts.values()) chart.destroy();
    },
  };
}
