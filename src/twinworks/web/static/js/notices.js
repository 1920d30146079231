// Messages for the whole page (lost connection, missing chart library).

import { ApiError } from "./api.js";
import { h } from "./dom.js";

const shown = new Map();

export function notice(key, text, level = "warning") {
  clearNotice(key);
  const box = document.getElementById("notices");
  const el = h("p", { class: `notice notice-${level}`, role: level === "error" ? "alert" : "status" }, text);
  box.append(el);
  shown.set(key, el);
}

export function clearNotice(key) {
  const el = shown.get(key);
  if (el) el.remove();
  shown.delete(key);
}

/** A message box for a failure: the server's own message for API errors. */
export function errorBox(err) {
  const message = err instanceof ApiError ? err.message : `Something went wrong in the dashboard: ${err.message}`;
  return h("p", { class: "error-box", role: "alert" }, message);
}
