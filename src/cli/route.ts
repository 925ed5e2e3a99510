/**
 * `sbc route --config FILE --from URI --to URI --src-ip IP [--src-port N] [--transport udp]
 *  [--method INVITE] [--interface NAME] [--request-uri URI]`: explains what the SBC would do.
 */
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadConfigFile } from '../config/load.js';
import { explainRoute } from '../routing/explain.js';
import { EXPLAIN_TRANSPORTS, explainRequest, splitSipUri } from '../routing/explain-request.js';
import type { SipTransport } from '../routing/types.js';
import type { CommandIo } from './check-config.js';

const stdio: CommandIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

const TRANSPORTS = EXPLAIN_TRANSPORTS;

export async function routeCommand(args: string[], io: CommandIo = stdio): Promise<number> {
  const opt = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') {
      io.out("usage: sbc route --config FILE --from 'sip:100@pbx' --to 'sip:+15551234@x' --src-ip 10.0.0.5 [--src-port N] [--transport udp|tcp|tls|ws] [--method INVITE] [--interface SIPINTERFACE] [--request-uri URI]");
      return 0;
    }
    if (!a.startsWith('--')) {
      io.err(`route: unexpected argument ${a}`);
      return 2;
    }
    const eq = a.indexOf('=');
    if (eq > 0) opt.set(a.slice(2, eq), a.slice(eq + 1));
    else {
      const v = args[++i];
      if (v === undefined) {
        io.err(`route: ${a} needs a value`);
        return 2;
      }
      opt.set(a.slice(2), v);
    }
  }
  const known = new Set(['config', 'from', 'to', 'src-ip', 'src-port', 'transport', 'method', 'interface', 'request-uri']);
  for (const k of opt.keys()) {
    if (!known.has(k)) {
      io.err(`route: unknown option --${k}`);
      return 2;
    }
  }
  const file = opt.get('config');
  const from = opt.get('from');
  const to = opt.get('to');
  const srcIp = opt.get('src-ip');
  if (!file || !from || !to || !srcIp) {
    io.err('route: --config, --from, --to and --src-ip are required');
    return 2;
  }
  const transport = (opt.get('transport') ?? 'udp').toLowerCase() as SipTransport;
  if (!TRANSPORTS.includes(transport)) {
    io.err(`route: --transport must be one of ${TRANSPORTS.join(', ')}`);
    return 2;
  }
  const srcPort = Number(opt.get('src-port') ?? '5060');
  if (!Number.isInteger(srcPort) || srcPort < 0 || srcPort > 65535) {
    io.err('route: --src-port must be a port number');
    return 2;
  }
  const f = splitSipUri(from);
  const t = splitSipUri(to);
  const ru = opt.has('request-uri') ? splitSipUri(opt.get('request-uri')!) : t;
  if (!f || !t || !ru) {
    io.err('route: --from, --to and --request-uri must be SIP URIs (sip:user@host[:port])');
    return 2;
  }
  const r = await loadConfigFile(file);
  if (!r.config) {
    for (const d of r.diagnostics) if (d.severity === 'error') io.err(formatDiagnostic(d));
    return 1;
  }
  const req = explainRequest(r.config, {
    from, to, srcIp, srcPort, transport, method: opt.get('method') ?? 'INVITE', sipInterface: opt.get('interface') ?? '', requestUri: opt.get('request-uri') ?? '',
  });
  if ('error' in req) {
    io.err(`route: ${req.error}`);
    return 2;
  }
  const ex = explainRoute(r.config, req);
  for (const l of ex.lines) io.out(l);
  return 0;
}
