/**
 * The signalling engine of one SIP worker thread (docs/performance.md,
 * "Multi-core signalling"): its shard of every SIP Interface's UDP port,
 * its own transaction layer, call manager, routing, media relay (its own
 * relay thread and share of each realm's ports), overload guard and edge
 * guard — the same pieces the main thread runs, built from the same ini.
 *
 * What a worker does not own goes to the main thread as received: requests
 * outside a call (REGISTER never comes here; OPTIONS, SUBSCRIBE, PUBLISH,
 * MESSAGE ... without a To tag) and responses no transaction of this
 * thread is waiting for. CDRs (with their QoE) go to the main thread's
 * sinks. Admission-control counts are shared memory (exact across threads).
 */
import { ConfigStore, formatDiagnostic, type SbcConfig } from '../../config/index.js';
import { ProxySetManager } from '../../routing/index.js';
import type { ServerEvent } from '../../routing/proxy-set.js';
import { TransportLayer } from '../../transport/index.js';
import { TransactionLayer } from '../../transaction/index.js';
import { CallManager } from '../../b2bua/index.js';
import { createRelayEngine } from '../../media/relay.js';
import type { RelayEngine } from '../../media/relay-types.js';
import type { SipMessage } from '../../sip/message.js';
import { serializeMessage } from '../../sip/serializer.js';
import type { InboundMessage } from '../../transport/types.js';
import type { Logger } from '../../util/logger.js';
import { ConfigRoutingPort } from '../routing-port.js';
import { ConfigMediaPort } from '../media-port.js';
import { AdmissionControl } from '../admission-control.js';
import { SharedCounters } from '../concurrency-counters.js';
import { createEdgeGuard, edgeGuardOptions } from '../edge-security.js';
import { createOverloadGuard, positiveScalar, transactionOptions, transportOptions } from '../engine-options.js';
import { callLadder, callTimes } from '../call-ladder.js';
import { endLiveCall } from '../call-views.js';
import type { OverloadGuard } from '../overload.js';
import type { EdgeGuard } from '../../security/edge-guard.js';
import type { FromWorker, WorkerSetup } from './messages.js';
import { SipMessageTally } from '../../metrics/sip-messages.js';
import type { StreamFrame } from '../../transport/types.js';
import { StreamSendsToMain, exactBytes } from './stream-sends.js';

/** Requests a worker handles although they carry no call of its own yet: a call's own methods. */
const CALL_METHODS = new Set(['INVITE', 'ACK', 'CANCEL', 'BYE', 'PRACK', 'UPDATE', 'INFO', 'REFER']);

/** Whether this thread handles `req` (else the main thread does). */
export function workerOwns(req: SipMessage): boolean {
  if (CALL_METHODS.has(req.method)) return true;
  // In a call's dialog: the REFER subscription's NOTIFY, in-dialog OPTIONS keep-alives.
  return req.toTag !== null && (req.method === 'NOTIFY' || req.method === 'OPTIONS');
}

export class CallShard {
  private constructor(
    private readonly store: ConfigStore,
    private readonly transport: TransportLayer,
    private readonly transactions: TransactionLayer,
    private readonly proxySets: ProxySetManager,
    readonly calls: CallManager,
    private readonly relay: RelayEngine,
    private readonly overload: OverloadGuard,
    private readonly guard: EdgeGuard,
    private readonly setup: WorkerSetup,
    private readonly log: Logger,
    readonly admission: AdmissionControl,
    private readonly sipMessages: SipMessageTally,
    private readonly streamSends: StreamSendsToMain,
  ) {}

  static async start(setup: WorkerSetup, log: Logger, post: (m: FromWorker) => void): Promise<CallShard> {
    const { store, diagnostics } = await ConfigStore.open(setup.configFile);
    if (store === null) throw new Error(`configuration has errors: ${diagnostics.map(formatDiagnostic).join('; ')}`);
    const config = store.current();
    const guard = createEdgeGuard(config, log.child({ module: 'security' }));
    // Every TCP/TLS connection is the main thread's: this thread's stream sends go there.
    const streamSends = new StreamSendsToMain(post);
    const transport = new TransportLayer({ ...transportOptions(config, log, guard), streamRelay: streamSends.send });
    for (const si of config.sipInterfaces) {
      const share = setup.shares[si.interfaceName];
      const stream = setup.streamPorts[si.interfaceName];
      const address = config.sipInterfaceAddress(si.interfaceName);
      if ((share === undefined && stream === undefined) || address === undefined) continue;
      await transport.listen({
        name: si.interfaceName, address,
        ...(share !== undefined ? { udpPort: si.udpPort, udpSharing: { role: 'worker' as const, share, shard: setup.shard } } : {}),
        ...stream,
      });
    }
    const sipMessages = new SipMessageTally();
    transport.onSipMessage = (msg, direction) => sipMessages.count(msg, direction);
    const transactions = new TransactionLayer(transport, transactionOptions(config, log));
    // No prober: the main thread's keep-alive decides, this thread follows (followProxy).
    const proxySets = new ProxySetManager(config, { logger: log.child({ module: 'proxy-set' }) });
    const relay = createRelayEngine({ prefer: setup.relay, logger: log.child({ module: 'media' }) });
    const routing = new ConfigRoutingPort(() => store.current(), proxySets, log.child({ module: 'routing' }));
    const media = new ConfigMediaPort(() => store.current(), relay, log.child({ module: 'media' }), { index: setup.shard, count: setup.shards });
    const admission = new AdmissionControl(() => store.current(), Date.now, new SharedCounters(setup.admission, setup.shard));
    routing.admission = admission;
    const overload = createOverloadGuard(config, log);
    const calls = new CallManager({
      transactions, routing, media, local: transport, logger: log, t1Ms: config.sip.t1Ms, t2Ms: config.sip.t2Ms, load: overload,
      cdr: { write: (record) => post({ kind: 'cdr', record }) },
      pendingCallsPerSource: (address) => (guard.trusted(address) ? Number.POSITIVE_INFINITY : positiveScalar(store.current(), 'SIPMaxPendingCallsPerSource', 50)),
      onRefused: (inbound, kind) => guard.report(kind === 'no-dialog' ? 'abnormal-flow' : 'dialog-failure', inbound.remote, inbound.interfaceName),
    });
    calls.attach(transactions);
    const toMain = (inbound: InboundMessage): void => {
      const bytes = exactBytes(serializeMessage(inbound.message));
      if (inbound.connectionId !== null) {
        post({ kind: 'stream-message', iface: inbound.interfaceName, connectionId: inbound.connectionId, remote: inbound.remote, bytes });
      } else {
        post({ kind: 'datagram', iface: inbound.interfaceName, address: inbound.remote.address, port: inbound.remote.port, bytes });
      }
    };
    const callsOnRequest = transactions.onRequest;
    transactions.onRequest = (req, stx, inbound) => {
      if (workerOwns(req)) return callsOnRequest(req, stx, inbound);
      // Gone from here at once: its retransmissions come back as new and follow it to the main thread.
      stx?.handOver?.();
      toMain(inbound);
    };
    // A 2xx to INVITE retransmitted after its transaction ended is this thread's call (re-ACK);
    // other strays may answer a request the main thread sent with a Call-ID of ours.
    const callsOnStray = transactions.onStrayResponse;
    transactions.onStrayResponse = (res, inbound) => (res.cseq?.method === 'INVITE' ? callsOnStray(res, inbound) : toMain(inbound));
    await proxySets.start();
    return new CallShard(store, transport, transactions, proxySets, calls, relay, overload, guard, setup, log, admission, sipMessages, streamSends);
  }

  /** A message from one of the main thread's TCP/TLS connections whose Call-ID is ours. */
  acceptStreamFrame(frame: StreamFrame): void {
    this.transport.acceptStreamFrame(frame);
  }

  /** The main thread's answer to one of our stream sends. */
  streamSent(id: number, error: string | null): void {
    this.streamSends.settled(id, error);
  }

  /** A reload on the main thread: the same text, so every thread routes the same way. */
  async reload(text: string): Promise<void> {
    const res = await this.store.reload(text, { kind: 'file', detail: `worker ${this.setup.shard}` });
    if (!res.ok) return;
    const next: SbcConfig = this.store.current();
    this.proxySets.update(next);
    this.guard.update(edgeGuardOptions(next, this.log.child({ module: 'security' })));
  }

  followProxy(server: ServerEvent, up: boolean): void {
    this.proxySets.follow(server, up);
  }

  stats(): Record<string, unknown> {
    const s = this.calls.stats();
    return {
      shard: this.setup.shard, activeCalls: s.calls, calls: { ...s, registeredDialogs: this.calls.registeredDialogs },
      transactions: this.transactions.stats(), transport: this.transport.stats(),
      relay: { kind: this.relay.kind, sessions: this.relay.sessionCount(), packetsRelayed: this.relay.packetsRelayed() }, overload: this.overload.stats(),
      sipMessages: this.sipMessages.totals(),
      callsBySourceGroup: this.callsBySourceGroup(),
    };
  }

  /** Live calls per source IP Group (sbc_ip_group_calls_active counts a call under its caller's group). */
  private callsBySourceGroup(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.calls.liveCalls()) out[c.src.name] = (out[c.src.name] ?? 0) + 1;
    return out;
  }

  liveCalls(): unknown[] {
    return [...this.calls.liveCalls()].map((c) => ({
      id: c.id, state: c.state, srcIpGroup: c.src.name, dstIpGroup: c.dst?.name ?? null, shard: this.setup.shard,
      legACallId: c.inviteA.callId, from: c.inviteA.getHeader('from'), to: c.inviteA.getHeader('to'), qoe: null, ...callTimes(c),
    }));
  }

  ladder(id: string): unknown {
    return callLadder(this.calls.liveCalls(), id, null);
  }

  /** DELETE /api/v1/calls/:id for a call of this thread: BYE/CANCEL on both legs. */
  endCall(id: string, by: string): boolean {
    return endLiveCall(this.calls.liveCalls(), id, by);
  }

  async stop(graceMs: number): Promise<void> {
    this.calls.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.calls.stats().calls > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.proxySets.stop();
    this.transactions.close();
    await this.transport.close();
    await this.relay.shutdown();
    this.overload.close();
    this.guard.close();
  }
}
