/**
 * sbc_sip_messages_total{method,direction}: one count per SIP message the
 * transport layer hands us or sends. Requests count under their method;
 * responses under their status class (1xx..6xx) so the label set stays
 * small whatever a peer sends. Unknown methods count as OTHER.
 *
 * This runs for every message, so it allocates nothing: labels are
 * constants and the counts plain numbers (SipMessageTally).
 */
import type { Counter } from 'prom-client';
import type { SipMessageKind } from '../sip/message.js';

const KNOWN = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'MESSAGE', 'INFO', 'PRACK', 'UPDATE', 'REFER',
]);
const CLASS_LABELS = ['OTHER', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const;

export type SipDirection = 'in' | 'out';

/** The label a message counts under. */
export function sipMessageLabel(msg: SipMessageKind): string {
  if (!msg.isRequest) {
    const cls = Math.floor(msg.status / 100);
    return cls >= 1 && cls <= 6 ? CLASS_LABELS[cls]! : 'OTHER';
  }
  const m = msg.method;
  if (KNOWN.has(m)) return m;
  const upper = m.toUpperCase();
  return KNOWN.has(upper) ? upper : 'OTHER';
}

interface LabelCounts {
  readonly label: string;
  in: number;
  out: number;
  /** What foldInto already gave the Prometheus counter. */
  foldedIn: number;
  foldedOut: number;
}

/**
 * Messages counted as plain numbers per label and direction. prom-client
 * hashes the label set on every inc (a child from labels() too), so the
 * per-message path only adds one; the counter gets the growth just before
 * a scrape (foldInto), and a SIP worker thread reports its totals to the
 * main thread instead.
 */
export class SipMessageTally {
  private readonly byLabel = new Map<string, LabelCounts>();

  count(msg: SipMessageKind, direction: SipDirection): void {
    const label = sipMessageLabel(msg);
    let c = this.byLabel.get(label);
    if (c === undefined) this.byLabel.set(label, (c = { label, in: 0, out: 0, foldedIn: 0, foldedOut: 0 }));
    if (direction === 'in') c.in++;
    else c.out++;
  }

  /** "label|direction" -> messages so far. */
  totals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.byLabel.values()) {
      if (c.in > 0) out[`${c.label}|in`] = c.in;
      if (c.out > 0) out[`${c.label}|out`] = c.out;
    }
    return out;
  }

  /** Adds what was counted since the last fold to sbc_sip_messages_total. */
  foldInto(counter: Counter<'method' | 'direction'>): void {
    for (const c of this.byLabel.values()) {
      if (c.in > c.foldedIn) counter.inc({ method: c.label, direction: 'in' }, c.in - c.foldedIn);
      if (c.out > c.foldedOut) counter.inc({ method: c.label, direction: 'out' }, c.out - c.foldedOut);
      c.foldedIn = c.in;
      c.foldedOut = c.out;
    }
  }
}
