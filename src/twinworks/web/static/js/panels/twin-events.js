// The twin's latest events (commands, acknowledgements, state changes, rejections),
// live, with a link to the full event log filtered to this twin.

import { api } from "../api.js";
import { h } from "../dom.js";
import { eventRow, eventTableHead } from "../pages/events.js";

export const id = "events";
export const title = "Recent events";

const SHOWN = 15;

export async function mount(body, { twin, scope }) {
  const tbody = h("tbody", {});
  const table = h("table", { class: "events" }, eventTableHead(false), tbody);
  const events = await api.get("/events", { twin_id: twin.id, limit: SHOWN });
  tbody.append(...events.map((e) => eventRow(e, false)));
  scope.on("event", (m) => {
    if (m.twin_id !== twin.id) return;
    tbody.prepend(eventRow(m, false));
    while (tbody.children.length > SHOWN) tbody.lastElementChild.remove();
  });
  body.append(
    table,
    h("p", {}, h("a", { href: `#/events?twin=${encodeURIComponent(twin.id)}` }, `All events of ${twin.id}`)),
  );
  return { destroy() {} };
}
