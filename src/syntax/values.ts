/**
 * Value syntaxes shared by the config validator and the routing engine
 * (a leaf module: it imports nothing of ours, so neither side imports the other).
 */

/** `reject`, `reject(486)` -> the code; null when the text is not a reject action. */
export function parseRejectAction(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === '' || t === 'reject' || t === 'deny') return 403;
  const m = /^(?:reject|deny)\s*\(\s*(\d{3})\s*\)$/.exec(t);
  if (!m) return null;
  const code = Number(m[1]);
  return code >= 400 && code <= 699 ? code : null;
}

/** Splits `host`, `host:port`, `[v6]`, `[v6]:port`; null when malformed. */
export function splitHostPort(text: string): { host: string; port: number } | null {
  const t = text.trim();
  if (t === '') return null;
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0) return null;
    const host = t.slice(1, close);
    const rest = t.slice(close + 1);
    if (rest === '') return { host, port: 0 };
    if (!/^:\d{1,5}$/.test(rest) || Number(rest.slice(1)) > 65535) return null;
    return { host, port: Number(rest.slice(1)) };
  }
  const colons = t.split(':').length - 1;
  if (colons === 1) {
    const [host, port] = t.split(':') as [string, string];
    if (host === '' || !/^\d{1,5}$/.test(port) || Number(port) > 65535) return null;
    return { host, port: Number(port) };
  }
  if (colons > 1) return { host: t, port: 0 }; // bare IPv6
  if (!/^[A-Za-z0-9._-]+$/.test(t)) return null;
  return { host: t, port: 0 };
}
