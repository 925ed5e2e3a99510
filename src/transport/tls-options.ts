/**
 * TLS policy of SIP over TLS (RFC 5630, RFC 8996): TLS 1.2 minimum,
 * forward-secret AEAD suites only by default, peer certificates checked
 * against the configured roots, optional client certificates (mutual TLS).
 * Files are read here so that a SIGHUP can build fresh contexts
 * (certificate rotation without a restart).
 */
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { strictPeerCertificateProblem } from './strict-cert.js';

/** ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (TLS 1.2); TLS 1.3 suites are all forward secret. */
export const DEFAULT_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export type TlsVersionName = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface TlsSpec {
  certFile: string;
  keyFile: string;
  /** PEM roots trusted for peers; absent = Node's bundled roots. */
  caFile?: string;
  minVersion?: TlsVersionName;
  maxVersion?: TlsVersionName;
  serverCiphers?: string;
  clientCiphers?: string;
  /** Mutual TLS on the listener: a client without a certificate from caFile is refused. */
  requireClientCert?: boolean;
  /** Outgoing: check the server's certificate and host name (default true). */
  verifyServer?: boolean;
  /** Mediant RequireStrictCert: peer certificates must carry the right key usages (strict-cert.ts). */
  strictCert?: boolean;
}

/** Mediant TLSVersion bitmask (1 = 1.0, 2 = 1.1, 4 = 1.2, 8 = 1.3; 0 = default) to a version range. */
export function versionRange(mask: number): { minVersion: TlsVersionName; maxVersion: TlsVersionName } {
  const names: TlsVersionName[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
  if (mask <= 0 || mask > 15) return { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' };
  let lo = 0;
  while (((mask >> lo) & 1) === 0) lo++;
  let hi = 3;
  while (((mask >> hi) & 1) === 0) hi--;
  return { minVersion: names[lo]!, maxVersion: names[hi]! };
}

export interface LoadedTls {
  server: tls.TlsOptions;
  client: tls.ConnectionOptions;
  /** Client certificates of the mutual-TLS listener are checked strictly (strictSocketProblem) once the handshake is done. */
  strictClientCert: boolean;
}

export async function loadTls(spec: TlsSpec, handshakeTimeoutMs: number): Promise<LoadedTls> {
  const [cert, key, ca] = await Promise.all([
    readFile(spec.certFile), readFile(spec.keyFile), spec.caFile ? readFile(spec.caFile) : Promise.resolve(undefined),
  ]);
  const minVersion = spec.minVersion ?? 'TLSv1.2';
  const maxVersion = spec.maxVersion ?? 'TLSv1.3';
  const mutual = spec.requireClientCert === true;
  return {
    server: {
      cert, key, ...(ca !== undefined ? { ca } : {}), minVersion, maxVersion,
      ciphers: spec.serverCiphers || DEFAULT_TLS12_CIPHERS, honorCipherOrder: true,
      requestCert: mutual, rejectUnauthorized: mutual, handshakeTimeout: handshakeTimeoutMs,
    },
    client: {
      // Our certificate too: a trunk that asks for mutual TLS gets it.
      cert, key, ...(ca !== undefined ? { ca } : {}), minVersion, maxVersion,
      ciphers: spec.clientCiphers || DEFAULT_TLS12_CIPHERS,
      rejectUnauthorized: spec.verifyServer !== false,
      ...(spec.strictCert === true ? { checkServerIdentity: strictServerIdentity } : {}),
    },
    strictClientCert: spec.strictCert === true && mutual,
  };
}

/** The host check (RFC 5922 §7), then RequireStrictCert; an Error refuses the server. */
function strictServerIdentity(host: string, cert: tls.PeerCertificate): Error | undefined {
  const hostError = tls.checkServerIdentity(host, cert);
  if (hostError !== undefined) return hostError;
  const problem = strictPeerCertificateProblem(cert, 'server');
  return problem === null ? undefined : Object.assign(new Error(`RequireStrictCert: ${problem}`), { code: 'ERR_STRICT_CERT' });
}
