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

export const KAMAILIO_BIN = '/usr/sbin/kamailio';
const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';

export interface KamailioRegistrar {
  readonly address: string;
  readonly port: number;
  readonly proc: ManagedProcess;
  output(): string;
  stop(): Promise<void>;
}

export function registrarConfig(address: string, port: number, extensions: { address: string; port: number }): string {
  return `#!KAMAILIO
debug=1
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
alias="pbx.local"
listen=udp:${address}:${port}
listen=tcp:${address}:${port}
mpath="${MODULES}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("registrar", "min_expires", 1)
modparam("registrar", "max_expires", 7200)

request_route {
  if (!mf_process_maxfwd_header("10")) {
    sl_send_reply("483", "Too Many Hops");
    exit;
  }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) {
      if (t_check_trans()) { t_relay(); }
      exit;
    }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) {
    if (t_check_trans()) { t_relay(); }
    exit;
  }
  if (is_method("OPTIONS") && $rU == $null) {
    # Keep-alive probes (the SBC's proxy set): the PBX is up.
    sl_send_reply("200", "OK");
    exit;
  }
  if (is_method("REGISTER")) {
    if (!save("location")) { sl_reply_error(); }
    exit;
  }
  t_check_trans();
  record_route();
  if (lookup("location")) {
    t_relay();
    exit;
  }
  if ($rU =~ "^2") {
    sl_send_reply("404", "Not Found");
    exit;
  }
  $du = "sip:${extensions.address}:${extensions.port}";
  if (!t_relay()) { sl_reply_error(); }
  exit;
}
`;
}

async function udpBound(address: string, port: number): Promise<boolean> {
  return new Promise<boolean>((res) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => res(true));
    s.bind(port, address, () => s.close(() => res(false)));
  });
}

export async function startKamailioRegistrar(o: { address: string; port: number; extensions: { address: string; port: number } }): Promise<KamailioRegistrar> {
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
