/**
 * The SBC's registration database: for each address-of-record the
 * contacts registered through the SBC (RFC 3261 §10.3), each with the
 * exact flow it arrived on (UDP source address/port or the TCP/TLS
 * connection — RFC 5626 §5.2: requests to the user go there, not to the
 * Contact, so NAT bindings and connections are reused), its expiry toward
 * the user and toward the registrar (throttling), and the unique contact
 * user the SBC registered upstream in its place (topology hiding).
 */
import { randomBytes } from 'node:crypto';
import type { Transport } from '../transport/types.js';

export interface Flow {
  readonly transport: Transport;
  readonly address: string;
  readonly port: number;
  readonly interfaceName: string;
  /** The TCP/TLS connection; null for UDP (and after a restart). */
  readonly connectionId: number | null;
}

/** Where the upstream registration of a binding is held, so expiry can un-register it there. */
export interface UpstreamRegistration {
  readonly address: string;
  readonly port: number;
  readonly transport: Transport;
  readonly interfaceName: string;
  readonly requestUri: string;
  readonly ipGroup: string | null;
}

export interface Binding {
  /** `user@host`, host lower-cased: the key of the AOR. */
  readonly aor: string;
  readonly aorUser: string;
  /** The Contact element as the user sent it, header parameters (expires, q) removed; returned byte-exact. */
  readonly contact: string;
  /** The URI inside the Contact, as sent (unknown parameters and escaped headers kept). */
  readonly contactUri: string;
  readonly ipGroup: string;
  /** Changed only through RegistrationDb.setFlow (it is indexed). */
  flow: Flow;
  /** ms since the epoch: the user's registration ends (plus grace). */
  expiresAt: number;
  /** ms since the epoch: the registration the SBC holds upstream ends; 0 when held locally. */
  upstreamExpiresAt: number;
  readonly userAgent: string;
  readonly path: readonly string[];
  /** The user's Call-ID and CSeq (§10.3 step 7: out-of-order requests are refused). */
  callId: string;
  cseq: number;
  /** User part of the Contact the SBC registered upstream for this binding. */
  readonly sbcUser: string;
  upstream: UpstreamRegistration | null;
  readonly registeredAt: number;
  /** From the configuration (IP Group RegistrationMode not-needed): never expires, not persisted, not pinged. */
  readonly permanent?: boolean;
}

export type BindingChange = { kind: 'put'; binding: Binding } | { kind: 'remove'; binding: Binding };

export class RegistrationDb {
  private readonly byAor = new Map<string, Binding[]>();
  private readonly bySbcUser = new Map<string, Binding>();
  /** Flow (transport:address:port) -> bindings registered from it: requests from a registered flow classify to its group. */
  private readonly byFlow = new Map<string, Set<Binding>>();
  /** AOR user -> AOR keys (one user may be registered under several domains). */
  private readonly byUser = new Map<string, Set<string>>();
  /** AORs whose last binding expired: calls to them get 480 rather than 404 for a while. */
  private readonly expired = new Map<string, number>();
  private readonly groupCounts = new Map<string, number>();
  /** Told about every change (persistence). */
  onChange: ((c: BindingChange) => void) | null = null;

  static aorKey(user: string, host: string): string {
    return `${user}@${host.toLowerCase()}`;
  }

  static newSbcUser(): string {
    return `r${randomBytes(6).toString('hex')}`;
  }

  get size(): number {
    return this.bySbcUser.size;
  }

  bindingsOf(aor: string): readonly Binding[] {
    return this.byAor.get(aor) ?? [];
  }

  find(aor: string, contactUri: string): Binding | undefined {
    return this.byAor.get(aor)?.find((b) => b.contactUri === contactUri);
  }

  bySbcContactUser(user: string): Binding | undefined {
    return this.bySbcUser.get(user);
  }

  /** AORs registered from an IP Group (MaxNumOfRegUsers counts users, not contacts). */
  aorCount(ipGroup: string): number {
    return this.groupCounts.get(ipGroup.toLowerCase()) ?? 0;
  }

  /** Contacts per IP Group (an AOR may have several). */
  bindingCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const b of this.bySbcUser.values()) out[b.ipGroup] = (out[b.ipGroup] ?? 0) + 1;
    return out;
  }

  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const list of this.byAor.values()) {
      const g = list[0]?.ipGroup;
      if (g !== undefined) out[g] = (out[g] ?? 0) + 1;
    }
    return out;
  }

  static flowKey(f: { transport: string; address: string; port: number }): string {
    return `${f.transport}:${f.address}:${f.port}`;
  }

  /** The IP Group of the users registered from this flow; undefined when none is (or their bindings expired). */
  groupOfFlow(f: { transport: string; address: string; port: number }, now: number): string | undefined {
    const set = this.byFlow.get(RegistrationDb.flowKey(f));
    if (set === undefined) return undefined;
    for (const b of set) if (b.expiresAt > now) return b.ipGroup;
    return undefined;
  }

  /** A refresh came from another flow (NAT rebinding, new connection). */
  setFlow(b: Binding, flow: Flow): void {
    this.unindexFlow(b);
    b.flow = flow;
    this.indexFlow(b);
  }

  private indexFlow(b: Binding): void {
    const k = RegistrationDb.flowKey(b.flow);
    let set = this.byFlow.get(k);
    if (set === undefined) this.byFlow.set(k, (set = new Set()));
    set.add(b);
  }

  private unindexFlow(b: Binding): void {
    const k = RegistrationDb.flowKey(b.flow);
    const set = this.byFlow.get(k);
    set?.delete(b);
    if (set?.size === 0) this.byFlow.delete(k);
  }

  put(b: Binding): void {
    const list = this.byAor.get(b.aor);
    if (list === undefined) {
      this.byAor.set(b.aor, [b]);
      let aors = this.byUser.get(b.aorUser);
      if (aors === undefined) this.byUser.set(b.aorUser, (aors = new Set()));
      aors.add(b.aor);
      const g = b.ipGroup.toLowerCase();
      this.groupCounts.set(g, (this.groupCounts.get(g) ?? 0) + 1);
    } else {
      const i = list.findIndex((o) => o.contactUri === b.contactUri);
      if (i >= 0) {
        if (list[i]!.sbcUser !== b.sbcUser) this.bySbcUser.delete(list[i]!.sbcUser);
        this.unindexFlow(list[i]!);
        list[i] = b;
      } else list.push(b);
    }
    this.bySbcUser.set(b.sbcUser, b);
    this.indexFlow(b);
    this.expired.delete(b.aor);
    this.onChange?.({ kind: 'put', binding: b });
  }

  /** A binding changed in place (refresh from the cache, new flow). */
  touch(b: Binding): void {
    this.onChange?.({ kind: 'put', binding: b });
  }

  remove(b: Binding, expired = false): void {
    const list = this.byAor.get(b.aor);
    if (list === undefined) return;
    const i = list.indexOf(b);
    if (i < 0) return;
    list.splice(i, 1);
    this.bySbcUser.delete(b.sbcUser);
    this.unindexFlow(b);
    if (list.length === 0) {
      this.byAor.delete(b.aor);
      const aors = this.byUser.get(b.aorUser);
      aors?.delete(b.aor);
      if (aors?.size === 0) this.byUser.delete(b.aorUser);
      const g = b.ipGroup.toLowerCase();
      const n = (this.groupCounts.get(g) ?? 1) - 1;
      if (n <= 0) this.groupCounts.delete(g);
      else this.groupCounts.set(g, n);
      if (expired) this.noteExpired(b.aor);
    }
    this.onChange?.({ kind: 'remove', binding: b });
  }

  /** Bindings whose expiry passed; the caller removes them (and un-registers upstream). */
  due(now: number): Binding[] {
    const out: Binding[] = [];
    for (const list of this.byAor.values()) for (const b of list) if (b.expiresAt <= now) out.push(b);
    return out;
  }

  wasRecentlyExpired(aor: string, now: number, keepMs = 3_600_000): boolean {
    const t = this.expired.get(aor);
    return t !== undefined && now - t < keepMs;
  }

  /** The binding a request toward `user` (an AOR user or one of our upstream contact users) should reach: the newest one. */
  locate(user: string, now: number): Binding | 'expired' | null {
    const direct = this.bySbcUser.get(user);
    if (direct !== undefined) return direct.expiresAt > now ? direct : 'expired';
    let best: Binding | null = null;
    let expiredSeen = false;
    for (const aor of this.byUser.get(user) ?? []) {
      for (const b of this.byAor.get(aor) ?? []) {
        if (b.expiresAt <= now) expiredSeen = true;
        else if (best === null || b.registeredAt > best.registeredAt) best = b;
      }
    }
    if (best !== null) return best;
    if (expiredSeen) return 'expired';
    for (const aor of this.expired.keys()) if (aor.slice(0, aor.lastIndexOf('@')) === user && this.wasRecentlyExpired(aor, now)) return 'expired';
    return null;
  }

  all(): IterableIterator<Binding> {
    return this.bySbcUser.values();
  }

  private noteExpired(aor: string): void {
    this.expired.set(aor, Date.now());
    // Bounded: the oldest entries go first.
    if (this.expired.size > 10_000) {
      const first = this.expired.keys().next().value;
      if (first !== undefined) this.expired.delete(first);
    }
  }
}
