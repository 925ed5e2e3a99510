/**
 * Shared pieces of the issue 14 end-to-end tests (configuration API, history, dial plans):
 * the sbc CLI, HTTP to the REST API, sipp calls between a PBX address and trunk addresses.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';
import { startSipp, type SippProcess } from './sipp.js';
import { readSippTrace, SCENARIOS, type SippTrace } from './b2bua-harness.js';
import { basicAuth, SBC_MAIN, TEST_API_USERS } from './sbc-process.js';

export const PBX_IP = '127.0.14.2';
export const TRUNK_IP = '127.0.14.3';
export const TRUNK2_IP = '127.0.14.4';
export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export function sbcCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  // The CLI reads REST API credentials from the environment (the test ini's admin user).
  const env = { ...process.env, SBC_API_USER: TEST_API_USERS.admin.username, SBC_API_PASSWORD: TEST_API_USERS.admin.password };
  const r = spawnSync(process.execPath, [SBC_MAIN, ...args], { encoding: 'utf8', timeout: 20_000, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function withRouting(ini: string, format: string, rows: string[]): string {
  const table = ['[ IP2IPRouting ]', `FORMAT Index = ${format};`, ...rows.map((r, i) => `IP2IPRouting ${i} = ${r};`), '[ \\IP2IPRouting ]'].join('\r\n');
  const out = ini.replace(/\[ IP2IPRouting \][\s\S]*?\[ \\IP2IPRouting \]/, table);
  if (out === ini) throw new Error('test ini has no IP2IPRouting table');
  return out;
}

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

export async function http(apiPort: number, method: string, path: string, body?: string | object): Promise<{ status: number; json: Record<string, unknown> }> {
  const auth = basicAuth(TEST_API_USERS.admin);
  const init: RequestInit = { method, headers: auth };
  if (typeof body === 'string') init.body = body, init.headers = { ...auth, 'content-type': 'text/plain' };
  else if (body !== undefined) init.body = JSON.stringify(body), init.headers = { ...auth, 'content-type': 'application/json' };
  const r = await fetch(`http://127.0.0.1:${apiPort}${path}`, init);
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

export interface Version { version: number; origin: { kind: string; user?: string; detail?: string }; changes: string[] }

/** Calls through sipp: a UAC at the PBX address, UASs at the trunk addresses, each tracing what it saw. */
export function sippCalls(dir: () => string, lanPort: () => number, pbxIp = PBX_IP): {
  uac(service: string, holdMs: number): { proc: SippProcess; trace: () => Promise<SippTrace> };
  uas(address: string, port: number, calls: number): { proc: SippProcess; trace: () => Promise<SippTrace> };
  stopAll(): Promise<void>;
} {
  let seq = 0;
  const procs: SippProcess[] = [];
  return {
    uac(service, holdMs) {
      const file = join(dir(), `uac-${++seq}.log`);
      const proc = startSipp({
        scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort()}`, localAddress: pbxIp, calls: 1, service,
        timeoutMs: 40_000, extraArgs: ['-d', String(holdMs), '-trace_msg', '-message_file', file],
      });
      procs.push(proc);
      return { proc, trace: () => readSippTrace(file) };
    },
    uas(address, port, calls) {
      const file = join(dir(), `uas-${++seq}.log`);
      const proc = startSipp({
        scenario: join(SCENARIOS, 'e2e-uas-answer.xml'), calls, localAddress: address, localPort: port, timeoutMs: 50_000,
        extraArgs: ['-trace_msg', '-message_file', file],
      });
      procs.push(proc);
      return { proc, trace: () => readSippTrace(file) };
    },
    async stopAll() {
      await Promise.all(procs.map((p) => p.stop()));
    },
  };
}

export async function invitesAt(trace: () => Promise<SippTrace>): Promise<string[]> {
  return (await trace()).filter((m) => m.dir === 'received' && m.msg.isRequest && m.msg.method === 'INVITE').map((m) => m.msg.requestUri ?? '');
}

