// The dashboard: one live stream, a hash router, and a page per route.
//
//   #/                 plant overview          pages/overview.js
//   #/twin/<id>        one twin and its panels pages/twin.js (panels in panels/)
//   #/maintenance      the maintenance plan    pages/maintenance.js
//   #/whatif           what-if scenarios       pages/whatif.js
//   #/schedule         the plan as a Gantt     pages/schedule.js
//   #/events?kind=...  the event log           pages/events.js

import { ApiError, signOut, whoAmI } from "./api.js";
import { loadCapabilities } from "./capabilities.js";
import { loadChartLibrary } from "./charts.js";
import { fill, h } from "./dom.js";
import { LiveStream } from "./live.js";
import { clearNotice, errorBox, notice } from "./notices.js";
import * as eventsPage from "./pages/events.js";
import * as maintenancePage from "./pages/maintenance.js";
import * as overviewPage from "./pages/overview.js";
import * as schedulePage from "./pages/schedule.js";
import * as twinPage from "./pages/twin.js";
import * as whatifPage from "./pages/whatif.js";
import { me } from "./roles.js";

const ROUTES = [
  { pattern: /^\/?$/, page: overviewPage, nav: "overview" },
  { pattern: /^\/twin\/([^/]+)$/, page: twinPage, nav: null },
  { pattern: /^\/maintenance$/, page: maintenancePage, nav: "maintenance" },
  { pattern: /^\/whatif$/, page: whatifPage, nav: "whatif" },
  { pattern: /^\/schedule$/, page: schedulePage, nav: "schedule" },
  { pattern: /^\/events$/, page: eventsPage, nav: "events" },
];

const LIVE_TEXT = {
  connecting: "connecting…",
  open: "live",
  reconnecting: "reconnecting…",
  closed: "not live",
};

function parseHash() {
  const raw = decodeURIComponent(window.location.hash.replace(/^#/, "")) || "/";
  const [path, search] = raw.split("?");
  return { path, query: new URLSearchParams(search || "") };
}

function showLiveState(state) {
  const el = document.getElementById("live-state");
  el.dataset.state = state;
  el.textContent = LIVE_TEXT[state] ?? state;
  if (state === "open") clearNotice("live");
  else if (state !== "connecting") {
    notice("live", "The live connection to the server is lost; values shown may be old. Reconnecting…", "error");
  }
}

// a page left open keeps its session: the server renews the session cookie (up to
// 12 hours after the sign-in) on requests past half its 15-minute life
const KEEP_ALIVE_MS = 5 * 60 * 1000;

async function showUser() {
  const user = await me();
  if (!user) return;
  document.getElementById("who-name").textContent = user.user;
  const who = document.getElementById("who");
  who.title = `roles: ${user.grants.join(", ") || "none"}`;
  who.hidden = false;
  document.getElementById("sign-out").hidden = false;
}

function keepSession() {
  window.setInterval(() => whoAmI().catch(() => {}), KEEP_ALIVE_MS);
}

async function main() {
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  showUser();
  keepSession();
  const live = new LiveStream();
  live.on("connection", ({ state }) => {
    showLiveState(state);
    // a stream the server refused for good: if the session ended, sign in again
    if (state === "closed") whoAmI().catch(() => {});
  });
  live.start();
  const [lib] = await Promise.all([loadChartLibrary(), loadCapabilities()]);
  if (!lib) {
    notice("charts", "Charts are not available: the chart library (uPlot) is not installed on this server. Values are still shown as numbers.");
  }
  const ctx = { live, lib };
  const mainEl = document.getElementById("main");
  let cleanup = null;
  let first = true;

  async function route() {
    if (cleanup) {
      try {
        cleanup();
      } catch (err) {
        console.error("page cleanup failed", err);
      }
      cleanup = null;
    }
    const { path, query } = parseHash();
    const match = ROUTES.map((r) => ({ r, m: path.match(r.pattern) })).find((x) => x.m);
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (match && a.dataset.nav === match.r.nav) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    fill(mainEl, h("p", { class: "muted" }, "Loading…"));
    if (!match) {
      fill(mainEl, h("h1", {}, "Not found"), h("p", {}, `There is no page ${path}. `, h("a", { href: "#/" }, "Go to the plant overview.")));
      return;
    }
    try {
      const params = match.m.slice(1).map(decodeURIComponent);
      cleanup = await match.r.page.mount(mainEl, { params, query, ctx });
    } catch (err) {
      fill(mainEl, h("h1", {}, "This page could not be shown"), errorBox(err), h("p", {}, h("a", { href: "#/" }, "Back to the plant overview")));
      if (!(err instanceof ApiError)) console.error(err);
    }
    if (!first) {
      mainEl.focus({ preventScroll: true });
      window.scrollTo(0, 0);
    }
    first = false;
    document.body.dataset.ready = "true";
  }

  window.addEventListener("hashchange", route);
  await route();
}

main();
