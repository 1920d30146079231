// A Gantt chart of a schedule, drawn as SVG in the page (no library): one row per
// machine, a bar per operation (coloured by job, labelled with the job id, a tooltip
// with the details), unavailability windows hatched, set-ups as thin grey bars, the
// operations a revision moved outlined, and "now" as a line. Redrawn to the width of
// its box. Every bar says what it is in data-* attributes and its <title>.

import { h } from "./dom.js";
import { formatClock } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const JOB_COLOURS = 8; // --job-0 … --job-7 in the stylesheet

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** "1:05:00" or "12:30" from seconds after the plan's start. */
export function offsetText(seconds) {
  const t = Math.round(seconds);
  const hours = Math.floor(t / 3600);
  const minutes = Math.floor((t % 3600) / 60);
  const secs = t % 60;
  const mm = String(minutes).padStart(2, "0");
  return hours ? `${hours}:${mm}:${String(secs).padStart(2, "0")}` : `${minutes}:${String(secs).padStart(2, "0")}`;
}

function tickStep(span, width) {
  const steps = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const wanted = Math.max(2, Math.floor(width / 90));
  return steps.find((st) => span / st <= wanted) ?? steps.at(-1);
}

/**
 * Draw `plan` (GET /production/schedule) into `container`. Returns {destroy}.
 * moved: operation keys "job#index" a revision moved; now: seconds since the plan's start.
 */
export function drawGantt(container, plan, { moved = [], now = null } = {}) {
  const machines = plan.problem.machines;
  const jobs = plan.problem.jobs.map((j) => j.id);
  const names = new Map(plan.problem.jobs.map((j) => [j.id, j]));
  const movedSet = new Set(moved);
  const unit = plan.schedule.time_unit_s || 1;
  const box = h("div", { class: "gantt-box" });
  container.append(box);

  function draw() {
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    const width = Math.max(320, box.clientWidth);
    const label = Math.round(rem * 5);
    const row = Math.round(rem * 2.4);
    const top = Math.round(rem * 1.8);
    const height = top + row * machines.length + 8;
    const end = Math.max(plan.schedule.makespan || 1, now ?? 0, 1) * 1.02;
    const x = (t) => label + ((width - label - 36) * t) / end;
    const y = (m) => top + row * machines.indexOf(m);
    const svg = s("svg", {
      class: "gantt",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `Gantt chart: ${plan.schedule.assignments.length} operations of ${jobs.length} jobs on ${machines.length} machines, makespan ${offsetText(plan.schedule.makespan * unit)}`,
    });
    svg.append(
      s("defs", {}, s("pattern", { id: "gantt-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, s("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "g-hatch" }))),
    );
    // time axis, in time since the plan started
    const step = tickStep(end * unit, width - label) / unit;
    for (let t = 0; t <= end; t += step) {
      svg.append(s("line", { x1: x(t), x2: x(t), y1: top - 4, y2: height - 8, class: "g-grid" }));
      svg.append(s("text", { x: x(t), y: top - 8, class: "g-axis", "text-anchor": "middle" }, offsetText(t * unit)));
    }
    machines.forEach((m) => {
      svg.append(s("text", { x: 4, y: y(m) + row / 2 + rem * 0.35, class: "g-machine" }, m));
      svg.append(s("line", { x1: label, x2: width - 10, y1: y(m) + row, y2: y(m) + row, class: "g-grid" }));
    });
    for (const w of plan.problem.windows || []) {
      if (!machines.includes(w.machine)) continue;
      const x0 = x(Math.max(0, w.start));
      const x1 = x(Math.min(end, w.end));
      if (x1 <= x0) continue;
      svg.append(s("rect", { x: x0, y: y(w.machine) + 3, width: x1 - x0, height: row - 6, class: "g-window", "data-window": w.machine }, s("title", {}, `${w.machine} unavailable ${offsetText(w.start * unit)}–${offsetText(w.end * unit)}${w.reason ? `: ${w.reason}` : ""}`)));
    }
    for (const a of plan.schedule.assignments) {
      const key = `${a.job}#${a.index}`;
      const k = jobs.indexOf(a.job) % JOB_COLOURS;
      const op = names.get(a.job)?.operations?.[a.index];
      if (a.setup) {
        svg.append(s("rect", { x: x(a.start - a.setup), y: y(a.machine) + row * 0.35, width: Math.max(1, x(a.start) - x(a.start - a.setup)), height: row * 0.3, class: "g-setup" }, s("title", {}, `set-up ${offsetText(a.setup * unit)}`)));
      }
      const bx = x(a.start);
      const bw = Math.max(2, x(a.end) - x(a.start));
      const isMoved = movedSet.has(key);
      const tip = `${a.job}${names.get(a.job)?.name ? ` (${names.get(a.job).name})` : ""}, operation ${a.index + 1}${op?.name ? ` ${op.name}` : ""} on ${a.machine}: ${offsetText(a.start * unit)}–${offsetText(a.end * unit)}${isMoved ? "; moved by the last revision" : ""}`;
      const g = s("g", { class: `g-op${isMoved ? " g-moved" : ""}`, "data-op": key, "data-machine": a.machine, "data-moved": String(isMoved) });
      g.append(s("rect", { x: bx, y: y(a.machine) + 4, width: bw, height: row - 8, rx: 3, class: `g-bar g-job-${k}` }), s("title", {}, tip));
      if (bw > rem * 2.2) {
        g.append(s("text", { x: bx + 4, y: y(a.machine) + row / 2 + rem * 0.32, class: "g-label" }, a.job.length * rem * 0.55 < bw - 6 ? a.job : a.job.slice(0, Math.max(1, Math.floor((bw - 6) / (rem * 0.55))))));
      }
      svg.append(g);
    }
    if (now !== null && now !== undefined && now >= 0) {
      svg.append(s("line", { x1: x(now), x2: x(now), y1: top - 4, y2: height - 4, class: "g-now" }));
      svg.append(s("text", { x: x(now) + 3, y: height - 2, class: "g-now-label" }, "now"));
    }
    box.replaceChildren(svg);
  }

  draw();
  let lastWidth = box.clientWidth;
  const resizer = new ResizeObserver(() => {
    if (box.clientWidth !== lastWidth) {
      lastWidth = box.clientWidth;
      draw();
    }
  });
  resizer.observe(box);
  return {
    destroy() {
      resizer.disconnect();
      box.remove();
    },
  };
}

/** The operations as a table, for reading the plan without the picture. */
export function ganttTable(plan, moved = []) {
  const movedSet = new Set(moved);
  const unit = plan.schedule.time_unit_s || 1;
  const origin = plan.schedule.origin ?? plan.origin;
  const rows = [...plan.schedule.assignments].sort((a, b) => a.start - b.start || a.machine.localeCompare(b.machine));
  return h(
    "table",
    { class: "compact gantt-table" },
    h("caption", {}, "Operations, by start"),
    h("thead", {}, h("tr", {}, ["Job", "Operation", "Machine", "Start", "End", "Moved"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((a) => h(
      "tr",
      { "data-op": `${a.job}#${a.index}` },
      h("th", { scope: "row" }, a.job),
      h("td", {}, String(a.index + 1)),
      h("td", {}, a.machine),
      h("td", { class: "nowrap" }, `+${offsetText(a.start * unit)}`, origin ? h("span", { class: "muted" }, ` (${formatClock(origin + a.start * unit)})`) : null),
      h("td", { class: "nowrap" }, `+${offsetText(a.end * unit)}`),
      h("td", {}, movedSet.has(`${a.job}#${a.index}`) ? "moved" : ""),
    ))),
  );
}
