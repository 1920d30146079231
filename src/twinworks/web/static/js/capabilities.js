// What this server offers, read once from its OpenAPI document. Panels that need an
// API another part of twinworks adds (alarms, model versions, ...) ask here, and
// say "not available yet" when the server does not have it, rather than guessing.

import { api } from "./api.js";

let paths = null;

export async function loadCapabilities() {
  try {
    const doc = await api.get("/openapi.json");
    paths = Object.keys(doc.paths || {});
  } catch {
    paths = [];
  }
  return paths;
}

/** Whether the API has a route starting with this path, e.g. "/api/v1/alarms". */
export function hasRoute(prefix) {
  return (paths || []).some((p) => p === prefix || p.startsWith(prefix + "/") || p.startsWith(prefix + "?"));
}
