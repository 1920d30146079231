// Plant overview: the twins as their hierarchy (cell → machines, conveyor) with live
// status colours, a few key values each, the connectors, counts by status, and the
// alarms needing attention: counted for the plant, and per twin with the worst severity.

import { api, ApiError } from "../api.js";
import { fill, h } from "../dom.js";
import { formatAge, formatValue, humanize } from "../format.js";
import { LiveScope } from "../live.js";
import { STATUS_TEXT, severityBadge, statusBadge, worstSeverity } from "../status.js";

const KEY_VALUES = 4; // values shown on a tile

export async function mount(main, { ctx }) {
  const scope = new LiveScope(ctx.live);
  const state = { twins: new Map(), types: {}, views: new Map() };
  const tiles = new Map(); // twin id → {el, badge, values, age, alarms}
  let alarmsByTwin = new Map(); // twin id → alarms needing attention
  const countsEl = h("p", { class: "counts", "aria-live": "polite" });
  const plantEl = h("div", { class: "plant" });
  const connectorsEl = h("div", { class: "connectors" });

  async function load() {
    const [twins, types, connectors] = await Promise.all([
      api.get("/twins"),
      api.get("/types"),
      api.get("/connectors"),
    ]);
    state.types = types;
    state.twins = new Map(twins.map((t) => [t.id, t]));
    const views = await Promise.all(twins.map((t) => api.get(`/twins/${encodeURIComponent(t.id)}`)));
    state.views = new Map(views.map((v) => [v.id, v]));
    render();
    renderConnectors(connectors);
  }

  function render() {
    tiles.clear();
    const roots = [...state.twins.values()].filter((t) => !t.parent || !state.twins.has(t.parent));
    fill(plantEl, roots.map((root) => group(root)));
    renderCounts();
  }

  function group(twin) {
    const children = flowOrder(state.views.get(twin.id)?.children || [], state.views);
    const head = tile(twin, "tile tile-group");
    if (!children.length) return head;
    return h(
      "section",
      { class: "group", "aria-label": twin.name },
      head,
      h("ol", { class: "tiles" }, children.map((id) => {
        const child = state.twins.get(id);
        if (!child) return null;
        const grand = state.views.get(id)?.children || [];
        return h("li", {}, grand.length ? group(child) : tile(child, "tile"));
      })),
    );
  }

  function tile(twin, cls) {
    const view = state.views.get(twin.id);
    const badge = statusBadge(h, twin.status);
    const values = h("dl", { class: "values" });
    const age = h("span", { class: "age" });
    const alarms = h("span", { class: "tile-alarms" });
    const feeds = view?.relationships?.feeds;
    const el = h(
      "a",
      { class: cls, href: `#/twin/${encodeURIComponent(twin.id)}`, "data-twin": twin.id, "data-status": twin.status },
      h("span", { class: "tile-head" }, h("span", { class: "tile-name" }, twin.name), badge),
      h("span", { class: "tile-sub" }, `${twin.id} · ${humanize(twin.type)}`),
      alarms,
      values,
      h(
        "span",
        { class: "tile-foot" },
        age,
        feeds ? h("span", { class: "feeds" }, "feeds → " + [].concat(feeds).join(", ")) : null,
      ),
    );
    tiles.set(twin.id, { el, badge, values, age, alarms });
    updateTile(twin.id);
    showTileAlarms(twin.id);
    return el;
  }

  function showTileAlarms(id) {
    const t = tiles.get(id);
    if (!t) return;
    const mine = alarmsByTwin.get(id) || [];
    const worst = worstSeverity(mine);
    t.el.dataset.alarms = String(mine.length);
    fill(t.alarms, mine.length ? severityBadge(h, worst, `${mine.length} alarm${mine.length > 1 ? "s" : ""} · ${worst}`) : null);
    t.alarms.hidden = mine.length === 0;
  }

  function updateTile(id) {
    const t = tiles.get(id);
    const twin = state.twins.get(id);
    if (!t || !twin) return;
    t.el.dataset.status = twin.status;
    t.badge.dataset.status = twin.status;
    t.badge.textContent = STATUS_TEXT[twin.status] ?? twin.status;
    const declared = Object.keys(state.types[twin.type]?.telemetry || {});
    const names = declared.filter((n) => n in twin.reported);
    const state_ = twin.reported.state;
    const shown = names.filter((n) => n !== "state").slice(0, KEY_VALUES);
    fill(
      t.values,
      state_ ? [h("dt", {}, "State"), h("dd", {}, String(state_.value))] : null,
      shown.map((n) => [h("dt", {}, humanize(n)), h("dd", {}, formatValue(twin.reported[n].value, twin.reported[n].unit))]),
    );
    t.age.textContent = "data " + formatAge(twin.last_received);
  }

  function renderCounts() {
    const counts = {};
    for (const t of state.twins.values()) counts[t.status] = (counts[t.status] || 0) + 1;
    const parts = Object.entries(counts).map(([s, n]) => `${n} ${STATUS_TEXT[s] ?? s}`);
    fill(countsEl, `${state.twins.size} twins: ${parts.join(", ")}`);
  }

  function renderConnectors(connectors) {
    fill(
      connectorsEl,
      h("h2", {}, "Connections"),
      connectors.length === 0
        ? h("p", { class: "muted" }, "No connectors.")
        : h("ul", { class: "connector-list" }, connectors.map((c) => h(
          "li",
          { "data-connector": c.name, "data-connected": String(c.connected) },
          h("span", { class: "badge", "data-status": c.connected ? "running" : "disconnected" }, c.connected ? "connected" : "disconnected"),
          ` ${c.name} (${c.protocol})`,
          c.reconnects ? ` · ${c.reconnects} reconnect${c.reconnects > 1 ? "s" : ""}` : "",
          !c.connected && c.last_error ? h("span", { class: "muted" }, ` · ${c.last_error}`) : null,
        ))),
    );
  }

  scope.on("telemetry", (m) => {
    const twin = state.twins.get(m.twin_id);
    if (!twin) return;
    for (const [name, [ts, value]] of Object.entries(m.values)) {
      const unit = twin.reported[name]?.unit ?? state.types[twin.type]?.telemetry?.[name]?.unit ?? null;
      twin.reported[name] = { ts, value, unit };
    }
    twin.last_received = Date.now() / 1000;
    updateTile(m.twin_id);
  });
  scope.on("status", (m) => {
    const twin = state.twins.get(m.twin_id);
    if (!twin) return;
    twin.status = m.status;
    updateTile(m.twin_id);
    renderCounts();
  });
  scope.on("event", (m) => {
    if (m.kind === "ConnectorConnected" || m.kind === "ConnectorDisconnected") {
      api.get("/connectors").then(renderConnectors, () => {});
    }
  });
  scope.on("resync", () => load().catch(() => {}));
  const ages = setInterval(() => {
    for (const id of tiles.keys()) {
      const twin = state.twins.get(id);
      tiles.get(id).age.textContent = "data " + formatAge(twin?.last_received);
    }
  }, 1000);

  await load();
  const alarmsEl = h("p", { class: "alarm-counts", "data-alarms": "", role: "status", "aria-live": "polite" }, "Alarms: loading…");
  // the alarms needing attention, counted; reloaded when an alarm event arrives
  let alarmTimer = null;
  async function loadAlarms() {
    let list;
    try {
      list = await api.get("/alarms");
    } catch (err) {
      alarmsEl.dataset.alarms = "";
      fill(alarmsEl, err instanceof ApiError && err.code === "no_alarm_service"
        ? "Alarms: this server runs no alarm service (no twin type declares alarms)."
        : `Alarms could not be loaded: ${err.message}`);
      return;
    }
    const active = list.filter((a) => a.active).length;
    const unacknowledged = list.filter((a) => !a.acknowledged).length;
    const worst = worstSeverity(list);
    alarmsEl.dataset.alarms = String(active);
    alarmsEl.dataset.unacknowledged = String(unacknowledged);
    fill(
      alarmsEl,
      `Alarms: ${active} active, ${unacknowledged} unacknowledged`,
      worst ? [" · worst ", severityBadge(h, worst)] : "",
    );
    alarmsByTwin = new Map();
    for (const a of list) alarmsByTwin.set(a.twin_id, [...(alarmsByTwin.get(a.twin_id) || []), a]);
    for (const id of tiles.keys()) showTileAlarms(id);
  }
  scope.on("event", (m) => {
    if (!String(m.kind || "").startsWith("Alarm") || alarmTimer) return;
    alarmTimer = setTimeout(() => {
      alarmTimer = null;
      loadAlarms();
    }, 150);
  });
  scope.on("resync", () => loadAlarms());
  await loadAlarms();
  fill(
    main,
    h("h1", {}, "Plant overview"),
    countsEl,
    alarmsEl,
    plantEl,
    connectorsEl,
  );
  main.dataset.page = "overview";
  return () => {
    clearInterval(ages);
    if (alarmTimer) clearTimeout(alarmTimer);
    scope.close();
  };
}

/** Children in the order material flows through them (`feeds`), then the rest. */
export function flowOrder(ids, views) {
  const set = new Set(ids);
  const feedsInto = new Map(ids.map((id) => [id, [].concat(views.get(id)?.relationships?.feeds || []).filter((t) => set.has(t))]));
  const fed = new Set([...feedsInto.values()].flat());
  const order = [];
  const seen = new Set();
  const visit = (id) => {
    if (seen.has(id)) return;
    seen.add(id);
    order.push(id);
    for (const next of feedsInto.get(id) || []) visit(next);
  };
  for (const id of ids) if (!fed.has(id)) visit(id);
  for (const id of ids) visit(id);
  return order;
}
