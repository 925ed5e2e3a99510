/**
 * Wires the configuration history and backups to a store, from the scalars of
 * the configuration it started with (directories are read at start; retention
 * and the daily time follow reloads).
 */
import { basename, dirname, isAbsolute, join } from 'node:path';
import { ConfigBackups, parseTimeOfDay } from './backup.js';
import { ConfigHistory, type ConfigVersion } from './history.js';
import type { SbcConfig } from './sbc-config.js';
import type { ConfigLogger, ConfigStore } from './store.js';

function scalar(config: SbcConfig, name: string, def: string): string {
  const v = config.scalars.get(name.toLowerCase());
  return v === undefined || v.trim() === '' ? def : v.trim();
}

function resolveDir(file: string, value: string, suffix: string): string {
  if (value === '') return join(dirname(file), `${basename(file)}.${suffix}`);
  return isAbsolute(value) ? value : join(dirname(file), value);
}

function backupSettings(config: SbcConfig, logger?: ConfigLogger): { keep: number; dailyTime: string | null } {
  const keep = Number(scalar(config, 'ConfigBackupKeep', '5'));
  const time = config.scalars.has('configbackuptime') ? (config.scalars.get('configbackuptime') ?? '').trim() : '03:00';
  if (time !== '' && parseTimeOfDay(time) === null) {
    logger?.warn({ ConfigBackupTime: time }, 'ConfigBackupTime is not hh:mm or hh:mm:ss; no daily backup');
    return { keep, dailyTime: null };
  }
  return { keep, dailyTime: time === '' ? null : time };
}

export interface Persistence {
  readonly history: ConfigHistory | null;
  readonly backups: ConfigBackups | null;
  /** The version recorded at start (null when the running text was already the newest version). */
  readonly startup: ConfigVersion | null;
  stop(): void;
}

/**
 * Opens history and backups for `store`. A history directory that cannot be opened is logged
 * and the SBC runs without history (the configuration itself is fine); the API then says so.
 */
export async function attachPersistence(store: ConfigStore, logger?: ConfigLogger): Promise<Persistence> {
  const config = store.current();
  const historyDir = resolveDir(store.file, scalar(config, 'ConfigHistoryDirectory', ''), 'history');
  const backupDir = resolveDir(store.file, scalar(config, 'ConfigBackupDirectory', ''), 'backup');
  let history: ConfigHistory | null = null;
  try {
    history = await ConfigHistory.open(historyDir, {
      maxVersions: Number(scalar(config, 'ConfigHistoryMaxVersions', '100')),
      ...(logger ? { logger } : {}),
    });
  } catch (err) {
    logger?.error({ err, dir: historyDir }, 'configuration history unavailable; changes are not recorded');
  }
  const settings = backupSettings(config, logger);
  const backups = settings.keep > 0
    ? new ConfigBackups({ dir: backupDir, sourceFile: store.file, keep: settings.keep, dailyTime: settings.dailyTime, ...(logger ? { logger } : {}) })
    : null;
  const startup = await store.attach(history, backups).catch((err: unknown) => {
    logger?.error({ err, dir: historyDir }, 'configuration history could not record the running configuration');
    return null;
  });
  if (startup) logger?.info({ version: startup.version, dir: historyDir }, 'configuration recorded as a new version');
  const onChange = ({ config: next }: { config: SbcConfig }): void => {
    const s = backupSettings(next, logger);
    backups?.configure(Math.max(1, s.keep), s.dailyTime);
  };
  store.on('change', onChange);
  return {
    history, backups, startup,
    stop(): void {
      store.off('change', onChange);
      backups?.stop();
    },
  };
}
