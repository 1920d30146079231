// The panels of a twin page, in the order they are shown.
//
// A panel is a module with:
//   id, title                      names (the section gets id="panel-<id>")
//   applies(twin, type, ctx)       optional: false hides the panel for this twin
//   mount(body, env) → {destroy}   fills body; env = {twin, type, scope, clock, ctx, query}
//                                  scope.on(type, fn) hears this twin's live messages
// To add one, write panels/<name>.js and list it here.

import * as controls from "./controls.js";
import * as details from "./details.js";
import * as estimates from "./estimates.js";
import * as pending from "./pending.js";
import * as telemetry from "./telemetry.js";
import * as twinEvents from "./twin-events.js";

export const PANELS = [controls, telemetry, estimates, pending, twinEvents, details];
