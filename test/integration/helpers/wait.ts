/** Waiting for events in integration tests (not fixed sleeps): a condition polled, a UDP port bound. */
import dgram from 'node:dgram';

/** Polls `probe` every 100 ms until it gives a truthy value (errors count as not yet). */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves once something (sipp) has bound `address:port` for UDP. */
export async function waitUdpBound(address: string, port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const inUse = await new Promise<boolean>((res) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => res(true));
      s.bind(port, address, () => s.close(() => res(false)));
    });
    if (inUse) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${address}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
