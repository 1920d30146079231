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

async function request(method, path, { params, body } = {}) {
  let response;
  try {
    response = await fetch(url(path, params), {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "unreachable", `the twinworks server did not answer (${err.message})`);
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
