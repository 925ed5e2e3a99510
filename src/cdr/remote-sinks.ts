/**
 * CDR sinks that deliver to a remote receiver through a ReliableDelivery
 * queue (spool while it is down, replay in order): syslog (RFC 5424 over
 * UDP/TCP/TLS) and an HTTP(S) collector (JSON array batches).
 */
import { hostname } from 'node:os';
import type { ReliableDelivery } from '../delivery/reliable.js';
import { formatSyslog5424 } from '../delivery/syslog-transport.js';
import { kindOf, streamsOf, toJsonObject, type CdrColumn } from './format.js';
import type { CdrRecord } from './model.js';
import { DeliveryBacked, type CdrSinkPort } from './sink.js';

export interface SyslogCdrSinkOptions {
  /** Columns of signalling records (Syslog SBC) and of media records (Syslog Media). */
  callColumns: readonly CdrColumn[];
  mediaColumns: readonly CdrColumn[];
  /** Syslog HOSTNAME (default: this host's name). */
  hostname?: string;
  /** Syslog APP-NAME (default "sbc"). */
  appName?: string;
}

/**
 * One RFC 5424 message per record (per stream for media records):
 * facility local1 (17), severity informational (6) as on a Mediant;
 * MSGID = the report type; MSG = a JSON object of the chosen columns.
 */
export class SyslogCdrSink extends DeliveryBacked implements CdrSinkPort {
  private readonly host: string;
  private readonly app: string;
  constructor(delivery: ReliableDelivery, private readonly opts: SyslogCdrSinkOptions) {
    super(delivery.name, delivery);
    this.host = opts.hostname ?? hostname();
    this.app = opts.appName ?? 'sbc';
  }

  write(record: CdrRecord): void {
    const cols = kindOf(record.reportType) === 'media' ? this.opts.mediaColumns : this.opts.callColumns;
    for (const s of streamsOf(record)) {
      this.delivery.enqueue(formatSyslog5424({
        facility: 17, severity: 6, timestamp: new Date(record.recordTime), hostname: this.host, appName: this.app,
        procId: String(process.pid), msgId: record.reportType, msg: JSON.stringify(toJsonObject(cols, record, s)),
      }));
    }
  }
}

export interface HttpCdrSinkOptions {
  callColumns: readonly CdrColumn[];
  mediaColumns: readonly CdrColumn[];
}

/** Each record (per stream for media records) as a JSON object keyed by column title; batches POSTed as a JSON array. */
export class HttpCdrSink extends DeliveryBacked implements CdrSinkPort {
  constructor(delivery: ReliableDelivery, private readonly opts: HttpCdrSinkOptions) {
    super(delivery.name, delivery);
  }

  write(record: CdrRecord): void {
    const cols = kindOf(record.reportType) === 'media' ? this.opts.mediaColumns : this.opts.callColumns;
    for (const s of streamsOf(record)) this.delivery.enqueue(JSON.stringify(toJsonObject(cols, record, s)));
  }
}
