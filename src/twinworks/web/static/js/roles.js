// What the signed-in user may do, as the server decides it (src/twinworks/api/policy.py),
// so that an action the user may not take is shown unavailable with the reason before
// they try. The server still decides: a refusal it sends is shown as it says it.
//
// Grants are "role@scope" (a bare role means "@*"); roles are ordered viewer <
// operator < engineer < admin; a scope is "*", a twin id (that twin and every twin
// partOf it, at any depth) or a pattern with *, ? or [...] (matched against the id).

import { api, whoAmI } from "./api.js";

export const ROLES = ["viewer", "operator", "engineer", "admin"];

let mePromise = null;
let treePromise = null;

/** Who is signed in: {user, via, grants, expires_at}; null when unknown. Asked once. */
export function me() {
  if (!mePromise) mePromise = whoAmI().catch(() => null);
  return mePromise;
}

/** Parent of every twin the user may see, for scopes that cover a subtree. */
function tree() {
  if (!treePromise) {
    treePromise = api.get("/twins").then(
      (twins) => new Map(twins.map((t) => [t.id, t.parent || null])),
      () => new Map(),
    );
  }
  return treePromise;
}

export function parseGrant(text) {
  const [role, ...rest] = String(text).trim().split("@");
  return { role: role.toLowerCase(), scope: rest.length ? rest.join("@").trim() : "*" };
}

function rank(role) {
  return ROLES.indexOf(role) + 1;
}

/** fnmatch as Python's fnmatchcase: * any run, ? one character, [...] a set. */
export function matchesPattern(id, pattern) {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let set = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (set.startsWith("!")) set = "^" + set.slice(1);
        re += `[${set}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s").test(id);
}

function ancestors(twinId, parents) {
  const out = [];
  let at = parents.get(twinId);
  while (at && !out.includes(at)) {
    out.push(at);
    at = parents.get(at);
  }
  return out;
}

function covers(scope, twinId, parents) {
  if (scope === "*") return true;
  if (/[*?[]/.test(scope)) return matchesPattern(twinId, scope);
  return scope === twinId || ancestors(twinId, parents).includes(scope);
}

function denial(who, role, where) {
  const grants = who.grants.length ? who.grants.join(", ") : "no roles";
  return `${who.user} may not do this: it needs the ${role} role ${where} (granted: ${grants})`;
}

/**
 * May the user act with `role` here? where: {twin: id} (on that twin), "everywhere" (on
 * *, e.g. the line's plan) or "anywhere" (on at least one twin). Resolves {ok, reason}.
 */
export async function permission(role, where) {
  const who = await me();
  if (!who) return { ok: true, reason: "" }; // unknown: let the server decide and say
  const grants = who.grants.map(parseGrant);
  const strong = grants.filter((g) => rank(g.role) >= rank(role));
  if (where === "anywhere") {
    return strong.length ? { ok: true, reason: "" } : { ok: false, reason: denial(who, role, "on at least one twin") };
  }
  if (where === "everywhere") {
    return strong.some((g) => g.scope === "*") ? { ok: true, reason: "" } : { ok: false, reason: denial(who, role, "on every twin (*)") };
  }
  const parents = strong.some((g) => g.scope !== "*" && !/[*?[]/.test(g.scope)) ? await tree() : new Map();
  const ok = strong.some((g) => covers(g.scope, where.twin, parents));
  return ok ? { ok: true, reason: "" } : { ok: false, reason: denial(who, role, `on twin '${where.twin}'`) };
}
