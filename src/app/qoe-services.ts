/**
 * The QoE pieces that need the running SBC, built in one place so that
 * `Sbc.start` only wires them: the PUBLISH sender of the QoE feed
 * (QOEServerIP), the receiver of phones' vq-rtcpxr PUBLISH
 * (QOEAcceptPublish), and the live view of a call's quality for
 * GET /api/v1/calls.
 */
import type { Call } from '../b2bua/call.js';
import type { TransactionPort } from '../b2bua/ports.js';
import type { SbcConfig } from '../config/sbc-config.js';
import { judgeStream, worst } from '../qoe/profile.js';
import type { Transport } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import { liveQoe, type LiveQoe } from './live-qoe.js';
import type { Observability } from './observability.js';
import { PhoneQoeReports } from './phone-qoe.js';
import { SipQoePublisher } from './qoe-publisher.js';

export interface QoeServiceDeps {
  readonly currentConfig: () => SbcConfig;
  readonly tx: TransactionPort;
  readonly contactAddress: (interfaceName: string, transport: Transport) => { address: string; port: number } | null;
  readonly log: Logger;
}

/** The SIP Interface QoE PUBLISH leaves from: QOESipInterface (ours), else the first one; with our UDP address on it. */
function publishLocal(d: QoeServiceDeps): { interfaceName: string; address: string; port: number } | null {
  const config = d.currentConfig();
  const named = (config.scalars.get('qoesipinterface') ?? '').trim().replace(/^"(.*)"$/, '$1');
  const iface = named !== '' ? named : config.sipInterfaces[0]?.interfaceName;
  if (iface === undefined) return null;
  const local = d.contactAddress(iface, 'udp');
  return local === null ? null : { interfaceName: iface, ...local };
}

export function createQoePublisher(d: QoeServiceDeps): { publisher: SipQoePublisher; sbcId: string } {
  const local = publishLocal(d);
  return {
    publisher: new SipQoePublisher({ tx: d.tx, local: () => publishLocal(d), userAgent: () => d.currentConfig().sip.userAgent }),
    sbcId: local === null ? '<sip:sbc@localhost>' : `<sip:sbc@${local.address}:${local.port}>`,
  };
}

/** Phones' reports; `liveCalls` and `observability` are read when a PUBLISH arrives. */
export function createPhoneQoe(d: QoeServiceDeps, liveCalls: () => Iterable<Call>, observability: () => Observability): PhoneQoeReports {
  return new PhoneQoeReports({
    enabled: () => d.currentConfig().scalars.get('qoeacceptpublish')?.trim() !== '0',
    isLiveLeg: (callId) => {
      for (const c of liveCalls()) if (c.inviteA.callId === callId || c.legBCallId === callId) return true;
      return false;
    },
    recent: () => observability().cdr.recent(),
    log: d.log,
  });
}

/** A live call's quality so far, judged by its IP Groups' QoE profiles. */
export function liveCallQoe(c: Call, phone: PhoneQoeReports, observability: Observability): LiveQoe | null {
  const profiles = observability.profilesFor(c.src.name, c.dst?.name ?? null);
  return liveQoe({
    stats: c.mediaStats(),
    phone: { A: phone.latest(c.inviteA.callId), B: phone.latest(c.legBCallId) },
    judge: (s) => worst(profiles.map((p) => judgeStream(p, s))),
  });
}
