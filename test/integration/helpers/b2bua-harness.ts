/**
 * The SBC's call engine on real sockets for integration tests: a
 * TransportLayer + TransactionLayer + CallManager on 127.0.0.1 with a
 * static routing port (every call goes to the first UAS address, the
 * alternatives to the next ones), no media anchoring, and an in-memory CDR
 * sink. Also reads sipp `-trace_msg` logs so tests can check what each
 * side saw.
 */
import { readFile } from 'node:fs/promises';
import { CallManager } from '../../../src/b2bua/call-manager.js';
import type {
  CallProfile, Endpoint, IpGroupRef, MediaPort, RouteTarget, RoutingPort,
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
  const routing: RoutingPort = {
    classify: () => ({ srcIpGroup: src }),
    applyInbound: () => {},
    route: (req: SipMessage, _src, attempt, lastFailure): RouteTarget | { reject: number } | null => {
      if (attempt > 0 && !altOn.includes(lastFailure as number | 'timeout')) return null;
      const dest = opts.uas[attempt];
      if (dest === undefined) return null;
      const user = userPart(req.requestUri);
      const host = dest.address;
      return {
        dstIpGroup: dst, dest, interfaceName: 'lan', ruleName: `static-${attempt}`,
        requestUri: `sip:${user ? `${user}@` : ''}${host}:${dest.port}${dest.transport === 'udp' ? '' : `;transport=${dest.transport}`}`,
      };
    },
    applyOutbound: () => {},
    credentialsFor: () => opts.credentials ?? null,
    maxConcurrentCalls: () => opts.maxCallsPerGroup ?? null,
    maxRerouteAttemptsOn3xx: opts.maxRerouteAttemptsOn3xx ?? 2,
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

/** The messages of a sipp `-trace_msg` file, in order, with their direction. */
export async function readSippTrace(path: string): Promise<Array<{ dir: 'sent' | 'received'; msg: SipMessage; raw: string }>> {
  let text: string;
  try {
    text = await readFile(path, 'latin1');
  } catch {
    return [];
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
    const parsed = parseMessage(Buffer.from(head + body, 'latin1'));
    if (parsed.ok) out.push({ dir: m[1] as 'sent' | 'received', msg: parsed.message, raw });
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
