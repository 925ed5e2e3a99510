/**
 * Calls per source address that hold resources (media ports, a call slot)
 * but are not established yet: from the INVITE until the ACK of the 2xx,
 * or the end of the call. INVITEs that are never ACKed keep their media
 * for 64*T1 (RFC 3261 §13.3.1.4, timer L/H); a quota per source address
 * stops one address from taking a Media Realm's ports that way.
 */
import { StringTable } from '../util/string-table.js';

/** Calls are known by their call id: a churned Map or Set would keep them in the young GC's way (util/string-table.ts). */
export class PendingCalls {
  private readonly bySource = new StringTable<number>();
  private readonly sourceOf = new StringTable<string>();
  private refused = 0;

  /** `limit(address)`: pending calls allowed from the address (Infinity = no quota). */
  constructor(private readonly limit: (address: string) => number) {}

  /** False: the source already has its quota of calls in setup. */
  admit(address: string): boolean {
    const n = this.bySource.get(address) ?? 0;
    if (n >= this.limit(address)) {
      this.refused++;
      return false;
    }
    return true;
  }

  /** The call exists now: it counts until `settled`. */
  add(callId: string, address: string): void {
    this.sourceOf.set(callId, address);
    this.bySource.set(address, (this.bySource.get(address) ?? 0) + 1);
  }

  /** The ACK of the 2xx arrived, or the call ended. Idempotent. */
  settled(callId: string): void {
    const address = this.sourceOf.get(callId);
    if (address === undefined) return;
    this.sourceOf.delete(callId);
    const n = (this.bySource.get(address) ?? 1) - 1;
    if (n <= 0) this.bySource.delete(address);
    else this.bySource.set(address, n);
  }

  /** Calls in setup, all sources together (the queue overload control watches). */
  get size(): number {
    return this.sourceOf.size;
  }

  stats(): { pendingCalls: number; pendingSources: number; pendingRefused: number } {
    return { pendingCalls: this.sourceOf.size, pendingSources: this.bySource.size, pendingRefused: this.refused };
  }
}
