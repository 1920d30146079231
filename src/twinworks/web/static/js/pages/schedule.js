// The schedule: the line's current plan as a Gantt chart with its KPIs, a reschedule
// action (a breakdown, a worn-out tool, maintenance or a rush order: the plan is
// revised, keeping started work and moving as few operations as it can, and the page
// says how many moved), and making a new plan from orders. Planning is the whole
// line's: it needs the engineer role on every twin (*). Follows ScheduleCreated /
// ScheduleRevised events, including the revisions the server makes by itself.

import { API, api, ApiError } from "../api.js";
import { fill, h } from "../dom.js";
import { formatClock, formatNumber, formatPercent, humanize } from "../format.js";
import { drawGantt, ganttTable, offsetText } from "../gantt.js";
import { LiveScope } from "../live.js";
import { errorBox } from "../notices.js";
import { permission } from "../roles.js";
import { typed } from "./whatif.js";

const DISRUPTIONS = {
  breakdown: { label: "Breakdown", fields: ["machine", "at", "duration"] },
  tool_end_of_life: { label: "Tool at its end of life", fields: ["machine", "at"] },
  maintenance: { label: "Maintenance", fields: ["machine", "at", "duration"] },
  rush_order: { label: "Rush order", fields: ["order_id", "product", "quantity", "due"] },
};

const DEFAULT_ORDERS = [
  { id: "O1", quantity: 3, due: "1h" },
  { id: "O2", quantity: 2, due: "1.5h" },
  { id: "O3", quantity: 4, due: "2h" },
  { id: "O4", quantity: 2, due: "3h" },
];

export async function mount(main, { ctx }) {
  const scope = new LiveScope(ctx.live);
  const may = await permission("engineer", "everywhere");
  let products = [];
  try {
    products = Object.keys((await api.get("/production/line")).products);
  } catch {
    products = [];
  }
  const summary = h("div", { class: "plan-summary", role: "status", "aria-live": "polite" });
  const chart = h("div", { class: "gantt-area" });
  const revision = h("div", { class: "revision" });
  const reschedule = h("section", { class: "reschedule", "aria-labelledby": "rs-title" });
  const newPlan = h("section", { class: "new-plan", "aria-labelledby": "np-title" });
  let gantt = null;
  let plan = null;

  function refuseOr(result, run) {
    if (may.ok) return run();
    result.className = "result result-error";
    result.dataset.outcome = "refused";
    fill(result, `Not sent. ${may.reason}.`);
    return null;
  }

  async function load() {
    try {
      plan = await api.get("/production/schedule");
    } catch (err) {
      plan = null;
      if (gantt) gantt.destroy();
      gantt = null;
      fill(chart);
      fill(revision);
      reschedule.hidden = true;
      main.dataset.plan = "none";
      fill(summary, err instanceof ApiError && err.code === "no_plan" ? h("p", {}, "There is no plan yet. Make one from orders below.") : errorBox(err));
      newPlanForm(true);
      return;
    }
    render();
  }

  function render() {
    const k = plan.schedule.kpis || {};
    const last = plan.last_revision;
    const moved = last?.moved_operations || [];
    fill(
      summary,
      h(
        "dl",
        { class: "figures" },
        h("dt", {}, "Plan"),
        h("dd", { "data-revision": plan.revision }, `revision ${plan.revision}${plan.problem.name ? ` · ${plan.problem.name}` : ""}, starting ${formatClock(plan.origin)}`),
        h("dt", {}, "Makespan"),
        h("dd", {}, offsetText(k.makespan ?? plan.schedule.makespan)),
        h("dt", {}, "On time"),
        h("dd", {}, `${formatPercent(k.on_time_rate, 0)}${k.late_jobs?.length ? ` (late: ${k.late_jobs.join(", ")})` : ""}`),
        h("dt", {}, "Objective"),
        h("dd", {}, `${humanize(plan.schedule.objective)} ${formatNumber(plan.schedule.value)} (${plan.schedule.status}, ${plan.schedule.solver})`),
      ),
    );
    if (gantt) gantt.destroy();
    fill(chart);
    gantt = drawGantt(chart, plan, { moved, now: last ? last.now : null });
    chart.append(
      h("p", { class: "hint gantt-legend" }, "Bars: operations, coloured by job (hover for details). Hatched: machine unavailable. ", moved.length ? "Yellow dashed outline: moved by the last revision. " : "", last ? "Line: now, when the plan was last revised." : ""),
      h("details", {}, h("summary", {}, "The plan as a table"), ganttTable(plan, moved)),
      h("p", {}, h("a", { href: `${API}/production/schedule/gantt.html`, target: "_blank", rel: "noopener" }, "The server's Gantt page"), " · ", h("a", { href: `${API}/production/schedule/gantt.png`, target: "_blank", rel: "noopener" }, "as PNG")),
    );
    fill(revision, last ? revisionText(last) : null);
    main.dataset.plan = String(plan.revision);
    reschedule.hidden = false;
    if (plan.problem.machines.join(" ") !== fieldsFor) {
      fieldsFor = plan.problem.machines.join(" ");
      showFields();
    }
    newPlanForm(false);
  }

  function revisionText(r) {
    const interrupted = r.interrupted?.length ? `, ${r.interrupted.length} interrupted and done again (${r.interrupted.join(", ")})` : "";
    return h(
      "p",
      { class: "revision-text", "data-moved": r.moved },
      h("strong", {}, `Last revision: ${r.moved} operation${r.moved === 1 ? "" : "s"} moved`),
      r.moved_operations?.length ? ` (${r.moved_operations.join(", ")})` : "",
      `, ${r.kept} kept as started${interrupted}, ${r.unchanged} unchanged, ${r.added} added. `,
      `After ${r.disruptions.map((d) => `${humanize(d.kind).toLowerCase()}${d.machine ? ` of ${d.machine}` : ""}`).join(", ")} at +${offsetText(r.now)}; `,
      `${humanize(r.objective).toLowerCase()} ${formatNumber(r.previous_value)} → ${formatNumber(r.value)}, solved in ${formatNumber(r.solve_time_s)} s.`,
      r.notes?.length ? h("span", { class: "muted" }, ` ${r.notes.join("; ")}.`) : null,
    );
  }

  // ---------------------------------------------------------------- reschedule
  function buildReschedule() {
    const type = h("select", { id: "rs-type" }, Object.entries(DISRUPTIONS).map(([k, d]) => h("option", { value: k }, d.label)));
    const fields = h("div", { class: "rs-fields" });
    const budget = h("input", { id: "rs-budget", type: "text", value: "2s", size: 5 });
    const result = h("div", { class: "result", role: "status", "aria-live": "polite", "data-result": "reschedule" });
    const hint = may.ok ? null : h("p", { class: "hint", id: "rs-hint" }, may.reason);
    const submit = h("button", { type: "submit", class: "primary", "aria-disabled": String(!may.ok), "aria-describedby": may.ok ? null : "rs-hint" }, "Reschedule");
    const inputs = {};
    function showFields() {
      const machines = plan?.problem.machines ?? [];
      const field = (name, labelText, control) => {
        inputs[name] = control;
        return h("div", { class: "field" }, h("label", { for: control.id }, labelText), control);
      };
      const want = DISRUPTIONS[type.value].fields;
      fill(
        fields,
        want.includes("machine") ? field("machine", "Machine", h("select", { id: "rs-machine" }, machines.map((m) => h("option", { value: m }, m)))) : null,
        want.includes("at") ? field("at", "At (blank: now)", h("input", { id: "rs-at", type: "text", size: 7, placeholder: "now" })) : null,
        want.includes("duration") ? field("duration", "Duration", h("input", { id: "rs-duration", type: "text", size: 7, value: type.value === "breakdown" ? "20m" : "30m" })) : null,
        want.includes("order_id") ? field("order_id", "Order", h("input", { id: "rs-order", type: "text", size: 6, value: "R1" })) : null,
        want.includes("product") ? field("product", "Product", h("select", { id: "rs-product" }, products.map((p) => h("option", { value: p }, p)))) : null,
        want.includes("quantity") ? field("quantity", "Quantity", h("input", { id: "rs-quantity", type: "text", size: 4, value: "2" })) : null,
        want.includes("due") ? field("due", "Due (from plan start)", h("input", { id: "rs-due", type: "text", size: 6, value: "2h" })) : null,
      );
    }
    type.addEventListener("change", showFields);
    const form = h(
      "form",
      { class: "reschedule-form", novalidate: true },
      h("div", { class: "field" }, h("label", { for: "rs-type" }, "What happened"), type),
      fields,
      h("div", { class: "field" }, h("label", { for: "rs-budget" }, "Time budget"), budget),
      h("div", { class: "form-actions" }, submit, hint),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      refuseOr(result, async () => {
        const kind = type.value;
        const d = { type: kind };
        const value = (name) => (inputs[name] && inputs[name].value.trim() !== "" ? typed(inputs[name].value) : null);
        if (kind === "rush_order") {
          d.order = { id: String(value("order_id") ?? "R1"), product: value("product"), quantity: value("quantity") ?? 1, due: value("due") ?? undefined, weight: 10 };
        } else {
          d.machine = value("machine");
          if (value("at") !== null) d.at = value("at");
          if (value("duration") !== null) d.duration = value("duration");
        }
        const body = { disruptions: [d] };
        if (budget.value.trim()) body.time_budget = typed(budget.value);
        result.className = "result";
        result.dataset.outcome = "sending";
        fill(result, "Revising the plan…");
        try {
          const { data } = await api.post("/production/reschedule", body);
          result.className = "result result-ok";
          result.dataset.outcome = "done";
          result.dataset.moved = String(data.moved);
          fill(result, `Plan revised: ${data.moved} operation${data.moved === 1 ? "" : "s"} moved, ${data.kept} kept, ${data.interrupted.length} interrupted, ${data.added} added.`);
          await load();
        } catch (err) {
          result.className = "result result-error";
          result.dataset.outcome = "failed";
          fill(result, errorBox(err));
        }
      });
    });
    fill(reschedule, h("h2", { id: "rs-title" }, "Reschedule"), h("p", { class: "hint" }, "Something happened on the line: the plan is revised within the time budget, keeping started operations and moving as few as it can."), form, result);
    return showFields;
  }

  // ---------------------------------------------------------------- a new plan
  function orderRow(o, n) {
    const id = `np-${n}`;
    const remove = h("button", { type: "button", class: "link-button", "aria-label": `Remove order ${o.id}` }, "Remove");
    const row = h(
      "li",
      { class: "order", "data-order": o.id },
      h("div", { class: "field" }, h("label", { for: `${id}-id` }, "Order"), h("input", { id: `${id}-id`, "data-field": "id", type: "text", size: 5, value: o.id })),
      h("div", { class: "field" }, h("label", { for: `${id}-product` }, "Product"), h("select", { id: `${id}-product`, "data-field": "product" }, products.map((p) => h("option", { value: p }, p)))),
      h("div", { class: "field" }, h("label", { for: `${id}-quantity` }, "Quantity"), h("input", { id: `${id}-quantity`, "data-field": "quantity", type: "text", size: 4, value: String(o.quantity) })),
      h("div", { class: "field" }, h("label", { for: `${id}-due` }, "Due"), h("input", { id: `${id}-due`, "data-field": "due", type: "text", size: 5, value: o.due })),
      remove,
    );
    remove.addEventListener("click", () => row.remove());
    return row;
  }

  let newPlanBuilt = false;
  let newPlanDetails = null;
  function newPlanForm(open) {
    if (!newPlanBuilt) buildNewPlan();
    newPlanDetails.open = open;
  }

  function buildNewPlan() {
    newPlanBuilt = true;
    let n = 0;
    const orders = h("ol", { class: "orders" }, DEFAULT_ORDERS.map((o) => orderRow(o, ++n)));
    const add = h("button", { type: "button" }, "Add order");
    add.addEventListener("click", () => {
      orders.append(orderRow({ id: `O${orders.children.length + 1}`, quantity: 1, due: "2h" }, ++n));
      orders.lastElementChild.querySelector("input")?.focus();
    });
    const objective = h("select", { id: "np-objective" }, h("option", { value: "weighted_tardiness" }, "least weighted tardiness"), h("option", { value: "makespan" }, "shortest makespan"));
    const limit = h("input", { id: "np-limit", type: "text", size: 4, value: "5s" });
    const result = h("div", { class: "result", role: "status", "aria-live": "polite", "data-result": "schedule" });
    const hint = may.ok ? null : h("p", { class: "hint", id: "np-hint" }, may.reason);
    const submit = h("button", { type: "submit", class: "primary", "aria-disabled": String(!may.ok), "aria-describedby": may.ok ? null : "np-hint" }, "Make the plan");
    const form = h(
      "form",
      { class: "new-plan-form", novalidate: true },
      orders,
      h("div", { class: "add-change" }, add),
      h("div", { class: "field" }, h("label", { for: "np-objective" }, "Objective"), objective),
      h("div", { class: "field" }, h("label", { for: "np-limit" }, "Time limit"), limit),
      h("div", { class: "form-actions" }, submit, hint),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      refuseOr(result, async () => {
        const list = [...orders.children].map((li) => {
          const o = {};
          for (const input of li.querySelectorAll("[data-field]")) if (input.value.trim() !== "") o[input.dataset.field] = typed(input.value);
          if (o.id !== undefined) o.id = String(o.id);
          return o;
        });
        result.className = "result";
        result.dataset.outcome = "sending";
        fill(result, "Planning…");
        try {
          const { data } = await api.post("/production/schedule", { name: "dashboard plan", objective: objective.value, time_limit: typed(limit.value), orders: list });
          result.className = "result result-ok";
          result.dataset.outcome = "done";
          fill(result, `Plan revision ${data.revision} made: ${data.schedule.assignments.length} operations, makespan ${offsetText(data.schedule.makespan)} (${data.schedule.status}).`);
          await load();
        } catch (err) {
          result.className = "result result-error";
          result.dataset.outcome = "failed";
          fill(result, errorBox(err));
        }
      });
    });
    newPlanDetails = h("details", {}, h("summary", { id: "np-title" }, "Make a new plan from orders"), h("p", { class: "hint" }, "Orders of the line's products, each made as one lot along its routing; due times count from the plan's start. The new plan replaces the current one."), form, result);
    fill(newPlan, newPlanDetails);
  }

  let fieldsFor = null; // the machines the reschedule form offers
  const showFields = buildReschedule();
  scope.on("event", (m) => {
    if (m.kind === "ScheduleCreated" || m.kind === "ScheduleRevised") load();
  });
  scope.on("resync", () => load());

  fill(
    main,
    h("h1", {}, "Schedule"),
    summary,
    chart,
    revision,
    reschedule,
    newPlan,
  );
  main.dataset.page = "schedule";
  await load();
  return () => {
    if (gantt) gantt.destroy();
    scope.close();
  };
}
