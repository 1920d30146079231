// One twin: its header (status, state, freshness) and its panels. Panels are small
// modules listed in panels/index.js; each gets the twin, its type, a live scope that
// only hears this twin, and the twin's source clock (see docs/dashboard.md).

import { api } from "../api.js";
import { SourceClock } from "../charts.js";
import { fill, h } from "../dom.js";
import { formatAge, humanize } from "../format.js";
import { LiveScope } from "../live.js";
import { errorBox } from "../notices.js";
import { PANELS } from "../panels/index.js";
import { STATUS_TEXT, statusBadge } from "../status.js";

const QUALITY = ".quality";

export async function mount(main, { params, query, ctx }) {
  const twinId = params[0];
  const twin = await api.get(`/twins/${encodeURIComponent(twinId)}`);
  const type = await api.get(`/types/${encodeURIComponent(twin.type)}`);
  const scope = new LiveScope(ctx.live, twinId);
  const clock = new SourceClock();
  for (const v of Object.values(twin.reported)) clock.see(v.ts);

  // the page keeps the twin's view current; panels listen for what they show
  const badge = statusBadge(h, twin.status);
  const stateText = h("span", { class: "state" });
  const age = h("span", { class: "age" });
  scope.on("telemetry", (m) => {
    for (const [name, [ts, value]] of Object.entries(m.values)) {
      clock.see(ts);
      const unit = type.telemetry?.[name]?.unit ?? null;
      // the quality comes in its own message (virtual "<signal>.quality"); keep it
      twin.reported[name] = { ts, value, unit, quality: twin.reported[name]?.quality };
    }
    twin.last_received = Date.now() / 1000;
    showHeader();
  });
  // what the source says of its values (OPC UA status): a failed sensor is named here,
  // so that its last good value is not taken for a healthy one that stopped changing
  const quality = h("span", { class: "signal-quality", role: "status" });
  scope.on("virtual", (m) => {
    let changed = false;
    for (const [name, [, value]] of Object.entries(m.values)) {
      const signal = name.endsWith(QUALITY) ? twin.reported[name.slice(0, -QUALITY.length)] : null;
      if (signal) {
        signal.quality = value;
        changed = true;
      }
    }
    if (changed) showHeader();
  });
  scope.on("status", (m) => {
    twin.status = m.status;
    showHeader();
  });

  function showHeader() {
    badge.dataset.status = twin.status;
    badge.textContent = STATUS_TEXT[twin.status] ?? twin.status;
    main.dataset.status = twin.status;
    const state = twin.reported.state;
    stateText.textContent = state ? `state: ${state.value}` : "";
    age.textContent = "last data " + formatAge(twin.last_received);
    const flagged = Object.entries(twin.reported).filter(([, v]) => v.quality === "bad" || v.quality === "uncertain");
    fill(
      quality,
      flagged.map(([name, v]) => h("span", { "data-quality": name, "data-level": v.quality }, `${humanize(name)}: ${v.quality}`)),
    );
  }
  const ages = setInterval(() => {
    age.textContent = "last data " + formatAge(twin.last_received);
  }, 1000);

  const crumbs = [];
  const parent = twin.relationships?.partOf;
  if (parent) crumbs.push(h("a", { href: `#/twin/${encodeURIComponent(parent)}` }, parent));
  const side = h("div", { class: "panel-column panel-column-side" });
  const wide = h("div", { class: "panel-column panel-column-main" });
  const mounted = [];
  for (const [index, panel] of PANELS.entries()) {
    if (panel.applies && !panel.applies(twin, type, ctx)) continue;
    const headingId = `panel-${panel.id}-title`;
    const section = h("section", { class: `panel panel-${panel.id}`, id: `panel-${panel.id}`, "aria-labelledby": headingId });
    // on a narrow screen the columns dissolve and the panels keep the order of PANELS
    section.style.order = String(index);
    section.append(h("h2", { id: headingId }, panel.title));
    const body = h("div", { class: "panel-body" });
    section.append(body);
    (panel.column === "side" ? side : wide).append(section);
    const env = { twin, type, scope, clock, ctx, query, setHidden: (hidden) => { section.hidden = hidden; } };
    try {
      mounted.push(await panel.mount(body, env));
    } catch (err) {
      body.append(errorBox(err));
      console.error(`panel ${panel.id} failed`, err);
    }
  }

  fill(
    main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Plant"), crumbs.map((c) => [" › ", c]), " › ", h("span", { "aria-current": "page" }, twin.id)),
    h(
      "header",
      { class: "twin-head" },
      h("h1", {}, twin.name),
      badge,
      stateText,
      quality,
      h("span", { class: "muted" }, `${twin.id} · ${humanize(twin.type)}`),
      age,
    ),
    type.description ? h("p", { class: "muted twin-description" }, type.description) : null,
    h("div", { class: "panels" }, side, wide),
  );
  main.dataset.page = "twin";
  main.dataset.twin = twinId;
  showHeader();
  return () => {
    clearInterval(ages);
    scope.close();
    for (const m of mounted) if (m && m.destroy) m.destroy();
  };
}
