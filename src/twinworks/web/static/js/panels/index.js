// The panels of a twin page, in the order they are shown.
//
// A panel is a module with:
//   id, title                      names (the section gets id="panel-<id>")
//   column                         "side" (narrow, beside the charts on wide screens) or
//                                  "main" (default)
//   applies(twin, type, ctx)       optional: false hides the panel for this twin
//   mount(body, env) → {destroy}   fills body; env = {twin, type, scope, clock, ctx, query,
//                                  setHidden}; scope.on(type, fn) hears this twin's live
//                                  messages; setHidden(true) hides the panel until there
//                                  is something to show
// To add one, write panels/<name>.js and list it here.

import * as alarms from "./alarms.js";
import * as controls from "./controls.js";
import * as details from "./details.js";
import * as estimates from "./estimates.js";
import * as models from "./models.js";
import * as rul from "./rul.js";
import * as telemetry from "./telemetry.js";
import * as twinEvents from "./twin-events.js";

export const PANELS = [alarms, controls, rul, telemetry, estimates, models, twinEvents, details];
