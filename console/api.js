// Shared by the console's pages: one call to the REST API with the session.
// The cookie authenticates; every change carries the session's CSRF token
// (X-CSRF-Token); x-sbc-console keeps a 401 free of a Basic challenge.
export const RANK = { monitor: 1, operator: 2, admin: 3 };

/** `headers`: extra request headers (e.g. If-Match). Resolves to {status, data} (data: parsed JSON, text, or null). */
export async function api(session, method, url, body, headers = {}) {
  const h = { accept: 'application/json', 'x-sbc-console': '1', ...headers };
  if (method !== 'GET') h['x-csrf-token'] = session.csrf;
  if (body !== undefined) h['content-type'] = 'application/json';
  const r = await fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const text = await r.text();
  let data = null;
  try { data = text === '' ? null : JSON.parse(text); } catch { data = text; }
  return { status: r.status, data };
}

/** The error text of a failed call. */
export const failure = (r) => `${r.status}: ${r.data?.error ?? (typeof r.data === 'string' ? r.data : 'request failed')}`;
