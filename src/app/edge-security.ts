/**
 * Adapts the configuration to the edge guard (src/security): the IDS
 * policy, known peers and per-source rate limit of one SbcConfig, built at
 * start and again on every reload.
 */
import type { EventEmitter } from 'node:events';
import type { SbcConfig } from '../config/index.js';
import type { AuthFailure } from '../registrar/authenticator.js';
import { EdgeGuard, type EdgeGuardOptions } from '../security/edge-guard.js';
import { compileIds } from '../security/ids-policy.js';
import type { Logger } from '../util/logger.js';

function scalar(config: SbcConfig, name: string, dflt: number): number {
  const v = Number(config.scalars.get(name.toLowerCase()));
  return Number.isFinite(v) && config.scalars.has(name.toLowerCase()) ? v : dflt;
}

export function edgeGuardOptions(config: SbcConfig, log: Logger): Pick<EdgeGuardOptions, 'matches' | 'knownPeer' | 'rate' | 'silentStranger'> {
  const ids = compileIds(config);
  for (const e of ids.errors) log.warn({ diagnostic: e }, 'IDS configuration problem; the row is ignored');
  return {
    matches: ids.matches,
    knownPeer: ids.knownPeer,
    silentStranger: ids.silentStranger,
    rate: {
      perSec: scalar(config, 'SourceRequestRate', 50),
      burst: scalar(config, 'SourceRequestBurst', 100),
      response: scalar(config, 'SourceRateLimitResponse', 0),
    },
  };
}

export function createEdgeGuard(config: SbcConfig, log: Logger): EdgeGuard {
  return new EdgeGuard({ ...edgeGuardOptions(config, log), logger: log });
}

/**
 * Failed digest authentications of the SBC as authenticator (REGISTER,
 * INVITE, ... of IP Groups with AuthenticationMode SBC as server) are IDS
 * authentication-failure events of their source: svcrack-style guessing
 * gets the source denied by the IDSRule for Reason 3 (or the default policy).
 */
export function reportAuthFailures(failures: EventEmitter<{ failure: [AuthFailure] }>, guard: EdgeGuard): void {
  failures.on('failure', (f) => guard.report('auth-failure', { address: f.source, port: f.via?.port ?? 0 }, f.via?.interfaceName ?? ''));
}
