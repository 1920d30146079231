// The maintenance plan: when to intervene on which asset, in which maintenance window
// (within technician capacity), at what expected cost, and why. Times are the plant's
// own clock (source time). Follows MaintenanceRecommended events live.

import { api, ApiError } from "../api.js";
import { fill, h } from "../dom.js";
import { formatClock, formatDuration, formatNumber, formatPercent, humanize } from "../format.js";
import { LiveScope } from "../live.js";
import { errorBox } from "../notices.js";

const REFRESH_MS = 3000; // at most one reload per this while recommendations stream in

export async function mount(main, { ctx }) {
  const scope = new LiveScope(ctx.live);
  const status = h("div", { class: "plan-status", role: "status", "aria-live": "polite" });
  const table = h("div", { class: "plan-table" });
  const windows = h("div", { class: "plan-windows" });

  async function load() {
    let plan;
    try {
      plan = await api.get("/maintenance/plan");
    } catch (err) {
      main.dataset.loaded = "error";
      fill(status, err instanceof ApiError && err.code === "no_maintenance_planning"
        ? h("p", {}, "This server runs no maintenance planning (it needs the prognostics service, as in twinworks demo).")
        : errorBox(err));
      fill(table);
      fill(windows);
      return;
    }
    render(plan);
    main.dataset.loaded = "true";
  }

  function render(plan) {
    const cur = plan.currency || "";
    const items = plan.interventions || [];
    if (plan.at === null || plan.at === undefined) {
      fill(status, plan.note ? `No plan yet: ${plan.note}.` : "No plan yet.");
      fill(table);
      fill(windows);
      return;
    }
    fill(
      status,
      h("p", {}, `Planned at ${formatClock(plan.at)} (plant clock) for ${items.length} asset${items.length === 1 ? "" : "s"}. `,
        typeof plan.total_rate_per_h === "number"
          ? `Expected cost ${formatNumber(plan.total_rate_per_h)} ${cur}/h for the fleet` +
            (typeof plan.unconstrained_rate_per_h === "number" ? ` (${formatNumber(plan.unconstrained_rate_per_h)} ${cur}/h if every asset had a technician at its own best time)` : "") + "."
          : ""),
    );
    fill(
      table,
      items.length === 0
        ? h("p", { class: "empty" }, "No intervention is planned.")
        : h(
          "table",
          { class: "plan" },
          h("caption", { class: "visually-hidden" }, "Planned interventions, soonest first"),
          h("thead", {}, h("tr", {}, ["Asset", "Action", "When", "Window", "P(failure before)", `Cost (${cur}/h)`, "Reasoning"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, [...items].sort((a, b) => (a.time_s ?? Infinity) - (b.time_s ?? Infinity)).map((i) => {
            const w = i.window === null || i.window === undefined ? null : plan.windows?.[i.window];
            return h(
              "tr",
              { "data-asset": i.asset },
              h("th", { scope: "row" }, h("a", { href: `#/twin/${encodeURIComponent(i.asset)}` }, i.asset)),
              h("td", {}, humanize(i.action || "maintenance")),
              h("td", { class: "nowrap" }, i.time_s === null || i.time_s === undefined ? "after the horizon" : [formatClock(i.at), h("br"), h("span", { class: "muted" }, `in ${formatDuration(i.time_s)}`)]),
              h("td", { class: "nowrap" }, w ? [`window ${i.window}`, h("br"), h("span", { class: "muted" }, `${formatClock(w.start)}–${formatClock(w.end)}`)] : "none"),
              h("td", { class: "nowrap" }, formatPercent(i.failure_probability)),
              h("td", { class: "nowrap" }, formatNumber(i.cost_rate_per_h), typeof i.optimum_rate_per_h === "number" ? [h("br"), h("span", { class: "muted" }, `own best ${formatNumber(i.optimum_rate_per_h)}`)] : null),
              h("td", { class: "reasoning" }, i.reasoning || "—"),
            );
          })),
        ),
    );
    const booked = new Map();
    for (const i of items) if (i.window !== null && i.window !== undefined) booked.set(i.window, [...(booked.get(i.window) || []), i.asset]);
    const all = plan.windows || [];
    // the windows up to the last one booked (and the next), the later ones folded away
    const shown = Math.min(all.length, Math.max(-1, ...booked.keys()) + 2);
    const line = (w, k) => h(
      "li",
      { "data-window": k },
      `Window ${k}: ${formatClock(w.start)}–${formatClock(w.end)}, ${w.technicians} technician${w.technicians === 1 ? "" : "s"}`,
      booked.has(k) ? h("strong", {}, ` · ${booked.get(k).join(", ")}`) : h("span", { class: "muted" }, " · free"),
    );
    fill(
      windows,
      h("h2", {}, `Maintenance windows (${all.length})`),
      h("p", { class: "hint" }, typeof plan.intervention_s === "number" ? `An intervention takes ${formatDuration(plan.intervention_s)}; a window holds as many as its technicians can do in it.` : ""),
      h("ul", { class: "window-list" }, all.slice(0, shown).map(line)),
      shown < all.length ? h("details", {}, h("summary", {}, `${all.length - shown} later windows, all free`), h("ul", { class: "window-list" }, all.slice(shown).map((w, k) => line(w, k + shown)))) : null,
    );
  }

  let timer = null;
  let last = 0;
  scope.on("event", (m) => {
    if (!String(m.kind).startsWith("Maintenance") || timer) return;
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      load();
    }, Math.max(150, last + REFRESH_MS - Date.now()));
  });
  scope.on("resync", () => load());

  fill(
    main,
    h("h1", {}, "Maintenance plan"),
    h("p", { class: "muted" }, "When to intervene on which asset, so that the fleet's expected cost per hour is least within the technicians available, from each asset's remaining useful life. It is revised as the estimates change."),
    status,
    table,
    windows,
  );
  main.dataset.page = "maintenance";
  await load();
  return () => {
    if (timer) clearTimeout(timer);
    scope.close();
  };
}
