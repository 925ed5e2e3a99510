/**
 * HTTP(S) POST of a batch of JSON items as one JSON array. The batch counts
 * as delivered only on a 2xx answer; anything else (refused, timeout, 4xx,
 * 5xx) rejects and the items stay queued. Keep-alive connections, so a
 * steady stream of batches costs no handshake each.
 */
import http from 'node:http';
import https from 'node:https';
import type { DeliveryTransport } from './reliable.js';

export interface HttpTransportOptions {
  url: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** Extra headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** PEM CA bundle for https (default: the system's). */
  ca?: string;
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
}

export class HttpPostTransport implements DeliveryTransport {
  readonly description: string;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;

  constructor(private readonly opts: HttpTransportOptions) {
    this.url = new URL(opts.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error(`collector URL must be http or https: ${opts.url}`);
    this.description = `http ${this.url.origin}${this.url.pathname}`;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.agent = this.url.protocol === 'https:'
      ? new https.Agent({
        keepAlive: true, maxSockets: 1,
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        rejectUnauthorized: opts.rejectUnauthorized ?? true,
      })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  send(batch: readonly string[]): Promise<void> {
    const body = Buffer.from(`[${batch.join(',')}]`, 'utf8');
    const mod = this.url.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      const req = mod.request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: {
          'content-type': 'application/json',
          'content-length': String(body.length),
          'x-record-count': String(batch.length),
          ...this.opts.headers,
        },
        timeout: this.timeoutMs,
      }, (res) => {
        res.resume(); // drain so the socket can be reused
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve();
          else reject(new Error(`collector answered ${code}`));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
