/**
 * What a Call needs from its CallManager: the ports plus the shared
 * registries (dialogs, per-IP-Group call counts) and the end-of-call hook.
 */
import type { Logger } from 'pino';
import type { Dialog } from '../dialog/dialog.js';
import type { CallDetailRecord } from '../cdr/record.js';
import type { Call, Leg } from './call.js';
import type { IpGroupRef, LocalAddressPort, MediaPort, RoutingPort, TransactionPort } from './ports.js';

export interface CallEnv {
  readonly tx: TransactionPort;
  readonly routing: RoutingPort;
  readonly media: MediaPort;
  readonly local: LocalAddressPort;
  readonly logger: Logger;
  readonly t1Ms: number;
  readonly t2Ms: number;
  registerDialog(d: Dialog, call: Call, leg: Leg): void;
  unregisterDialog(d: Dialog): void;
  /** Counts a call against the group's limit; false when the limit is reached. */
  claimGroup(group: IpGroupRef | null): boolean;
  releaseGroup(group: IpGroupRef | null): void;
  callEnded(call: Call, cdr: CallDetailRecord): void;
}
