/**
 * Call admission control (Mediant SBCAdmissionControl) for out-of-dialog
 * requests that start no call: REGISTER, SUBSCRIBE, MESSAGE, PUBLISH, ...
 * (RequestType SUBSCRIBE, Other, All). Rate/MaxBurst count each request;
 * Limit and LimitPerUser count the requests in progress — the place is
 * given back when the final response goes out (a subscription's place is
 * not held for the life of its dialog).
 *
 * OPTIONS is not counted: it starts no dialog (RFC 3261 §11) and is the
 * peers' keep-alive, which CAC must never starve.
 */
import type { SipMessage } from '../../sip/message.js';
import type { AdmissionPort, InboundMessage, ServerTransactionRef } from '../ports.js';
import { userOf } from '../headers.js';

export type NonCallAdmission = { stx: ServerTransactionRef } | { reject: number; reason: string };

export function admitNonCall(
  admission: AdmissionPort | undefined, req: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage, group: string,
): NonCallAdmission {
  if (admission === undefined || req.method === 'OPTIONS') return { stx };
  // LimitPerUser: the registering user (To) for REGISTER, the From user otherwise.
  const user = userOf(req.getHeader(req.method === 'REGISTER' ? 'to' : 'from'));
  const claim = admission.claim({ group, interfaceName: inbound.interfaceName, direction: 'inbound', method: req.method, user });
  if (typeof claim !== 'function') return claim;
  return { stx: releasingOnFinal(stx, claim) };
}

/** The same server transaction, giving the admission place back with its final response (or its silent end). */
function releasingOnFinal(stx: ServerTransactionRef, release: () => void): ServerTransactionRef {
  return {
    get request() { return stx.request; },
    get inbound() { return stx.inbound; },
    get state() { return stx.state; },
    get onCancel() { return stx.onCancel; },
    set onCancel(f) { stx.onCancel = f; },
    get onAckTimeout() { return stx.onAckTimeout; },
    set onAckTimeout(f) { stx.onAckTimeout = f; },
    get onTransportError() { return stx.onTransportError; },
    set onTransportError(f) {
      stx.onTransportError = (err) => {
        release();
        f?.(err);
      };
    },
    respond(res: SipMessage): void {
      try {
        stx.respond(res);
      } finally {
        if (res.status >= 200) release();
      }
    },
    discard(): void {
      stx.discard?.();
      release();
    },
  };
}
