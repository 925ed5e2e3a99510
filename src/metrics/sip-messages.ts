/**
 * sbc_sip_messages_total{method,direction}: one count per SIP message the
 * transport layer hands us or sends. Requests count under their method;
 * responses under their status class (1xx..6xx) so the label set stays
 * small whatever a peer sends. Unknown methods count as OTHER.
 *
 * This runs for every message, so it allocates nothing: labels are
 * constants, and the counter's child per label set is looked up once.
 */
import type { Counter } from 'prom-client';

const KNOWN = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'MESSAGE', 'INFO', 'PRACK', 'UPDATE', 'REFER',
]);
const CLASS_LABELS = ['OTHER', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const;

export type SipDirection = 'in' | 'out';

/** The label a message counts under. */
export function sipMessageLabel(msg: { isRequest: boolean; method: string; status: number }): string {
  if (!msg.isRequest) {
    const cls = Math.floor(msg.status / 100);
    return cls >= 1 && cls <= 6 ? CLASS_LABELS[cls]! : 'OTHER';
  }
  const m = msg.method;
  if (KNOWN.has(m)) return m;
  const upper = m.toUpperCase();
  return KNOWN.has(upper) ? upper : 'OTHER';
}

type CounterChild = ReturnType<Counter<'method' | 'direction'>['labels']>;

/** Per-label children of one counter: `count` is the one-liner the transport hookup calls for every message. */
export class SipMessageCounter {
  private readonly inbound = new Map<string, CounterChild>();
  private readonly outbound = new Map<string, CounterChild>();

  constructor(private readonly counter: Counter<'method' | 'direction'>) {}

  count(msg: { isRequest: boolean; method: string; status: number }, direction: SipDirection): void {
    const label = sipMessageLabel(msg);
    const children = direction === 'in' ? this.inbound : this.outbound;
    let child = children.get(label);
    if (child === undefined) children.set(label, (child = this.counter.labels({ method: label, direction })));
    child.inc();
  }
}

/** Plain per-label tallies ("label|direction" -> count) for a SIP worker thread, which reports them to the main thread. */
export class SipMessageTally {
  readonly totals: Record<string, number> = {};
  private readonly keys = new Map<string, { in: string; out: string }>();

  count(msg: { isRequest: boolean; method: string; status: number }, direction: SipDirection): void {
    const label = sipMessageLabel(msg);
    let k = this.keys.get(label);
    if (k === undefined) this.keys.set(label, (k = { in: `${label}|in`, out: `${label}|out` }));
    const key = k[direction];
    this.totals[key] = (this.totals[key] ?? 0) + 1;
  }
}
