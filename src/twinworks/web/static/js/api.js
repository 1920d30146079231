// The REST API, as the dashboard uses it. Every failure becomes an ApiError whose
// message is the server's own JSON error message, ready to show to the user.

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

function url(path, params) {
  const u = new URL(API + path, window.location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) u.searchParams.append(key, v);
  }
  return u;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The value of a cookie the page may read (the session cookie itself is HttpOnly). */
export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** Where the sign-in page sends the user back to: this page, its #route included. */
export function loginUrl() {
  const here = window.location.pathname + window.location.search + window.location.hash;
  return "/login?next=" + encodeURIComponent(here);
}

let leaving = false;

/** The session ended (expired, signed out elsewhere, user removed): sign in again. */
export function toLogin() {
  if (leaving) return;
  leaving = true;
  window.location.assign(loginUrl());
}

async function request(method, path, { params, body } = {}) {
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  // the session travels in a cookie; unsafe methods repeat the CSRF cookie in a header
  if (UNSAFE.has(method)) headers["X-CSRF-Token"] = cookie("twinworks_csrf");
  let response;
  try {
    response = await fetch(url(path, params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(0, "unreachable", `the twinworks server did not answer (${err.message})`);
  }
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, "unauthorized", "The session has ended: sign in again.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok && response.status !== 202) {
    const error = data && data.error;
    const message = error && error.message ? error.message : `${method} ${path} failed: HTTP ${response.status}`;
    throw new ApiError(response.status, error ? error.code : "http_error", message, data);
  }
  return { status: response.status, data };
}

export const api = {
  async get(path, params) {
    return (await request("GET", path, { params })).data;
  },
  /** Returns {status, data}: 200 acknowledged, 202 pending (the outcome comes as an event). */
  put(path, body) {
    return request("PUT", path, { body });
  },
  post(path, body) {
    return request("POST", path, { body });
  },
};

/** Who is signed in: {user, via, grants, expires_at}. */
export function whoAmI() {
  return api.get("/auth/me");
}

/** End the session on the server (it clears the cookies), then show the sign-in page. */
export async function signOut() {
  try {
    await request("POST", "/auth/logout");
  } finally {
    leaving = true;
    window.location.assign("/login");
  }
}
