/**
 * Builds the CDR pipeline the configuration asks for: local files (CSV
 * and/or JSON Lines, signalling and, with MediaCDRReportLevel, media), a
 * syslog server, an HTTP collector; each remote sink with its own spool
 * directory under CDRSpoolDir.
 */
import { join } from 'node:path';
import { cdrSettings, type CdrSettings } from '../config/observability.js';
import type { SbcConfig } from '../config/index.js';
import type { CdrFormatType } from '../config/schema.js';
import { createSpooledDelivery } from '../delivery/reliable.js';
import { HttpPostTransport } from '../delivery/http-transport.js';
import { SyslogTransport } from '../delivery/syslog-transport.js';
import type { Logger } from '../util/logger.js';
import { columnsFrom, type CdrColumn, type CdrKind } from './format.js';
import { LocalFileSink } from './local-file-sink.js';
import { CdrPipeline } from './pipeline.js';
import type { CdrArchive } from './query.js';
import { HttpCdrSink, SyslogCdrSink } from './remote-sinks.js';
import type { CdrSinkPort } from './sink.js';

export interface BuiltCdrPipeline {
  pipeline: CdrPipeline;
  /** The local signalling files the API reads beyond the ring; null without local files. */
  archive: CdrArchive | null;
  settings: CdrSettings;
}

function columns(s: CdrSettings, type: CdrFormatType, kind: CdrKind): CdrColumn[] {
  return columnsFrom(s.formats.get(type) ?? [], kind);
}

/** Never throws for an unreachable receiver (that is spooled and retried); throws for a bad URL. */
export async function createCdrPipeline(config: SbcConfig, log: Logger, opts: { ringSize?: number } = {}): Promise<BuiltCdrPipeline> {
  const s = cdrSettings(config);
  const sinks: CdrSinkPort[] = [];
  let archive: CdrArchive | null = null;
  if (s.local !== null) {
    for (const format of s.local.formats) {
      const kinds: CdrKind[] = s.mediaLevel > 0 ? ['call', 'media'] : ['call'];
      for (const kind of kinds) {
        const cols = columns(s, kind === 'call' ? 'local-storage-sbc' : 'local-storage-media', kind);
        const sink = new LocalFileSink({
          dir: s.local.dir, name: kind === 'call' ? 'cdr' : 'cdr-media', format, kind, columns: cols,
          maxFileBytes: s.local.maxFileBytes, maxFiles: s.local.maxFiles, intervalMs: s.local.intervalMs,
          log: log.child({ sink: `local-${kind}-${format}` }),
        });
        sinks.push(sink);
        if (kind === 'call' && archive === null) archive = { files: () => sink.files(), format, columns: cols };
      }
    }
  }
  const spoolMax = s.spoolMaxBytes;
  if (s.syslog !== null) {
    const { host, port, protocol } = s.syslog;
    const delivery = await createSpooledDelivery({
      name: `syslog-${protocol}`, transport: new SyslogTransport({ host, port, protocol }),
      spoolDir: s.spoolDir === null ? null : join(s.spoolDir, 'cdr-syslog'), maxSpoolBytes: spoolMax,
      log: log.child({ sink: 'syslog' }),
    });
    sinks.push(new SyslogCdrSink(delivery, { callColumns: columns(s, 'syslog-sbc', 'call'), mediaColumns: columns(s, 'syslog-media', 'media') }));
  }
  if (s.httpUrl !== null) {
    const delivery = await createSpooledDelivery({
      name: 'http-collector', transport: new HttpPostTransport({ url: s.httpUrl }), lingerMs: 200,
      spoolDir: s.spoolDir === null ? null : join(s.spoolDir, 'cdr-http'), maxSpoolBytes: spoolMax,
      log: log.child({ sink: 'http' }),
    });
    sinks.push(new HttpCdrSink(delivery, { callColumns: columns(s, 'json-sbc', 'call'), mediaColumns: columns(s, 'json-media', 'media') }));
  }
  const pipeline = new CdrPipeline({
    sinks, levels: { callLevel: s.callLevel, mediaLevel: s.mediaLevel, nonCall: s.nonCall }, log,
    ...(opts.ringSize !== undefined ? { ringSize: opts.ringSize } : {}),
  });
  return { pipeline, archive, settings: s };
}
