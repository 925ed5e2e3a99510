/**
 * Applies the SBC-as-server authentication to classified requests: the
 * source IP Group's AuthenticationMode and MethodList decide whether a
 * request is challenged, the SBCUserInfoTable rows of that group hold the
 * credentials. An accepted request loses the credentials meant for us
 * (they are ours, not the next hop's) before it goes on.
 */
import type { InboundMessage, IpGroupRef, RequestGate, ServerTransactionRef } from '../b2bua/ports.js';
import type { SbcConfig } from '../config/sbc-config.js';
import { parseDigestCredentials } from '../sip/digest.js';
import type { SipMessage } from '../sip/message.js';
import { createResponse, newTag } from '../sip/response.js';
import { parseUri } from '../sip/uri.js';
import type { Logger } from '../util/logger.js';
import { DigestAuthenticator, type AuthPolicy, type AuthUser } from './authenticator.js';

/** Mediant MethodList: methods separated by backslash (as the Web UI writes it), comma or space; empty = every method. */
export function methodListOf(text: string): Set<string> | null {
  const list = text.split(/[\\,;\s]+/).map((m) => m.trim().toUpperCase()).filter((m) => m.length > 0);
  return list.length === 0 ? null : new Set(list);
}

function num(config: SbcConfig, name: string, def: number): number {
  const n = Number.parseInt(config.scalars.get(name.toLowerCase()) ?? '', 10);
  return Number.isFinite(n) ? n : def;
}

export class AuthGate implements RequestGate {
  readonly authenticator = new DigestAuthenticator();

  constructor(private readonly currentConfig: () => SbcConfig, private readonly logger: Logger) {}

  private policyFor(config: SbcConfig, group: string): AuthPolicy | null {
    const row = config.ipGroupByName(group);
    if (row === undefined || row.authenticationMode !== 'sbc-as-server') return null;
    const users = new Map<string, AuthUser>();
    for (const u of config.sbcUserInfo) {
      if (u.ipGroupName !== '' && u.ipGroupName.toLowerCase() !== group.toLowerCase()) continue;
      const username = u.username || u.localUser;
      if (!users.has(username)) users.set(username, { username, password: u.password, localUser: u.localUser });
    }
    return {
      realm: row.sipGroupName || row.name,
      nonceLifetimeSec: num(config, 'AuthNonceDuration', 300),
      proxy: num(config, 'AuthChallengeMethod', 0) === 1,
      algorithm: 'MD5',
      user: (name) => users.get(name),
    };
  }

  admit(req: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage, src: IpGroupRef): boolean {
    if (req.method === 'ACK' || req.method === 'CANCEL') return true;
    const config = this.currentConfig();
    const policy = this.policyFor(config, src.name);
    if (policy === null) return true;
    const methods = methodListOf(config.ipGroupByName(src.name)?.methodList ?? '');
    if (methods !== null && !methods.has(req.method)) return true;
    const r = this.authenticator.check(req, inbound.remote.address, policy, { port: inbound.remote.port, interfaceName: inbound.interfaceName });
    if (r.ok) {
      // The AOR user must be the user's own (SBCUserInfoTable LocalUser).
      const user = policy.user(r.username);
      const aor = parseUri(req.getNameAddr(req.method === 'REGISTER' ? 'to' : 'from')?.uri ?? '')?.user ?? '';
      if (user !== undefined && user.localUser !== '' && aor !== user.localUser) {
        this.logger.info({ src: inbound.remote.address, username: r.username, aor }, 'authenticated user asked for another AOR');
        this.answer(stx, req, 403, null);
        return false;
      }
      stripOwnCredentials(req, policy.realm);
      return true;
    }
    if (r.status === 403) this.logger.info({ src: inbound.remote.address, method: req.method, reason: r.reason }, 'authentication failed');
    this.answer(stx, req, r.status, r.header);
    return false;
  }

  private answer(stx: ServerTransactionRef, req: SipMessage, status: number, header: [string, string] | null): void {
    const res = createResponse(req, status, undefined, newTag());
    if (header !== null) res.setHeader(header[0], header[1]);
    try {
      stx.respond(res);
    } catch (err) {
      this.logger.debug({ err }, 'authentication answer could not be sent');
    }
  }
}

function stripOwnCredentials(req: SipMessage, realm: string): void {
  for (const line of [...req.headers]) {
    if (line.name !== 'authorization' && line.name !== 'proxy-authorization') continue;
    if (parseDigestCredentials(line.value)?.realm === realm) req.removeHeaderLine(line);
  }
}
