// Panels that wait for services other parts of twinworks are adding. Each says
// honestly that it is not available on this server, and which API it will use;
// no numbers are made up. When the API is there but this dashboard does not draw
// it yet, it says that instead. Replace an entry by a real panel module when its
// API lands (see docs/dashboard.md, "Adding a panel").

import { hasRoute } from "../capabilities.js";
import { h } from "../dom.js";

export const id = "pending";
export const title = "Alarms, prognostics and models";

export const WAITING = [
  { key: "alarms", name: "Alarms", needs: "/api/v1/alarms", what: "active alarms with acknowledge" },
  { key: "rul", name: "Remaining useful life", needs: "/api/v1/prognostics", what: "RUL distribution with its explanation" },
  { key: "models", name: "Model versions", needs: "/api/v1/models", what: "model versions with activate and roll back, consistency scores" },
  { key: "maintenance", name: "Maintenance plan", needs: "/api/v1/maintenance", what: "planned maintenance for this asset" },
];

export async function mount(body) {
  body.append(
    h("ul", { class: "pending-list" }, WAITING.map((w) => h(
      "li",
      { "data-pending": w.key },
      h("strong", {}, w.name),
      ": ",
      hasRoute(w.needs)
        ? `this server has the API (${w.needs}), but this dashboard does not show it yet.`
        : `not available yet — no ${w.what} on this server.`,
    ))),
  );
  return { destroy() {} };
}
