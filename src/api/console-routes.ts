/**
 * The operator web console's server side (docs/console.md): its static
 * assets (built into dist/console by scripts/build-console.mjs, served from
 * memory with caching headers), login/logout with a session cookie and a
 * CSRF token (console-session.ts, checked in auth.ts), and one
 * server-sent-events stream pushing a dashboard snapshot every second.
 *
 * The snapshot is read through the REST API itself (server.inject with the
 * subscriber's cookie), so the console shows exactly what the API shows
 * and the API's roles apply. The timer runs only while a stream is open:
 * with nobody logged in the console costs the SBC nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { AuthHandle } from './auth.js';
import { cookieValue, SESSION_COOKIE, type ConsoleSessions } from './console-session.js';
import { DashboardHistory, type DashboardFigures } from './console-history.js';

export interface ConsoleOptions {
  /** The figures of the dashboard's last-hour charts (read every `historyEveryMs`); absent = charts from the page's own snapshots only. */
  figures?: () => Promise<DashboardFigures | null>;
  historyEveryMs?: number;
  auth: AuthHandle;
  sessions: ConsoleSessions;
  /** The API is served over TLS: the cookie gets Secure. */
  secure: boolean;
  /** Where the built assets are; default dist/console beside the compiled sources. */
  assetDir?: string;
  /** Snapshot period of the event stream. */
  periodMs?: number;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  /** Referenced from index.html with ?v=<build>: cacheable for good. */
  immutable: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
};

/** The endpoints one snapshot is made of; a 404 (module not configured) gives null. */
const SNAPSHOT: Record<string, string> = {
  status: '/api/v1/status', calls: '/api/v1/calls', registrations: '/api/v1/registrations',
  proxySets: '/api/v1/proxy-sets', denied: '/api/v1/security/denied', ipGroups: '/api/v1/ip-groups',
};

/**
 * Calls per snapshot: a page of the list (the stream's ?q= filter and
 * ?offset=), never the whole list, so an SBC with thousands of calls does not
 * push megabytes a second to every open console; `callsTotal` says how many
 * matched. A console not showing the call list opens the stream with
 * ?calls=0 and gets no calls at all.
 */
export const SNAPSHOT_CALLS = 100;

interface Subscriber {
  cookie: string;
  raw: ServerResponse;
  /** The calls page this console shows (query string of GET /api/v1/calls); null: no calls (a page that shows none). */
  callsQuery: string | null;
}

function loadAssets(dir: string): { assets: Map<string, Asset>; csp: string } | null {
  if (!existsSync(`${dir}/index.html`)) return null;
  const files = readdirSync(dir).filter((f) => /^[\w.-]+$/.test(f));
  const build = createHash('sha256');
  for (const f of files.sort()) build.update(f).update(readFileSync(`${dir}/${f}`));
  const v = build.digest('hex').slice(0, 12);
  const assets = new Map<string, Asset>();
  let csp = '';
  for (const f of files) {
    let body = readFileSync(`${dir}/${f}`);
    if (f === 'index.html') {
      const html = body.toString('utf8').replaceAll('__V__', v);
      body = Buffer.from(html);
      // The import map is the one inline script: allowed by its hash, nothing else inline.
      const m = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html);
      const hashes = m === null ? '' : ` 'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`;
      csp = `default-src 'self'; script-src 'self'${hashes}; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
    }
    if (f.endsWith('.js')) {
      // The page's own modules import each other as './x.js': those URLs get the build id too, so they are cacheable for good like the rest.
      body = Buffer.from(body.toString('utf8').replace(/(\bfrom\s*|\bimport\s*\(\s*)(['"])\.\/([\w.-]+\.js)\2/g, `$1$2./$3?v=${v}$2`));
    }
    const ext = f.slice(f.lastIndexOf('.'));
    assets.set(f, {
      body, type: TYPES[ext] ?? 'application/octet-stream', immutable: f !== 'index.html',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    });
  }
  return { assets, csp };
}

const PUBLIC = { config: { role: 'public' as const } };
const MONITOR = { config: { role: 'monitor' as const } };

export function registerConsoleRoutes(server: FastifyInstance, opts: ConsoleOptions): void {
  const dir = opts.assetDir ?? fileURLToPath(new URL('../../console', import.meta.url));
  const built = loadAssets(dir);
  const period = opts.periodMs ?? 1000;

  server.get('/console', PUBLIC, async (_req, reply) => reply.redirect('/console/'));
  server.get<{ Params: { file?: string } }>('/console/:file', PUBLIC, async (req, reply) => {
    if (built === null) return reply.code(404).type('text/plain').send('console not built (npm run build)');
    const name = req.params.file === undefined || req.params.file === '' ? 'index.html' : req.params.file;
    const a = built.assets.get(name);
    if (a === undefined) return reply.code(404).send({ error: 'no such file' });
    reply.header('x-content-type-options', 'nosniff').header('etag', a.etag).header('referrer-policy', 'no-referrer');
    // index.html is checked every time (it names the build); the rest is addressed by build id.
    reply.header('cache-control', a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (name === 'index.html') reply.header('content-security-policy', built.csp).header('x-frame-options', 'DENY');
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  });

  server.post<{ Body: { username?: unknown; password?: unknown } }>('/console/api/login', PUBLIC, async (req, reply) => {
    const { username, password } = req.body ?? {};
    if (typeof username !== 'string' || typeof password !== 'string' || username.length > 128 || password.length > 1024) {
      return reply.code(400).send({ error: 'body must be {"username": "...", "password": "..."}' });
    }
    const user = await opts.auth.login(req.socket.remoteAddress ?? '', username, password);
    if (user === 'blocked') return reply.code(429).send({ error: 'too many failed logins; try again later' });
    if (user === 'bad') return reply.code(401).send({ error: 'wrong user name or password' });
    const { id, session } = opts.sessions.open(user);
    reply.header('set-cookie', opts.sessions.cookie(id, opts.secure)).header('cache-control', 'no-store');
    return { username: session.username, role: session.role, csrf: session.csrf };
  });
  server.get('/console/api/session', MONITOR, async (req, reply) => {
    const s = opts.sessions.lookup(req);
    reply.header('cache-control', 'no-store');
    if (typeof s === 'string') return reply.code(401).send({ error: 'not logged in to the console' });
    return { username: s.username, role: s.role, csrf: s.csrf };
  });
  server.post('/console/api/logout', MONITOR, async (req, reply) => {
    opts.sessions.close(req);
    return reply.header('set-cookie', opts.sessions.cookie('', opts.secure)).code(204).send();
  });

  // --- the dashboard's last hour (console-history.ts): one reading every 10 s.
  const history = new DashboardHistory();
  const figures = opts.figures;
  const historyTimer = figures === undefined ? null : setInterval(() => {
    figures().then((f) => { if (f !== null) history.add(Date.now(), f); }, () => undefined);
  }, opts.historyEveryMs ?? 10_000);
  historyTimer?.unref();

  // --- the event stream: one timer for all subscribers, only while there are any.
  const subscribers = new Set<Subscriber>();
  let timer: NodeJS.Timeout | null = null;
  let busy = false;
  const snapshotFor = async (sub: Subscriber): Promise<Record<string, unknown> | null> => {
    const out: Record<string, unknown> = { time: Date.now() };
    for (const [key, path] of Object.entries(SNAPSHOT)) {
      if (key === 'calls' && sub.callsQuery === null) continue;
      const url = key === 'calls' ? `${path}?${sub.callsQuery}` : path;
      const r = await server.inject({ method: 'GET', url, headers: { cookie: sub.cookie } });
      // 401: the session ended. A 403/404 (a module not configured) leaves just that part empty.
      if (r.statusCode === 401) return null;
      out[key] = r.statusCode === 200 ? r.json() : null;
      if (key === 'calls') out['callsTotal'] = r.statusCode === 200 ? Number(r.headers['x-total-count'] ?? (out[key] as unknown[]).length) : null;
    }
    return out;
  };
  const push = async (sub: Subscriber, first = false): Promise<void> => {
    let snap: Record<string, unknown> | null;
    try {
      snap = await snapshotFor(sub);
      // A new page gets the last hour once; later snapshots add to it.
      if (first && snap !== null) snap['history'] = history.points();
    } catch {
      return; // the server is closing; the next round or onClose ends the stream
    }
    if (snap === null) {
      // Logged out or expired: tell the page, then close.
      sub.raw.write('event: logout\ndata: {}\n\n');
      sub.raw.end();
      subscribers.delete(sub);
      return;
    }
    sub.raw.write(`event: snapshot\ndata: ${JSON.stringify(snap)}\n\n`);
  };
  const tick = async (): Promise<void> => {
    if (busy) return; // a slow round is not stacked on another
    busy = true;
    try {
      for (const sub of [...subscribers]) await push(sub);
    } finally {
      busy = false;
    }
    if (subscribers.size === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
  server.get<{ Querystring: { q?: string; offset?: string; calls?: string } }>('/console/api/events', MONITOR, async (req, reply) => {
    // The snapshot is read with the subscriber's own session; a Basic/Bearer client (no cookie) gets `logout` at once.
    const cookie = `${SESSION_COOKIE}=${cookieValue(req.headers.cookie, SESSION_COOKIE) ?? ''}`;
    const callsQuery = new URLSearchParams({ limit: String(SNAPSHOT_CALLS) });
    if (typeof req.query.q === 'string' && req.query.q !== '') callsQuery.set('q', req.query.q.slice(0, 128));
    if (typeof req.query.offset === 'string' && /^\d{1,7}$/.test(req.query.offset)) callsQuery.set('offset', req.query.offset);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // ?calls=0: the page shows no call list (dashboard, security): the snapshot leaves the calls out.
    const sub: Subscriber = { cookie, raw, callsQuery: req.query.calls === '0' ? null : callsQuery.toString() };
    subscribers.add(sub);
    raw.on('close', () => {
      subscribers.delete(sub);
      if (subscribers.size === 0 && timer !== null) {
        clearInterval(timer);
        timer = null;
      }
    });
    void push(sub, true);
    if (timer === null) timer = setInterval(() => void tick(), period);
  });
  server.addHook('onClose', async () => {
    if (timer !== null) clearInterval(timer);
    if (historyTimer !== null) clearInterval(historyTimer);
    for (const s of subscribers) s.raw.end();
    subscribers.clear();
  });
}
