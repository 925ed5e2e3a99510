/**
 * Child process hosting one of the SBC's relay engines for the media bench,
 * so its CPU can be measured on its own (the native engine's thread is in
 * this process too). Driven by the parent over the IPC channel:
 *   parent: { type: 'init', prefer, modulePath }  child: { type: 'ready', kind } | { type: 'error', message }
 *   parent: { type: 'create', genPorts }           child: { type: 'created', targets } | { type: 'error', message }
 *   parent: { type: 'close' }                       child: { type: 'closed' }
 *   parent: { type: 'shutdown' }                    child exits
 */
import { pathToFileURL } from 'node:url';
import type { LegConfig, RelayEngine, RelaySession } from '../src/media/relay-types.js';

export type RelayChildRequest =
  | { type: 'init'; prefer: 'native' | 'js'; modulePath: string }
  | { type: 'create'; genPorts: number[] }
  | { type: 'close' }
  | { type: 'shutdown' };

export type RelayChildReply =
  | { type: 'ready'; kind: string }
  | { type: 'created'; targets: number[] }
  | { type: 'closed' }
  | { type: 'error'; message: string };

interface RelayModule {
  createRelayEngine(opts: { prefer: 'native' | 'js' }): RelayEngine | Promise<RelayEngine>;
}

let engine: RelayEngine | null = null;
let sessions: RelaySession[] = [];
// Random base below the ephemeral range (32768+) so parallel runs rarely collide; EADDRINUSE just moves on.
const PORT_LOW = 10000;
const PORT_HIGH = 32000;
let nextPort = PORT_LOW + 4 * Math.floor(Math.random() * 5000);

function reply(r: RelayChildReply): void {
  process.send?.(r);
}

function leg(localPort: number, remotePort: number): LegConfig {
  return {
    localAddress: '127.0.0.1',
    localRtpPort: localPort,
    rtcpMux: false,
    remote: { address: '127.0.0.1', rtpPort: remotePort, rtcpPort: remotePort + 1 },
    latch: 'first-packet',
    srtp: null,
    telephoneEventPt: null,
  };
}

async function createOne(aPeer: number, bPeer: number): Promise<[number, number]> {
  let lastErr: unknown = null;
  for (let attempt = 0; attempt < 50; attempt++) {
    if (nextPort > PORT_HIGH - 4) nextPort = PORT_LOW;
    const a = nextPort;
    const b = nextPort + 2;
    nextPort += 4;
    try {
      const s = await engine!.createSession(leg(a, aPeer), leg(b, bPeer));
      sessions.push(s);
      return [a, b];
    } catch (e) {
      lastErr = e;
    }
  }
  throw new Error(`could not create a relay session: ${String((lastErr as Error | null)?.message ?? lastErr)}`);
}

async function handle(m: RelayChildRequest): Promise<void> {
  try {
    if (m.type === 'init') {
      const mod = (await import(pathToFileURL(m.modulePath).href)) as Partial<RelayModule>;
      if (typeof mod.createRelayEngine !== 'function') throw new Error(`${m.modulePath} does not export createRelayEngine`);
      engine = await mod.createRelayEngine({ prefer: m.prefer });
      reply({ type: 'ready', kind: engine.kind });
    } else if (m.type === 'create') {
      if (engine === null) throw new Error('not initialised');
      const targets: number[] = new Array<number>(m.genPorts.length).fill(0);
      for (let s = 0; s < m.genPorts.length / 2; s++) {
        // Leg A faces generator socket 2s, leg B faces 2s+1: each sends to the leg facing it.
        const [a, b] = await createOne(m.genPorts[2 * s]!, m.genPorts[2 * s + 1]!);
        targets[2 * s] = a;
        targets[2 * s + 1] = b;
      }
      reply({ type: 'created', targets });
    } else if (m.type === 'close') {
      for (const s of sessions) s.close();
      sessions = [];
      reply({ type: 'closed' });
    } else if (m.type === 'shutdown') {
      for (const s of sessions) s.close();
      sessions = [];
      await engine?.shutdown();
      process.exit(0);
    }
  } catch (e) {
    reply({ type: 'error', message: (e as Error).message ?? String(e) });
  }
}

process.on('message', (m: RelayChildRequest) => {
  void handle(m);
});
process.on('disconnect', () => process.exit(0));
