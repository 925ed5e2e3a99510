/**
 * A SIP worker thread's TCP/TLS sends (docs/performance.md, "Multi-core
 * signalling"): the main thread owns every connection, so each send is
 * posted to it and settles when it answers (written, or why not), the way
 * a socket write would.
 */
import type { StreamSend } from '../../transport/types.js';
import type { FromWorker } from './messages.js';

/** Sends awaiting the main thread's answer, by id modulo the ring's size. */
const RING = 1 << 16;

const EMPTY = new Uint8Array(0);

/**
 * The bytes in an ArrayBuffer of their own: a structured clone copies a
 * view's whole buffer, and a small Buffer is a view of an 8 KiB pool slab.
 */
export function exactBytes(b: Uint8Array): Uint8Array {
  if (b.byteLength === 0) return EMPTY;
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b);
}

export class StreamSendsToMain {
  private next = 1;
  // Two arrays instead of a Map: an insert and a delete per send would churn a hash table (docs/performance.md).
  private readonly resolves: Array<(() => void) | undefined> = new Array<(() => void) | undefined>(RING);
  private readonly rejects: Array<((err: Error) => void) | undefined> = new Array<((err: Error) => void) | undefined>(RING);
  private readonly ids = new Float64Array(RING);

  constructor(private readonly post: (m: FromWorker) => void) {}

  readonly send = (send: StreamSend): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const id = this.next;
      this.next = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
      const slot = id % RING;
      // 65,536 sends unanswered: the oldest is given up rather than kept forever.
      this.rejects[slot]?.(new Error('no answer from the main thread for a TCP/TLS send'));
      this.ids[slot] = id;
      this.resolves[slot] = resolve;
      this.rejects[slot] = reject;
      this.post({ kind: 'stream-send', id, send: { ...send, data: exactBytes(send.data) } });
    });

  /** The main thread's answer to send `id`. */
  settled(id: number, error: string | null): void {
    const slot = id % RING;
    if (this.ids[slot] !== id) return; // given up already
    const resolve = this.resolves[slot];
    const reject = this.rejects[slot];
    this.resolves[slot] = undefined;
    this.rejects[slot] = undefined;
    if (error === null) resolve?.();
    else reject?.(new Error(error));
  }
}
