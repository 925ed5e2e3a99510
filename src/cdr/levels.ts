/**
 * Which records are produced, per Mediant CDRReportLevel (signalling) and
 * MediaCDRReportLevel (media), plus EnableNonCallCdr for non-INVITE dialogs.
 *
 * CDRReportLevel: 0 none, 1 end, 2 start & end, 3 connect & end,
 * 4 start & connect & end.
 * MediaCDRReportLevel: 0 none, 1 end, 2 start & end, 3 update & end,
 * 4 start & update & end.
 */
import type { CdrReportType } from './model.js';

export interface CdrLevels {
  readonly callLevel: number;
  readonly mediaLevel: number;
  readonly nonCall: boolean;
}

const CALL: Readonly<Record<number, readonly CdrReportType[]>> = {
  0: [],
  1: ['CALL_END'],
  2: ['CALL_START', 'CALL_END'],
  3: ['CALL_CONNECT', 'CALL_END'],
  4: ['CALL_START', 'CALL_CONNECT', 'CALL_END'],
};

const MEDIA: Readonly<Record<number, readonly CdrReportType[]>> = {
  0: [],
  1: ['MEDIA_END'],
  2: ['MEDIA_START', 'MEDIA_END'],
  3: ['MEDIA_UPDATE', 'MEDIA_END'],
  4: ['MEDIA_START', 'MEDIA_UPDATE', 'MEDIA_END'],
};

/** True when records of this type go to the sinks. */
export function levelAllows(levels: CdrLevels, type: CdrReportType): boolean {
  if (type === 'DIALOG_START' || type === 'DIALOG_END') return levels.nonCall && levels.callLevel > 0;
  if (type.startsWith('MEDIA_')) return (MEDIA[levels.mediaLevel] ?? []).includes(type);
  return (CALL[levels.callLevel] ?? []).includes(type);
}

/** True when the engine should build media records at all (saves the work when off). */
export function wantsMediaRecords(levels: CdrLevels): boolean {
  return levels.mediaLevel > 0;
}

/** True when the engine should send periodic MEDIA_UPDATE records. */
export function wantsMediaUpdates(levels: CdrLevels): boolean {
  return levels.mediaLevel === 3 || levels.mediaLevel === 4;
}
