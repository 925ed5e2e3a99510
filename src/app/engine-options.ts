/**
 * The options of the per-thread signalling pieces (transport, transactions,
 * overload guard) read from a configuration, shared by the main thread's
 * assembly (sbc.ts) and a SIP worker thread's (workers/call-shard.ts) so
 * both run the same engine.
 */
import type { SbcConfig } from '../config/index.js';
import type { EdgeGuard } from '../security/edge-guard.js';
import { udpBatchedIo, type TransportLayer } from '../transport/index.js';
import type { Logger } from '../util/logger.js';
import { OverloadGuard } from './overload.js';

type TransportOptions = ConstructorParameters<typeof TransportLayer>[0];

/** An integer scalar as written in the ini (validated at load), or its default. */
export function intScalar(config: SbcConfig, lowerName: string, def: number): number {
  const raw = config.scalars.get(lowerName);
  const n = raw === undefined ? Number.NaN : Number.parseInt(raw, 10);
  return Number.isFinite(n) ? n : def;
}

/** A positive number scalar (Mediant name, any case), or its default. */
export function positiveScalar(config: SbcConfig, name: string, dflt: number): number {
  const v = Number(config.scalars.get(name.toLowerCase()));
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

export function transportOptions(config: SbcConfig, log: Logger, guard: EdgeGuard): TransportOptions {
  return {
    logger: log.child({ module: 'transport' }), gate: guard,
    maxConnectionsPerSource: positiveScalar(config, 'SIPMaxConnectionsPerSource', 32),
    messageDeadlineMs: positiveScalar(config, 'SIPMessageCompletionTimeout', 10) * 1000,
    firstMessageDeadlineMs: positiveScalar(config, 'SIPFirstMessageTimeout', 10) * 1000,
    udpBatchedIo: udpBatchedIo(config.scalars.get('sipudpbatchedio'), process.env['SBC_SIP_UDP_BATCHED']),
  };
}

export function transactionOptions(config: SbcConfig, log: Logger): { t1Ms: number; t2Ms: number; t4Ms: number; maxRtx: number; logger: Logger } {
  return { t1Ms: config.sip.t1Ms, t2Ms: config.sip.t2Ms, t4Ms: config.sip.t4Ms, maxRtx: config.sip.maxRtx, logger: log.child({ module: 'transaction' }) };
}

export function createOverloadGuard(config: SbcConfig, log: Logger): OverloadGuard {
  return new OverloadGuard({
    lagMs: intScalar(config, 'sbcoverloadlagms', 200),
    maxPendingSetups: intScalar(config, 'sbcoverloadmaxpendingsetups', 0),
    action: intScalar(config, 'sbcoverloadaction', 0) === 1 ? 'drop' : 'reject',
    retryAfterSec: intScalar(config, 'sbcoverloadretryafter', 5),
    logger: log.child({ module: 'overload' }),
  });
}
