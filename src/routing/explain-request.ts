/**
 * The request `sbc route` and the console's "test route" form explain: SIP
 * URIs and a source address as an operator types them, turned into the
 * RequestView the classifier and router see. One place, so the command line
 * and the REST API cannot read the same input differently.
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { RequestView, SipTransport } from './types.js';

/** Just enough of a SIP URI (RFC 3261 section 19.1) for an explained request: user, host and port. */
export function splitSipUri(uri: string): { user: string; host: string; port: number } | null {
  let s = uri.trim();
  const lt = s.indexOf('<');
  if (lt >= 0) s = s.slice(lt + 1, s.indexOf('>', lt) < 0 ? undefined : s.indexOf('>', lt));
  const m = /^(sips?|tel):/i.exec(s);
  if (m) s = s.slice(m[0].length);
  const cut = s.search(/[;?]/);
  if (cut >= 0) s = s.slice(0, cut);
  const at = s.lastIndexOf('@');
  const user = at >= 0 ? s.slice(0, at) : m && m[1]!.toLowerCase() === 'tel' ? s : '';
  let hostPort = at >= 0 ? s.slice(at + 1) : m && m[1]!.toLowerCase() === 'tel' ? '' : s;
  let port = 0;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) return null;
    const rest = hostPort.slice(close + 1);
    if (rest.startsWith(':')) port = Number(rest.slice(1));
    hostPort = hostPort.slice(1, close);
  } else if (hostPort.split(':').length === 2) {
    port = Number(hostPort.split(':')[1]);
    hostPort = hostPort.split(':')[0]!;
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  const colon = user.indexOf(':');
  return { user: colon >= 0 ? user.slice(0, colon) : user, host: hostPort, port };
}

export const EXPLAIN_TRANSPORTS: readonly SipTransport[] = ['udp', 'tcp', 'tls', 'ws'];

/** What an operator asks about; strings as typed (options of `sbc route`). */
export interface ExplainInput {
  readonly from: string;
  readonly to: string;
  readonly srcIp: string;
  readonly srcPort?: number;
  readonly transport?: string;
  readonly method?: string;
  /** SIP Interface the request arrives on; empty = guessed from the source address. */
  readonly sipInterface?: string;
  /** Request-URI when it differs from To. */
  readonly requestUri?: string;
}

/** The request to explain, or what is wrong with the input (one sentence, naming the option). */
export function explainRequest(config: SbcConfig, input: ExplainInput): RequestView | { error: string } {
  const transport = (input.transport ?? 'udp').toLowerCase() as SipTransport;
  if (!EXPLAIN_TRANSPORTS.includes(transport)) return { error: `transport must be one of ${EXPLAIN_TRANSPORTS.join(', ')}` };
  const srcPort = input.srcPort ?? 5060;
  if (!Number.isInteger(srcPort) || srcPort < 0 || srcPort > 65535) return { error: 'source port must be a port number' };
  if (input.srcIp.trim() === '') return { error: 'source address is required' };
  const f = splitSipUri(input.from);
  const t = splitSipUri(input.to);
  const ru = input.requestUri !== undefined && input.requestUri !== '' ? splitSipUri(input.requestUri) : t;
  if (!f || !t || !ru) return { error: 'from, to and request URI must be SIP URIs (sip:user@host[:port])' };
  const srcIp = input.srcIp.trim();
  let sipInterfaceName = input.sipInterface ?? '';
  if (sipInterfaceName === '') {
    // Not given: the interface whose proxy sets know the source, else the first one.
    const byProxy = config.ipGroups.find((g) => g.proxySetName !== '' && config.proxyIpsOf(g.proxySetName).some((ip) => ip.ipAddress.split(':')[0] === srcIp));
    const ps = byProxy ? config.proxySetByName(byProxy.proxySetName) : undefined;
    sipInterfaceName = ps?.sbcIpv4SipInterfaceName || config.sipInterfaces[0]?.interfaceName || '';
  }
  return {
    method: (input.method === undefined || input.method === '' ? 'INVITE' : input.method).toUpperCase(),
    srcAddress: srcIp, srcPort, transport, sipInterfaceName,
    srcUser: f.user, srcHost: f.host, dstUser: t.user, dstHost: t.host,
    requestUriUser: ru.user, requestUriHost: ru.host, ...(ru.port ? { requestUriPort: ru.port } : {}),
  };
}
