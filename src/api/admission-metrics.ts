/**
 * Call admission control counters (SBCAdmissionControl) per rule and
 * entity: on /api/v1/admission and as Prometheus gauges.
 */
import type { FastifyInstance } from 'fastify';
import { Gauge, type Registry } from 'prom-client';

export interface AdmissionRuleCounters {
  rule: string;
  entity: string;
  active: number;
  admitted: number;
  rejected: { limit: number; perUser: number; rate: number };
}

export function registerAdmission(server: FastifyInstance, read: () => AdmissionRuleCounters[] | Promise<AdmissionRuleCounters[]>, registry: Registry): void {
  server.get('/api/v1/admission', { config: { role: 'monitor' } }, async () => await read());
  new Gauge({
    name: 'sbc_cac_active_dialogs', help: 'Dialogs counted by each SBCAdmissionControl rule now', labelNames: ['rule', 'entity'], registers: [registry],
    async collect() {
      for (const r of await read()) this.set({ rule: r.rule, entity: r.entity }, r.active);
    },
  });
  new Gauge({
    name: 'sbc_cac_admitted', help: 'Dialogs admitted by each SBCAdmissionControl rule since start', labelNames: ['rule', 'entity'], registers: [registry],
    async collect() {
      for (const r of await read()) this.set({ rule: r.rule, entity: r.entity }, r.admitted);
    },
  });
  new Gauge({
    name: 'sbc_cac_rejected', help: 'Dialogs refused (503) by each SBCAdmissionControl rule since start, by reason (limit, perUser, rate)',
    labelNames: ['rule', 'entity', 'reason'], registers: [registry],
    async collect() {
      for (const r of await read()) for (const [reason, n] of Object.entries(r.rejected)) this.set({ rule: r.rule, entity: r.entity, reason }, n);
    },
  });
}
