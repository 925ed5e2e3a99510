/**
 * Keeps the registration database across restarts, so a restart does not
 * cut off every remote phone until it registers again. An append-only
 * journal of JSON lines (`bindings.jsonl`: a put carries the whole
 * binding, a remove its key), written asynchronously in batches, and
 * rewritten as a snapshot of the live bindings at start and whenever the
 * journal grows to several times the live set. No native dependency: the
 * records are small and only ever read in full at start.
 *
 * A missing directory is created; a journal that cannot be read (corrupt
 * in the middle, unreadable) is moved aside, logged, and the SBC starts
 * empty. A torn last line (a crash mid-write) is dropped silently.
 */
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../util/logger.js';
import type { Binding, BindingChange, Flow, RegistrationDb, UpstreamRegistration } from './bindings.js';

const FILE = 'bindings.jsonl';
const FLUSH_MS = 50;

type Record = { op: 'put'; b: Binding } | { op: 'del'; k: string };

function isObject(v: unknown): v is { [k: string]: unknown } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): v is string {
  return typeof v === 'string';
}

function num(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function flowOf(v: unknown): Flow | null {
  if (!isObject(v) || !str(v['address']) || !num(v['port']) || !str(v['interfaceName'])) return null;
  const t = v['transport'];
  if (t !== 'udp' && t !== 'tcp' && t !== 'tls') return null;
  // Connections do not survive a restart.
  return { transport: t, address: v['address'], port: v['port'], interfaceName: v['interfaceName'], connectionId: null };
}

function upstreamOf(v: unknown): UpstreamRegistration | null | undefined {
  if (v === null) return null;
  if (!isObject(v) || !str(v['address']) || !num(v['port']) || !str(v['interfaceName']) || !str(v['requestUri'])) return undefined;
  const t = v['transport'];
  if (t !== 'udp' && t !== 'tcp' && t !== 'tls') return undefined;
  const g = v['ipGroup'];
  return { address: v['address'], port: v['port'], transport: t, interfaceName: v['interfaceName'], requestUri: v['requestUri'], ipGroup: str(g) ? g : null };
}

/** A binding read back from disk, checked field by field; null when anything is off. */
export function bindingFromJson(v: unknown): Binding | null {
  if (!isObject(v)) return null;
  const flow = flowOf(v['flow']);
  const upstream = upstreamOf(v['upstream']);
  const path = v['path'];
  if (flow === null || upstream === undefined || !Array.isArray(path) || !path.every(str)) return null;
  for (const k of ['aor', 'aorUser', 'contact', 'contactUri', 'ipGroup', 'userAgent', 'callId', 'sbcUser']) if (!str(v[k])) return null;
  for (const k of ['expiresAt', 'upstreamExpiresAt', 'cseq', 'registeredAt']) if (!num(v[k])) return null;
  const s = (k: string): string => v[k] as string;
  const n = (k: string): number => v[k] as number;
  return {
    aor: s('aor'), aorUser: s('aorUser'), contact: s('contact'), contactUri: s('contactUri'), ipGroup: s('ipGroup'), flow,
    expiresAt: n('expiresAt'), upstreamExpiresAt: n('upstreamExpiresAt'), userAgent: s('userAgent'), path,
    callId: s('callId'), cseq: n('cseq'), sbcUser: s('sbcUser'), upstream, registeredAt: n('registeredAt'),
  };
}

export class BindingStore {
  private fh: FileHandle | null = null;
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private lines = 0;
  private compacting = false;
  private closed = false;

  constructor(private readonly dir: string, private readonly db: RegistrationDb, private readonly logger: Logger) {}

  /** Reads the journal into `db` (expired bindings skipped), writes a fresh snapshot, then journals every change. */
  async open(now = Date.now()): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, FILE);
    const live = new Map<string, Binding>();
    let text: string | null = null;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.error({ err, path }, 'registration store unreadable: starting empty');
    }
    if (text !== null) {
      const lines = text.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      let corrupt = -1;
      for (let i = 0; i < lines.length && corrupt < 0; i++) {
        let rec: unknown;
        try {
          rec = JSON.parse(lines[i]!);
        } catch {
          // A torn last line is what a crash mid-append leaves: drop it quietly.
          if (i === lines.length - 1) break;
          corrupt = i;
          break;
        }
        if (isObject(rec) && rec['op'] === 'del' && str(rec['k'])) live.delete(rec['k']);
        else if (isObject(rec) && rec['op'] === 'put' && bindingFromJson(rec['b']) !== null) {
          const b = bindingFromJson(rec['b'])!;
          live.set(b.sbcUser, b);
        } else corrupt = i;
      }
      if (corrupt >= 0) {
        const aside = `${path}.corrupt-${now}`;
        this.logger.error({ path, line: corrupt + 1, movedTo: aside }, 'registration store corrupt: starting empty');
        await rename(path, aside).catch(() => undefined);
        live.clear();
      }
    }
    let loaded = 0;
    for (const b of live.values()) {
      if (b.expiresAt <= now) continue;
      this.db.put(b);
      loaded++;
    }
    await this.writeSnapshot();
    this.db.onChange = (c) => this.record(c);
    this.logger.info({ dir: this.dir, bindings: loaded }, 'registration store opened');
    return loaded;
  }

  private record(c: BindingChange): void {
    if (this.closed || c.binding.permanent === true) return;
    const rec: Record = c.kind === 'put' ? { op: 'put', b: c.binding } : { op: 'del', k: c.binding.sbcUser };
    this.pending.push(JSON.stringify(rec));
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Appends what is pending (one write per batch, in order). */
  flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return this.writing;
    const batch = `${this.pending.join('\n')}\n`;
    this.lines += this.pending.length;
    this.pending = [];
    this.writing = this.writing.then(async () => {
      try {
        if (this.fh !== null) await this.fh.appendFile(batch);
      } catch (err) {
        this.logger.error({ err }, 'registration store write failed');
      }
    });
    if (!this.compacting && this.lines > 4 * this.db.size + 1000) {
      this.compacting = true;
      this.writing = this.writing.then(() => this.writeSnapshot()).finally(() => {
        this.compacting = false;
      });
    }
    return this.writing;
  }

  /** Replaces the journal by the live bindings (temp file + rename: never a half-written store). */
  private async writeSnapshot(): Promise<void> {
    const path = join(this.dir, FILE);
    const tmp = `${path}.tmp`;
    const lines: string[] = [];
    for (const b of this.db.all()) if (b.permanent !== true) lines.push(JSON.stringify({ op: 'put', b } satisfies Record));
    try {
      const out = await open(tmp, 'w');
      await out.writeFile(lines.length > 0 ? `${lines.join('\n')}\n` : '');
      await out.sync();
      await out.close();
      await this.fh?.close();
      await rename(tmp, path);
      this.fh = await open(path, 'a');
      this.lines = lines.length;
    } catch (err) {
      this.logger.error({ err, path }, 'registration store snapshot failed');
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    this.db.onChange = null;
    await this.writing;
    await this.fh?.close();
    this.fh = null;
  }
}
