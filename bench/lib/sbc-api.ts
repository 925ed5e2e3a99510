/**
 * The bench's view of the SBC's REST API (src/api/server.ts): the status
 * document, read for the JS heap and the number of calls the SBC holds.
 * Every field is checked: a reply of the wrong shape reads as "no figure",
 * never as a number the report would print.
 */

export interface SbcStatusSnapshot {
  activeCalls: number;
  /** Dialogs the SBC holds (both legs), when the status reports it. */
  dialogs: number | null;
  heapUsedBytes: number;
  rssBytes: number | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Parses a /api/v1/status body; null when it lacks activeCalls or memory.heapUsed. */
export function parseStatus(body: unknown): SbcStatusSnapshot | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as { activeCalls?: unknown; calls?: { dialogs?: unknown }; memory?: { heapUsed?: unknown; rss?: unknown } };
  const activeCalls = num(b.activeCalls);
  const heap = typeof b.memory === 'object' && b.memory !== null ? num(b.memory.heapUsed) : null;
  if (activeCalls === null || heap === null) return null;
  const dialogs = typeof b.calls === 'object' && b.calls !== null ? num(b.calls.dialogs) : null;
  const rss = num(b.memory?.rss);
  return { activeCalls, dialogs, heapUsedBytes: heap, rssBytes: rss };
}

/**
 * GET {base}/api/v1/status, with ?gc=1 so the heap figure is live data only
 * (the SBC runs a full GC first when started with --expose-gc).
 */
export async function fetchStatus(baseUrl: string, gc: boolean, timeoutMs = 5000): Promise<SbcStatusSnapshot | null> {
  try {
    const res = await fetch(`${baseUrl}/api/v1/status${gc ? '?gc=1' : ''}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    return parseStatus(await res.json());
  } catch {
    return null;
  }
}

/** Polls /api/v1/health until it answers 200 or the time is up. */
export async function waitApiReady(baseUrl: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${baseUrl}/api/v1/health`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return true;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/**
 * Waits until the SBC reports no calls (the previous level's calls have
 * ended), so an "idle" heap reading is really idle. Returns the last
 * snapshot (null if the API never answered).
 */
export async function waitIdle(baseUrl: string, timeoutMs: number): Promise<SbcStatusSnapshot | null> {
  const deadline = Date.now() + timeoutMs;
  let last: SbcStatusSnapshot | null = null;
  while (Date.now() < deadline) {
    last = await fetchStatus(baseUrl, false, 2000);
    if (last !== null && last.activeCalls === 0) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}
