// The ops console's API client: the bearer token from sessionStorage on every call, the API's
// own error messages, and a hook for a 401 (the session ended).
export const TOKEN_KEY = "coldtrail.ops.token";
let signedOut = () => {};

export function onSignedOut(callback) {
  signedOut = callback;
}

export class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function authHeaders() {
  const value = token();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

/** JSON API call; throws ApiFailure with the API's own error message. A 401 logs out. */
export async function api(path, { method = "GET", body = undefined, raw = false } = {}) {
  const headers = { Accept: raw ? "*/*" : "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (response.status === 401 && token()) {
    signedOut();
    throw new ApiFailure(401, "signed out");
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const payload = await response.json();
      message = payload.error?.message || payload.detail || message;
    } catch {
      // not JSON: keep the status
    }
    throw new ApiFailure(response.status, message);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export function flash(message, tone = "ok") {
  const node = document.getElementById("flash");
  node.textContent = message;
  node.className = `flash ${tone}`;
  node.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (node.hidden = true), 6000);
}

