/**
 * The SBC's call engine on real sockets for integration tests: a
 * TransportLayer + TransactionLayer + CallManager on 127.0.0.1 with a
 * static routing port (every call goes to the first UAS address, the
 * alternatives to the next ones), no media anchoring, and an in-memory CDR
 * sink. Also reads sipp `-trace_msg` logs so tests can check what each
 * side saw.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { findFreePort, startSipp, type SippResult } from './sipp.js';
import { CallManager } from '../../../src/b2bua/call-manager.js';
import type {
  CallProfile, CallRouting, Endpoint, IpGroupRef, MediaPort, RouteFailure, RouteTarget, RoutingPort,
} from '../../../src/b2bua/ports.js';
import { MemoryCdrSink } from '../../../src/cdr/sinks.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipMessage } from '../../../src/sip/message.js';
import { TransactionLayer } from '../../../src/transaction/transaction-layer.js';
import { TransportLayer } from '../../../src/transport/transport-layer.js';

export const DEFAULT_PROFILE: CallProfile = {
  prackMode: 'transparent', sessionExpiresSec: 0, minSeSec: 90, referMode: 'relay', redirect3xxMode: 'relay', maxCallDurationSec: 0,
};

export interface HarnessOptions {
  /** Destinations in order: [0] first route, then alternatives on failure. */
  uas: Endpoint[];
  /** Request-URI users routed to a given destination index (e.g. a REFER target); others go by attempt. */
  routeByUser?: Record<string, number>;
  /** Failures that move to the next destination (default 503, 'timeout'). */
  altRouteOn?: Array<number | 'timeout'>;
  srcProfile?: Partial<CallProfile>;
  dstProfile?: Partial<CallProfile>;
  credentials?: { username: string; password: string } | null;
  maxCallsPerGroup?: number | null;
  maxRerouteAttemptsOn3xx?: number;
  keepOriginalCallId?: boolean;
  media?: MediaPort;
  tcp?: boolean;
  t1Ms?: number;
}

export interface Harness {
  address: string;
  udpPort: number;
  tcpPort: number | undefined;
  manager: CallManager;
  cdr: MemoryCdrSink;
  transactions: TransactionLayer;
  close(): Promise<void>;
}

export async function startB2bua(opts: HarnessOptions): Promise<Harness> {
  const transport = new TransportLayer();
  const info = await transport.listen({ name: 'lan', address: '127.0.0.1', udpPort: 0, ...(opts.tcp ? { tcpPort: 0 } : {}) });
  const transactions = new TransactionLayer(transport, { t1Ms: opts.t1Ms ?? 100, t2Ms: 400, t4Ms: 500 });
  const src: IpGroupRef = {
    name: 'PBX', id: 1, type: 'server', keepOriginalCallId: false, sipGroupName: 'pbx.example',
    profile: { ...DEFAULT_PROFILE, ...opts.srcProfile },
  };
  const dst: IpGroupRef = {
    name: 'ITSP', id: 2, type: 'server', keepOriginalCallId: opts.keepOriginalCallId ?? false, sipGroupName: null,
    profile: { ...DEFAULT_PROFILE, ...opts.dstProfile },
  };
  const altOn = opts.altRouteOn ?? [503, 'timeout'];
  const routeAt = (req: SipMessage, attempt: number, lastFailure: RouteFailure): RouteTarget | { reject: number } | null => {
    if (attempt > 0 && !altOn.includes(lastFailure as number | 'timeout')) return null;
    const user = userPart(req.requestUri);
    const byUser = opts.routeByUser?.[user];
    const dest = opts.uas[byUser !== undefined && attempt === 0 ? byUser : attempt];
    if (dest === undefined) return null;
    const host = dest.address;
    return {
      dstIpGroup: dst, dest, interfaceName: 'lan', ruleName: `static-${attempt}`,
      requestUri: `sip:${user ? `${user}@` : ''}${host}:${dest.port}${dest.transport === 'udp' ? '' : `;transport=${dest.transport}`}`,
    };
  };
  const callRouting: CallRouting = {
    applyInbound: () => {},
    // Each walk counts its own attempts: the first route, then one alternative per failure.
    routeWalk: (req) => {
      let attempt = -1;
      return { next: (lastFailure) => routeAt(req, ++attempt, lastFailure) };
    },
    applyOutbound: () => {},
    credentialsFor: () => opts.credentials ?? null,
    maxRerouteAttemptsOn3xx: opts.maxRerouteAttemptsOn3xx ?? 2,
  };
  const routing: RoutingPort = {
    classify: () => ({ srcIpGroup: src, routing: callRouting }),
    maxConcurrentCalls: () => opts.maxCallsPerGroup ?? null,
  };
  const cdr = new MemoryCdrSink();
  const manager = new CallManager({
    transactions, routing, cdr,
    media: opts.media ?? { create: () => null },
    local: {
      contactAddress: (_iface, tp) => {
        const port = tp === 'tcp' ? info.tcpPort : info.udpPort;
        return port === undefined ? null : { address: '127.0.0.1', port };
      },
    },
    t1Ms: opts.t1Ms ?? 100,
    t2Ms: 400,
  });
  manager.attach(transactions);
  return {
    address: '127.0.0.1', udpPort: info.udpPort!, tcpPort: info.tcpPort, manager, cdr, transactions,
    async close() {
      manager.shutdown();
      transactions.close();
      await transport.close();
    },
  };
}

function userPart(uri: string): string {
  const colon = uri.indexOf(':');
  const at = uri.indexOf('@');
  return colon >= 0 && at > colon ? uri.slice(colon + 1, at) : '';
}

export interface SippTraceOptions {
  /** A side that may legitimately have seen nothing (an alternative UAS never called): missing or empty file gives []. */
  mayBeEmpty?: boolean;
  /** Messages this side sent on purpose broken (a malformed-request scenario) are left out; everything received must still parse. */
  sentMayBeMalformed?: boolean;
}

/**
 * The messages of a sipp `-trace_msg` file, in order, with their direction.
 * Strict, so a check over the trace cannot pass on nothing: a missing or
 * empty file, a file without any message, and a message that does not
 * parse are errors (unless `opts` says otherwise).
 */
export async function readSippTrace(path: string, opts: SippTraceOptions = {}): Promise<Array<{ dir: 'sent' | 'received'; msg: SipMessage; raw: string }>> {
  let text: string;
  try {
    text = await readFile(path, 'latin1');
  } catch (err) {
    if (opts.mayBeEmpty) return [];
    throw new Error(`sipp trace ${path} could not be read: ${String(err)}`);
  }
  const out: Array<{ dir: 'sent' | 'received'; msg: SipMessage; raw: string }> = [];
  // Entries look like: "----...\n<date> UDP message sent (N bytes):\n\n<SIP message>"
  const parts = text.split(/^-{10,}.*$/m);
  for (const p of parts) {
    const m = /message (sent|received)[^\n]*:\n\n?/.exec(p);
    if (m === null) continue;
    let raw = p.slice(m.index + m[0].length).replace(/^\n+/, '');
    raw = raw.replace(/\n+$/, '\n');
    // sipp writes bare LF in the log; SIP wants CRLF.
    const crlf = raw.replace(/\r?\n/g, '\r\n');
    const sep = crlf.indexOf('\r\n\r\n');
    let head = sep >= 0 ? crlf.slice(0, sep + 4) : crlf + '\r\n';
    const body = sep >= 0 ? crlf.slice(sep + 4) : '';
    head = head.replace(/^Content-Length:.*$/im, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
    const dir = m[1] as 'sent' | 'received';
    const parsed = parseMessage(Buffer.from(head + body, 'latin1'));
    if (parsed.ok) out.push({ dir, msg: parsed.message, raw });
    else if (!(dir === 'sent' && opts.sentMayBeMalformed)) {
      throw new Error(`sipp trace ${path}: a ${dir} message does not parse (${parsed.error}):\n${raw}`);
    }
  }
  if (out.length === 0 && !opts.mayBeEmpty) {
    throw new Error(`sipp trace ${path} holds no SIP message (${text.length} bytes):\n${text.slice(0, 2000)}`);
  }
  return out;
}

/**
 * Values a side put into its messages that must never reach the other side:
 * from requests it sent, Call-ID, From tag, Via branch and address, Contact;
 * from responses it sent, Contact and its To tag. `exclude` holds values
 * that legitimately appear on both sides (the SBC's own address).
 */
export function topologyOf(msgs: Array<{ dir: 'sent' | 'received'; msg: SipMessage }>, exclude: string[] = []): string[] {
  const out = new Set<string>();
  for (const { dir, msg } of msgs) {
    if (dir !== 'sent') continue;
    const headers = msg.isRequest ? ['via', 'contact', 'record-route'] : ['contact'];
    if (msg.isRequest) {
      if (msg.callId) out.add(msg.callId);
      if (msg.fromTag) out.add(msg.fromTag);
    } else if (msg.toTag) out.add(msg.toTag);
    for (const h of headers) {
      for (const v of msg.getHeaderValues(h)) {
        const branch = /branch=([^;,\s]+)/.exec(v);
        if (branch) out.add(branch[1]!);
        const hp = /(?:sip:(?:[^@>;]*@)?|UDP |TCP )([0-9.]+:\d+)/i.exec(v);
        if (hp) out.add(hp[1]!);
      }
    }
  }
  for (const e of exclude) out.delete(e);
  return [...out];
}

// --- one call through the SBC with sipp on both sides ------------------------

export const SCENARIOS = join(import.meta.dirname, '..', '..', 'scenarios');

export type SippTrace = Awaited<ReturnType<typeof readSippTrace>>;

export interface FlowResult {
  uac: SippResult;
  uas: SippResult[];
  uacTrace: SippTrace;
  uasTrace: SippTrace[];
  sbc: Harness;
}

export interface FlowOptions {
  harness?: Partial<HarnessOptions>;
  transport?: 'u1' | 't1';
  /** Request-URI user the UAC calls (`-s`). */
  service?: string;
  /** How long a UAS that got no call (or never finished) may run after the UAC ended. */
  uasGraceMs?: number;
  /** Extra sipp arguments for the UAC (e.g. `-key name value`). */
  uacArgs?: string[];
  /** The UAC scenario sends malformed requests on purpose (their trace entries do not parse). */
  uacSendsMalformed?: boolean;
}

let flowSeq = 0;
let traceDir: string | null = null;

/**
 * Runs one call: the UAS sipps listen first, then the UAC calls through the
 * SBC. Waits until the SBC has released the call, and closes the SBC.
 */
export async function runFlow(uac: string, uas: string[], opts: FlowOptions = {}): Promise<FlowResult> {
  traceDir ??= await mkdtemp(join(tmpdir(), 'b2bua-flow-'));
  const n = ++flowSeq;
  const transport = opts.transport ?? 'u1';
  const ports = await Promise.all(uas.map(() => findFreePort()));
  const tp = transport === 't1' ? 'tcp' : 'udp';
  const dests: Endpoint[] = ports.map((port) => ({ address: '127.0.0.1', port, transport: tp }));
  const sbc = await startB2bua({ uas: dests, tcp: transport === 't1', ...opts.harness });
  const files = { uac: join(traceDir, `uac-${process.pid}-${n}.log`), uas: uas.map((_, i) => join(traceDir!, `uas-${process.pid}-${n}-${i}.log`)) };
  try {
    const uasProcs = uas.map((sc, i) => startSipp({
      scenario: join(SCENARIOS, sc), calls: 1, localPort: ports[i]!, transport, timeoutMs: 20_000,
      extraArgs: ['-trace_msg', '-message_file', files.uas[i]!],
    }));
    // The call goes out only once every UAS listens.
    await Promise.all(uasProcs.map((p) => p.bound()));
    const uacRes = await startSipp({
      scenario: join(SCENARIOS, uac), target: `127.0.0.1:${transport === 't1' ? sbc.tcpPort : sbc.udpPort}`, calls: 1, transport,
      service: opts.service ?? '4321', timeoutMs: 20_000,
      extraArgs: ['-trace_msg', '-message_file', files.uac, ...(opts.uacArgs ?? [])],
    }).done;
    const uasRes = await Promise.all(uasProcs.map(async (p) => {
      const t = setTimeout(() => void p.stop(), opts.uasGraceMs ?? 3000);
      const r = await p.done;
      clearTimeout(t);
      return r;
    }));
    const uacTrace = await readSippTrace(files.uac, { sentMayBeMalformed: opts.uacSendsMalformed ?? false });
    // A UAS that sipp counted no call for (an alternative never tried) may have an empty trace.
    const uasTrace = await Promise.all(files.uas.map((f, i) => readSippTrace(f, { mayBeEmpty: uasRes[i]!.successful + uasRes[i]!.failed === 0 })));
    // BYE/ACK handling is asynchronous on our side: wait for the call to be released.
    for (let i = 0; i < 60 && (sbc.manager.stats().calls > 0 || sbc.manager.registeredDialogs > 0); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return { uac: uacRes, uas: uasRes, uacTrace, uasTrace, sbc };
  } finally {
    await sbc.close();
    await Promise.all([files.uac, ...files.uas].map((f) => rm(f, { force: true })));
  }
}

/** Both sipps counted their call as successful. */
export function expectSuccess(r: FlowResult, uasIndexes: number[] = r.uas.map((_, i) => i)): void {
  expect(r.uac.successful, `UAC: ${r.uac.output}${r.uac.errors}`).toBe(1);
  for (const i of uasIndexes) expect(r.uas[i]!.successful, `UAS ${i}: ${r.uas[i]!.output}${r.uas[i]!.errors}`).toBe(1);
}

/** Nothing one side put into its messages (Call-ID, tags, Via, Contact, addresses) reached the other. */
export function expectNoLeak(r: FlowResult): void {
  // A leak check over empty traces proves nothing.
  expect(r.uacTrace.length, 'leg A trace is empty').toBeGreaterThan(0);
  expect(r.uasTrace.flat().length, 'leg B traces are empty').toBeGreaterThan(0);
  expect(r.uacTrace.some((m) => m.dir === 'received'), 'leg A received nothing').toBe(true);
  expect(r.uasTrace.flat().some((m) => m.dir === 'received'), 'leg B received nothing').toBe(true);
  const own = [`127.0.0.1:${r.sbc.udpPort}`, `127.0.0.1:${r.sbc.tcpPort}`];
  const aSide = topologyOf(r.uacTrace, own);
  const bSide = r.uasTrace.flatMap((t) => topologyOf(t, own));
  const bText = r.uasTrace.flatMap((t) => t.filter((m) => m.dir === 'received').map((m) => m.raw)).join('\n');
  const aText = r.uacTrace.filter((m) => m.dir === 'received').map((m) => m.raw).join('\n');
  // A value ending in a port must not match a longer port: 127.0.0.1:5060 is not in 127.0.0.1:50605.
  const occurs = (text: string, v: string): boolean =>
    new RegExp(`${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${/\d$/.test(v) ? '(?!\\d)' : ''}`).test(text);
  for (const v of aSide) expect(occurs(bText, v), `leg A value ${v} leaked to leg B: ${bText}`).toBe(false);
  for (const v of bSide) expect(occurs(aText, v), `leg B value ${v} leaked to leg A: ${aText}`).toBe(false);
}

/** The SBC holds no call, dialog or timer any more. */
export function expectClean(r: FlowResult): void {
  const s = r.sbc.manager.stats();
  expect(s.calls).toBe(0);
  expect(s.dialogs).toBe(0);
  expect(s.pendingTimers).toBe(0);
  expect(r.sbc.manager.registeredDialogs).toBe(0);
  expect(s.callsByIpGroup).toEqual({});
}

/** Messages a side received (or sent): a request method or a response status. */
export function received(trace: SippTrace, what: string | number, dir: 'sent' | 'received' = 'received'): SippTrace {
  return trace.filter((m) => m.dir === dir && (typeof what === 'number'
    ? !m.msg.isRequest && m.msg.status === what
    : m.msg.isRequest && m.msg.method === what));
}

export function sent(trace: SippTrace, what: string | number): SippTrace {
  return received(trace, what, 'sent');
}
