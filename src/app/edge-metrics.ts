/**
 * Prometheus gauges for what an attacker tries to exhaust, read at each
 * scrape: media ports per realm (in use, refused allocations), calls in
 * setup under the per-source quota (and its refusals), and INVITE
 * transactions whose final response was never ACKed (timer H/L, RFC 3261
 * §17.2.1), after which the call and its media ports are released.
 */
import { Gauge, type Registry } from 'prom-client';
import type { PortPoolUsage } from './media-port.js';

export interface EdgeMetricsSource {
  pools(): PortPoolUsage[];
  pending(): { pendingCalls: number; pendingRefused: number };
  ackTimeouts(): number;
}

export function registerEdgeMetrics(registry: Registry, src: EdgeMetricsSource): void {
  new Gauge({
    name: 'sbc_media_ports_in_use', help: 'Media ports handed out per Media Realm (an RTP/RTCP pair counts as two)', labelNames: ['realm'], registers: [registry],
    collect() {
      this.reset();
      for (const p of src.pools()) this.inc({ realm: p.realm }, p.portsInUse);
    },
  });
  new Gauge({
    name: 'sbc_media_port_allocation_failures', help: 'Media port allocations refused because the realm had no free port (503 to the caller), since start', labelNames: ['realm'], registers: [registry],
    collect() {
      this.reset();
      for (const p of src.pools()) this.inc({ realm: p.realm }, p.allocationFailures);
    },
  });
  new Gauge({
    name: 'sbc_pending_calls', help: 'Calls between INVITE and the ACK of their 2xx (SIPMaxPendingCallsPerSource counts these per source)', registers: [registry],
    collect() { this.set(src.pending().pendingCalls); },
  });
  new Gauge({
    name: 'sbc_pending_calls_refused', help: 'INVITEs refused 503 by the per-source pending-call quota, since start', registers: [registry],
    collect() { this.set(src.pending().pendingRefused); },
  });
  new Gauge({
    name: 'sbc_ack_timeouts', help: 'INVITE server transactions that never got the ACK of their final response (timer H/L), since start', registers: [registry],
    collect() { this.set(src.ackTimeouts()); },
  });
}
