/**
 * What the active-call journal needs of a connected call: each leg's
 * dialog as it stands (RFC 3261 §12.2.1.1: Call-ID, tags, URIs, remote
 * target, route set, CSeq) and where its in-dialog requests go, so that a
 * restarted SBC can send BYE on both legs of a call it no longer knows.
 */
import type { JournalDialog } from '../cdr/journal.js';
import type { CallDetailRecord } from '../cdr/record.js';
import type { Leg } from './leg.js';
import type { JournalledCall } from './ports.js';

/** One leg's dialog for the journal; null while the leg has no confirmed dialog. */
export function journalDialog(leg: Leg): JournalDialog | null {
  const d = leg.dialog;
  if (d === null || d.state !== 'confirmed' || !leg.routed) return null;
  const dest = leg.destFor(d);
  return {
    callId: d.callId, localTag: d.localTag, remoteTag: d.remoteTag, localUri: d.localUri, remoteUri: d.remoteUri,
    remoteTarget: d.remoteTarget, routeSet: [...d.routeSet], localCseq: d.localSeq,
    dest: { address: dest.address, port: dest.port, transport: dest.transport }, sipInterface: leg.iface,
  };
}

/** The journal entry of a call whose two legs are confirmed; null otherwise (nothing to release after a crash). */
export function journalledCall(sessionId: string, legs: { A: Leg; B: Leg }, record: () => CallDetailRecord): JournalledCall | null {
  const legA = journalDialog(legs.A);
  const legB = journalDialog(legs.B);
  return legA === null || legB === null ? null : { sessionId, legA, legB, record };
}
