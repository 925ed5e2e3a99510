/**
 * Kamailio (Debian package `kamailio`) as the PBX's registrar for
 * integration tests: registrar + usrloc in memory, record-routing,
 * registered users found with lookup("location"), every other number
 * sent to `extensions` (a sipp UAS standing in for the PBX's own phones).
 * Started like the bench starts it (-DD -E, runtime files in a temp dir),
 * stopped by its PID.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { spawnManaged, stopManaged, type ManagedProcess } from '../../../bench/lib/procs.js';
import { registrarConfig } from '../../../bench/lib/kamailio-registrar.js';
import { findFreePort } from './sipp.js';

export { registrarConfig };

export const KAMAILIO_BIN = '/usr/sbin/kamailio';

export interface KamailioRegistrar {
  readonly address: string;
  readonly port: number;
  readonly proc: ManagedProcess;
  output(): string;
  stop(): Promise<void>;
}

async function udpBound(address: string, port: number): Promise<boolean> {
  return new Promise<boolean>((res) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => res(true));
    s.bind(port, address, () => s.close(() => res(false)));
  });
}

/**
 * Starts the registrar on `o.port`, or, without one, on a free port of
 * `o.address` (result.port): a port found free can still be taken by
 * another test file's ephemeral socket before Kamailio binds it, so then a
 * new one is tried (up to 5 times).
 */
export async function startKamailioRegistrar(o: { address: string; port?: number; extensions: { address: string; port: number } }): Promise<KamailioRegistrar> {
  for (let attempt = 1; ; attempt++) {
    const port = o.port ?? (await findFreePort(o.address));
    try {
      return await startOnce({ address: o.address, port, extensions: o.extensions });
    } catch (err) {
      if (o.port !== undefined || attempt >= 5 || !String(err).includes('Address already in use')) throw err;
    }
  }
}

async function startOnce(o: { address: string; port: number; extensions: { address: string; port: number } }): Promise<KamailioRegistrar> {
  if (!existsSync(KAMAILIO_BIN)) throw new Error(`${KAMAILIO_BIN} not found: apt-get install kamailio`);
  const dir = await mkdtemp(join(tmpdir(), 'kam-reg-'));
  const cfg = join(dir, 'kamailio.cfg');
  await writeFile(cfg, registrarConfig(o.address, o.port, o.extensions));
  const proc = spawnManaged('kamailio', KAMAILIO_BIN, [
    '-f', cfg, '-DD', '-E', '-Y', dir, '-P', join(dir, 'kamailio.pid'), '-w', dir, '-m', '64', '-M', '8',
  ], { cwd: dir });
  const output = (): string => proc.stderrTail() + proc.stdoutTail();
  const stop = async (): Promise<void> => {
    await stopManaged(proc, 2000);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitInfo() !== null) {
      const out = output();
      await stop();
      throw new Error(`kamailio exited at start: ${out}`);
    }
    if (await udpBound(o.address, o.port)) break;
    if (Date.now() > deadline) {
      const out = output();
      await stop();
      throw new Error(`kamailio did not bind ${o.address}:${o.port}: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { address: o.address, port: o.port, proc, output, stop };
}
