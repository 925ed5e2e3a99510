/**
 * What a call needs from its CallManager: the ports plus the shared
 * registries (dialogs, per-IP-Group call counts) and the end-of-call hook.
 * It names the call only through the small DialogOwner interface, so the
 * manager and the call engine do not import each other.
 */
import type { Logger } from 'pino';
import type { Dialog } from '../dialog/dialog.js';
import type { CallDetailRecord } from '../cdr/record.js';
import type { CallJournalPort, DialogOwner, IpGroupRef, LegSide, LocalAddressPort, MediaPort, TransactionPort } from './ports.js';

export interface CallEnv {
  readonly tx: TransactionPort;
  readonly media: MediaPort;
  readonly local: LocalAddressPort;
  readonly logger: Logger;
  readonly t1Ms: number;
  readonly t2Ms: number;
  /** The active-call journal (crash safety); null = none. */
  readonly journal: CallJournalPort | null;
  registerDialog(d: Dialog, owner: DialogOwner, side: LegSide): void;
  unregisterDialog(d: Dialog): void;
  /** Counts a call against the group's limit; false when the limit is reached. */
  claimGroup(group: IpGroupRef | null): boolean;
  releaseGroup(group: IpGroupRef | null): void;
  callEnded(owner: DialogOwner, cdr: CallDetailRecord): void;
}
