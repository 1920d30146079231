// What the twin is: attributes, relationships, children, connectors, document revision.

import { h } from "../dom.js";
import { formatValue, humanize } from "../format.js";

export const id = "details";
export const title = "Details";
export const column = "side";

function link(id) {
  return h("a", { href: `#/twin/${encodeURIComponent(id)}` }, id);
}

export async function mount(body, { twin, type }) {
  const rows = [];
  for (const [name, value] of Object.entries(twin.attributes || {})) {
    rows.push([humanize(name), formatValue(value, type.properties?.[name]?.unit)]);
  }
  for (const [name, targets] of Object.entries(twin.relationships || {})) {
    rows.push([humanize(name), [].concat(targets).map((t, i) => [i ? ", " : "", link(t)])]);
  }
  if (twin.children?.length) rows.push(["Parts", twin.children.map((t, i) => [i ? ", " : "", link(t)])]);
  if (twin.connectors?.length) rows.push(["Connectors", twin.connectors.join(", ")]);
  rows.push(["Document revision", String(twin.revision)]);
  body.append(h("dl", { class: "details" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  return { destroy() {} };
}
