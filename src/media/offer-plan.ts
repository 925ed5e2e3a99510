/**
 * How one offered m= line crosses the SBC: which coders go on (the IP
 * Profiles' allowed coders of both legs), which SRTP we accept from the
 * offerer and offer toward the answerer (each leg's media security mode),
 * and rtcp-mux on each side. Fills `plan` and the anchoring options `so`.
 */
import { chooseAnswerCrypto, makeCryptoAttribute } from './crypto-attr.js';
import { policyFor, restrictCoders } from './coders.js';
import type { LegMediaPolicy } from './media-policy.js';
import type { SrtpSuite } from './relay-types.js';
import { securedProtocol, type AnchorStreamOptions } from './sdp.js';
import type { StreamInfo } from './sdp-types.js';
import type { StreamPlan } from './stream-negotiation.js';

/**
 * Plans a stream that has an address and a relayed protocol. `key` gives our
 * SRTP master key for a suite toward the offerer or the answerer (kept across
 * re-offers). Returns why the stream cannot be relayed, or null.
 */
export function planOfferedStream(
  info: StreamInfo,
  polFrom: LegMediaPolicy,
  polTo: LegMediaPolicy,
  plan: StreamPlan,
  so: AnchorStreamOptions,
  key: (side: 'offerer' | 'answerer', suite: SrtpSuite) => Buffer,
): string | null {
  if (info.transport === 'rtp') {
    const listFrom = policyFor(polFrom.allowedCoders, info.media);
    const listTo = policyFor(polTo.allowedCoders, info.media);
    const step1 = restrictCoders(info.payloads, listFrom, listTo === undefined);
    const step2 = restrictCoders(step1.kept, listTo, true);
    if (!step2.usable) {
      return `m= line ${info.index + 1}: no allowed ${info.media} coder offered`;
    }
    so.payloadOrder = step2.kept.map((p) => p.pt);

    // Security toward the offerer.
    if (polFrom.security === 'rtp') {
      if (info.secure) {
        return `m= line ${info.index + 1}: SRTP offered on an RTP-only leg`;
      }
    } else {
      const chosen = chooseAnswerCrypto(info.crypto, polFrom.srtpSuites);
      if (chosen !== null) {
        const suite = chosen.suite as SrtpSuite;
        plan.offererSrtp = { theirs: chosen, ours: makeCryptoAttribute(chosen.tag, suite, key('offerer', suite)) };
      } else if (polFrom.security === 'srtp' || info.secure) {
        return `m= line ${info.index + 1}: no usable SRTP crypto offered (supported: ${polFrom.srtpSuites.join(', ')})`;
      }
    }
    plan.offererMux = info.rtcpMux && polFrom.rtcpMux;

    // Security toward the answerer ('as-is' follows what the offerer did).
    const offerSrtp = polTo.security === 'srtp' || polTo.security === 'both'
      || (polTo.security === 'as-is' && plan.offererSrtp !== null);
    if (offerSrtp) {
      plan.offeredCrypto = polTo.srtpSuites.map((suite, k) => makeCryptoAttribute(k + 1, suite, key('answerer', suite)));
    }
    so.crypto = plan.offeredCrypto;
    so.protocol = securedProtocol(info.protocol, polTo.security === 'srtp' || (polTo.security === 'as-is' && info.secure && offerSrtp));
    plan.offeredMux = polTo.rtcpMux;
    so.rtcpMux = polTo.rtcpMux;
  } else {
    so.crypto = [];
    so.rtcpMux = false;
  }
  return null;
}
