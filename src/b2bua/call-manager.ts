/**
 * The transaction user of the SBC: receives every request and stray
 * response from the transaction layer, answers what the SBC answers itself
 * (OPTIONS, unknown dialogs), creates calls for new INVITEs and hands
 * in-dialog requests to their call.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { dialogKey, type Dialog } from '../dialog/dialog.js';
import type { CallDetailRecord } from '../cdr/record.js';
import type { SipMessage } from '../sip/message.js';
import { createResponse, newTag } from '../sip/response.js';
import { silentLogger } from '../util/logger.js';
import { Call } from './call.js';
import type { CallEnv } from './env.js';
import { ALLOW, SUPPORTED_TAGS, maxForwards, userOf } from './headers.js';
import { refuseNewRequest } from './request-checks.js';
import { admitNonCall } from './non-call/admission.js';
import { PendingCalls } from './pending-calls.js';
import { reapCalls } from './reaper.js';
import type { CallManagerOptions, CallManagerStats, TuHooks } from './call-manager-types.js';
export type { CallManagerOptions, CallManagerStats, TuHooks };
import { StringTable } from '../util/string-table.js';
import type {
  CallJournalPort, CdrSink, DialogOwner, InboundMessage, IpGroupRef, LegSide, LoadShedPort, LocalAddressPort, MediaPort, NonCallHandler, RequestGate, RoutingPort,
  ServerTransactionRef, TransactionPort,
} from './ports.js';

interface DialogEntry {
  owner: DialogOwner;
  side: LegSide;
}

export class CallManager implements CallEnv {
  readonly tx: TransactionPort;
  readonly routing: RoutingPort;
  readonly media: MediaPort;
  readonly local: LocalAddressPort;
  readonly logger: Logger;
  readonly t1Ms: number;
  readonly t2Ms: number;
  readonly journal: CallJournalPort | null;
  private readonly cdr: CdrSink;
  private readonly nonCall: NonCallHandler | null;
  private readonly gate: RequestGate | null;
  private readonly onRefused: NonNullable<CallManagerOptions['onRefused']>;
  private readonly pending: PendingCalls;
  /** Live calls by call id. StringTables, not Maps or Sets: churned ones keep finished calls in the young GC's way (util/string-table.ts). */
  private readonly calls = new StringTable<Call>();
  private readonly dialogs = new StringTable<DialogEntry>();
  private readonly groupCounts = new StringTable<number>();
  /** SBCAdmissionControl places held: leg A's per call (by call id), leg B's per destination group (released in claim order). */
  private readonly inboundAdmissions = new StringTable<() => void>();
  private readonly outboundAdmissions = new StringTable<Array<() => void>>();
  private readonly idPrefix = randomBytes(3).toString('hex');
  private seq = 0;
  private totalCalls = 0;
  private rejected = 0;
  private closing = false;
  private reaped = 0;
  private readonly reaper: NodeJS.Timeout;
  private readonly stalledEventMs: number;
  private readonly load: LoadShedPort | null;
  private shed = 0;

  constructor(opts: CallManagerOptions) {
    this.tx = opts.transactions;
    this.routing = opts.routing;
    this.media = opts.media;
    this.cdr = opts.cdr;
    this.onRefused = opts.onRefused ?? (() => undefined);
    this.pending = new PendingCalls(opts.pendingCallsPerSource ?? (() => Number.POSITIVE_INFINITY));
    this.local = opts.local;
    this.nonCall = opts.nonCall ?? null;
    this.gate = opts.gate ?? null;
    this.logger = (opts.logger ?? silentLogger()).child({ module: 'b2bua' });
    this.t1Ms = opts.t1Ms ?? 500;
    this.t2Ms = opts.t2Ms ?? 4000;
    this.stalledEventMs = opts.stalledEventMs ?? 30_000;
    this.load = opts.load ?? null;
    this.journal = opts.journal ?? null;
    this.reaper = setInterval(() => this.reap(), opts.reapIntervalMs ?? 5_000);
    this.reaper.unref();
  }

  /** Ends calls that nothing else would end (see CallManagerOptions.reapIntervalMs). */
  reap(now = Date.now()): number {
    const n = reapCalls(this.calls.values(), now, this.stalledEventMs);
    this.reaped += n;
    return n;
  }

  /** Installs the manager as the transaction layer's TU. */
  attach<S extends ServerTransactionRef>(layer: TuHooks<S>): void {
    layer.onRequest = (req, stx, inbound) => this.handleRequest(req, stx, inbound);
    layer.onStrayResponse = (res, inbound) => this.handleStrayResponse(res, inbound);
  }

  handleRequest(req: SipMessage, stx: ServerTransactionRef | null, inbound: InboundMessage): void {
    try {
      this.dispatch(req, stx, inbound);
    } catch (err) {
      this.logger.error({ err, method: req.method }, 'request handling failed');
      if (stx !== null && req.method !== 'ACK') {
        try {
          stx.respond(createResponse(req, 500));
        } catch { /* the transaction is gone */ }
      }
    }
  }

  private dispatch(req: SipMessage, stx: ServerTransactionRef | null, inbound: InboundMessage): void {
    const toTag = req.toTag;
    if (stx === null) {
      // ACK for a 2xx: it belongs to a dialog or to nothing.
      if (req.method !== 'ACK' || toTag === null) return;
      const e = this.dialogs.get(dialogKey(req.callId, toTag));
      if (e === undefined) return;
      if (e.side === 'A' && e.owner instanceof Call) this.pending.settled(e.owner.id);
      e.owner.onAck(e.side, req);
      return;
    }
    if (req.method === 'ACK') return;
    if (toTag !== null) {
      const e = this.dialogs.get(dialogKey(req.callId, toTag));
      if (e === undefined) {
        // Unknown dialog: only a known peer learns that (scanners probe with fake tags).
        if (this.refusedByClassification(req, stx, inbound)) return;
        this.onRefused(inbound, 'no-dialog');
        this.reply(stx, req, 481);
        return;
      }
      e.owner.onInDialogRequest(e.side, req, stx);
      return;
    }
    if (req.method === 'INVITE') {
      this.newCall(req, stx, inbound);
      return;
    }
    // Out-of-dialog OPTIONS, REGISTER, ...: answered only to classified sources,
    // so that silent drop really tells a scanner nothing.
    const cls = this.routing.classify(req, inbound);
    if ('reject' in cls) {
      this.rejectUnclassified(req, stx, cls.reject, inbound);
      return;
    }
    if (this.gate !== null && !this.gate.admit(req, stx, inbound, cls.srcIpGroup)) return;
    const refusal = refuseNewRequest(req, cls.srcIpGroup.profile.prackMode !== 'disabled');
    if (refusal !== null) {
      this.refused(inbound);
      this.reply(stx, req, refusal.status, refusal.headers);
      return;
    }
    const cac = admitNonCall(this.routing.admission, req, stx, inbound, cls.srcIpGroup.name);
    if ('reject' in cac) {
      this.refused(inbound);
      return this.reply(stx, req, cac.reject, undefined, cac.reason);
    }
    stx = cac.stx; // gives the CAC place back with the final response
    if (this.nonCall?.handle(req, stx, inbound, cls)) return;
    switch (req.method) {
      case 'OPTIONS':
        this.answerOptions(req, stx);
        return;
      case 'BYE':
      case 'CANCEL':
      case 'PRACK':
      case 'UPDATE':
      case 'INFO':
      case 'NOTIFY':
      case 'REFER':
        this.reply(stx, req, 481);
        return;
      default:
        this.reply(stx, req, 405, [['Allow', ALLOW]]);
    }
  }

  /** True when the request came from no known IP Group and has been answered or dropped per policy. */
  private refusedByClassification(req: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage): boolean {
    const cls = this.routing.classify(req, inbound);
    if (!('reject' in cls)) return false;
    this.rejectUnclassified(req, stx, cls.reject, inbound);
    return true;
  }

  private rejectUnclassified(req: SipMessage, stx: ServerTransactionRef, reject: number | 'drop', inbound: InboundMessage): void {
    this.rejected++;
    this.onRefused(inbound, 'unclassified');
    if (reject === 'drop') stx.discard?.();
    else this.reply(stx, req, reject);
  }

  private refused(inbound: InboundMessage): void {
    this.rejected++;
    this.onRefused(inbound, 'rejected');
  }

  private reply(stx: ServerTransactionRef, req: SipMessage, status: number, extra?: Array<[string, string]>, reason?: string): void {
    const res = createResponse(req, status, reason, status >= 200 && status !== 100 ? newTag() : undefined);
    if (extra !== undefined) for (const [k, v] of extra) res.setHeader(k, v);
    stx.respond(res);
  }

  private answerOptions(req: SipMessage, stx: ServerTransactionRef): void {
    this.reply(stx, req, 200, [
      ['Allow', ALLOW],
      ['Supported', [...SUPPORTED_TAGS].join(', ')],
      ['Accept', 'application/sdp'],
    ]);
  }

  private newCall(req: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage): void {
    const fromTag = req.fromTag;
    if (fromTag !== null && this.dialogs.has(dialogKey(req.callId, fromTag))) {
      // Our own leg B came back to us.
      this.refused(inbound);
      this.reply(stx, req, 482);
      return;
    }
    if (this.closing) {
      this.refused(inbound);
      this.reply(stx, req, 503);
      return;
    }
    if (maxForwards(req) <= 1) {
      this.refused(inbound);
      this.reply(stx, req, 483);
      return;
    }
    const cls = this.routing.classify(req, inbound);
    if ('reject' in cls) {
      this.rejectUnclassified(req, stx, cls.reject, inbound);
      return;
    }
    if (this.load !== null && (this.load.shedding || (this.load.maxPendingSetups > 0 && this.pending.size >= this.load.maxPendingSetups))) {
      // Overload: refused before any call state exists (the transaction alone absorbs retransmissions).
      this.shed++;
      this.load.noteShed();
      if (this.load.action === 'drop') stx.discard?.();
      else this.reply(stx, req, 503, [['Retry-After', String(this.load.retryAfterSec)]], 'Overloaded');
      return;
    }
    const src = cls.srcIpGroup;
    if (this.gate !== null && !this.gate.admit(req, stx, inbound, src)) {
      this.rejected++;
      return;
    }
    const refusal = refuseNewRequest(req, src.profile.prackMode !== 'disabled');
    if (refusal !== null) {
      this.refused(inbound);
      this.reply(stx, req, refusal.status, refusal.headers);
      return;
    }
    const se = req.getHeader('session-expires');
    if (se !== undefined && src.profile.sessionExpiresSec > 0) {
      const delta = Number.parseInt(se, 10);
      if (Number.isFinite(delta) && delta < src.profile.minSeSec) {
        this.refused(inbound);
        this.reply(stx, req, 422, [['Min-SE', String(src.profile.minSeSec)]]);
        return;
      }
    }
    if (!this.pending.admit(inbound.remote.address)) {
      this.refused(inbound);
      this.reply(stx, req, 503, undefined, 'Too Many Calls In Setup');
      return;
    }
    const admission = this.routing.admission?.claim({
      group: src.name, interfaceName: inbound.interfaceName, direction: 'inbound', method: req.method, user: userOf(req.getHeader('from')),
    });
    if (admission !== undefined && typeof admission !== 'function') {
      this.refused(inbound);
      this.reply(stx, req, admission.reject, undefined, admission.reason);
      return;
    }
    if (!this.claimGroup(src, false)) {
      this.refused(inbound);
      this.reply(stx, req, 503, undefined, 'Call Limit Reached');
      return;
    }
    const aReq = req.clone();
    try {
      cls.routing.applyInbound(aReq, inbound);
    } catch (err) {
      this.releaseGroup(src, false);
      admission?.();
      this.logger.error({ err }, 'inbound manipulation failed');
      this.reply(stx, req, 500);
      return;
    }
    const id = `${this.idPrefix}-${(++this.seq).toString(36)}`;
    const call = new Call(this, id, req, stx, inbound, src, cls.routing, aReq);
    this.calls.set(id, call);
    if (admission !== undefined) this.inboundAdmissions.set(id, admission);
    this.pending.add(id, inbound.remote.address);
    this.totalCalls++;
    this.logger.info({ callId: id, from: inbound.remote.address, srcIpGroup: src.name, legACallId: req.callId }, 'new call'); // not call.log: a child logger lives as long as the call
    call.start();
  }

  handleStrayResponse(res: SipMessage, _inbound: InboundMessage): void {
    // A 2xx retransmitted (or from another fork) after the INVITE transaction ended.
    if (res.status < 200 || res.status >= 300 || res.cseq?.method !== 'INVITE') return;
    const fromTag = res.fromTag;
    if (fromTag === null) return;
    const e = this.dialogs.get(dialogKey(res.callId, fromTag));
    if (e === undefined || e.side !== 'B') return;
    e.owner.onLate2xx(res);
  }

  // --- CallEnv -------------------------------------------------------------
  registerDialog(d: Dialog, owner: DialogOwner, side: LegSide): void {
    this.dialogs.set(d.key, { owner, side });
  }

  unregisterDialog(d: Dialog): void {
    const e = this.dialogs.get(d.key);
    if (e !== undefined) this.dialogs.delete(d.key);
  }

  /** `outbound`: a call toward the group (leg B, transfer target), admitted by SBCAdmissionControl in that direction. */
  claimGroup(group: IpGroupRef | null, outbound = true): boolean {
    if (group === null) return true;
    const admission = this.routing.admission;
    const n = this.groupCounts.get(group.name) ?? 0;
    if (admission === undefined) {
      const limit = this.routing.maxConcurrentCalls(group.name);
      if (limit !== null && limit >= 0 && n >= limit) return false;
    } else if (outbound) {
      const r = admission.claim({ group: group.name, interfaceName: null, direction: 'outbound', method: 'INVITE', user: '' });
      if (typeof r !== 'function') return false;
      const held = this.outboundAdmissions.get(group.name);
      if (held === undefined) this.outboundAdmissions.set(group.name, [r]);
      else held.push(r);
    }
    this.groupCounts.set(group.name, n + 1);
    return true;
  }

  releaseGroup(group: IpGroupRef | null, outbound = true): void {
    if (group === null) return;
    if (outbound) {
      const held = this.outboundAdmissions.get(group.name);
      held?.shift()?.();
      if (held !== undefined && held.length === 0) this.outboundAdmissions.delete(group.name);
    }
    const n = this.groupCounts.get(group.name) ?? 0;
    if (n <= 1) this.groupCounts.delete(group.name);
    else this.groupCounts.set(group.name, n - 1);
  }

  callEnded(call: DialogOwner, cdr: CallDetailRecord): void {
    if (!(call instanceof Call) || this.calls.get(call.id) !== call || !this.calls.delete(call.id)) return;
    this.releaseGroup(call.src, false);
    this.inboundAdmissions.get(call.id)?.();
    this.inboundAdmissions.delete(call.id);
    this.pending.settled(call.id);
    this.journal?.ended(call.id);
    try {
      this.cdr.write(cdr);
    } catch (err) {
      call.log.error({ err }, 'CDR sink failed');
    }
  }

  // --- operations ------------------------------------------------------------
  stats(): CallManagerStats {
    let timers = 0;
    let dialogs = 0;
    for (const c of this.calls.values()) {
      timers += c.pendingTimers;
      dialogs += c.dialogCount;
    }
    const byGroup: Record<string, number> = {};
    for (const [k, v] of this.groupCounts.entries()) byGroup[k] = v;
    return {
      calls: this.calls.size, dialogs, pendingTimers: timers, callsByIpGroup: byGroup,
      totalCalls: this.totalCalls, rejected: this.rejected, reaped: this.reaped, shed: this.shed, ...this.pending.stats(),
    };
  }

  /** Registered dialog keys (for leak checks; should be 2 per connected call). */
  get registeredDialogs(): number {
    return this.dialogs.size;
  }

  /** Live calls, for the API and debugging. */
  liveCalls(): Iterable<Call> {
    return this.calls.values();
  }

  /** Ends every call (BYE/CANCEL/503) and refuses new ones. */
  shutdown(): void {
    this.closing = true;
    clearInterval(this.reaper);
    for (const c of [...this.calls.values()]) c.terminate('sbc', 'shutdown');
  }
}
