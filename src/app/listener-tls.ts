/**
 * The TLS settings of the listeners, from the configuration: the REST API's
 * certificate (SbcApiTlsCertFile/SbcApiTlsKeyFile) and each SIP
 * Interface's TLS port with its TLSContexts row.
 */
import type { SbcConfig } from '../config/index.js';
import type { SipInterfaceRow } from '../config/schema.js';
import { versionRange, type TlsSpec } from '../transport/tls-options.js';
import { ConfigError } from './config-error.js';

export function apiTlsOf(config: SbcConfig): { certFile: string; keyFile: string } | null {
  const certFile = config.scalars.get('sbcapitlscertfile') ?? '';
  const keyFile = config.scalars.get('sbcapitlskeyfile') ?? '';
  return certFile !== '' && keyFile !== '' ? { certFile, keyFile } : null;
}

/**
 * The TLS listener of a SIP Interface from its TLSContexts row (or the
 * TLSCertFile/TLSKeyFile scalars when it names none). A TLS port without a
 * certificate is a configuration error, not a listener that silently
 * does not exist.
 */
export function tlsOf(config: SbcConfig, si: SipInterfaceRow): { tlsPort?: number; tls?: TlsSpec } {
  const ctx = si.tlsContext.trim() === '' ? undefined : config.tlsContexts.find((c) => c.name.toLowerCase() === si.tlsContext.trim().toLowerCase());
  const mutual = si.tlsMutualAuthentication === 1 || (si.tlsMutualAuthentication === -1 && config.scalars.get('sipsrequireclientcertificate') === '1');
  let spec: TlsSpec | null = null;
  if (ctx !== undefined && ctx.certificateFile !== '' && ctx.privateKeyFile !== '') {
    spec = {
      certFile: ctx.certificateFile, keyFile: ctx.privateKeyFile, ...versionRange(ctx.tlsVersion),
      ...(ctx.trustedRootFile !== '' ? { caFile: ctx.trustedRootFile } : {}),
      ...(ctx.serverCipherString !== '' ? { serverCiphers: ctx.serverCipherString } : {}),
      ...(ctx.clientCipherString !== '' ? { clientCiphers: ctx.clientCipherString } : {}),
      requireClientCert: mutual, verifyServer: ctx.verifyServerCertificate,
      strictCert: ctx.requireStrictCert || config.scalars.get('requirestrictcert') === '1',
    };
  } else if (ctx === undefined) {
    const certFile = config.scalars.get('tlscertfile');
    const keyFile = config.scalars.get('tlskeyfile');
    if (certFile && keyFile) spec = { certFile, keyFile, requireClientCert: mutual };
  }
  if (si.tlsPort <= 0) return spec === null ? {} : { tls: spec };
  if (spec === null) {
    throw new ConfigError([{
      severity: 'error', file: si.file, line: si.line,
      message: `SIPInterface ${si.index}: TLSPort ${si.tlsPort} needs a certificate: a TLSContexts row with CertificateFile and PrivateKeyFile (TLSContext "${si.tlsContext}")`,
    }]);
  }
  return { tlsPort: si.tlsPort, tls: spec };
}
