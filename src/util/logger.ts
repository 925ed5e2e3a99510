/**
 * Structured logging (pino). One root logger per process; modules take a
 * child with their own `module` field, calls a child with `callId`.
 * Credentials are redacted wherever they appear in a logged object.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

const REDACT_PATHS = [
  'password', '*.password', '*.*.password', 'Password', '*.Password',
  'authorization', '*.authorization', 'proxyAuthorization', '*.proxyAuthorization',
];

export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options: LoggerOptions = {
    name: opts.name ?? 'sbc',
    level: opts.level ?? process.env['SBC_LOG_LEVEL'] ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '***' },
    base: { pid: process.pid },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
