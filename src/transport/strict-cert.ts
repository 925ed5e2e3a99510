/**
 * Mediant RequireStrictCert ("strict certificate extension validation"):
 * beyond the chain and host checks OpenSSL already makes, the peer's
 * certificate must state that it is meant for this use (RFC 5280):
 *
 *  - an end-entity certificate, not a CA certificate (§4.2.1.9);
 *  - extendedKeyUsage present and listing id-kp-serverAuth for a server we
 *    connect to, id-kp-clientAuth for a client of a mutual-TLS listener
 *    (§4.2.1.12; without strict mode an absent extension means "any");
 *  - keyUsage present with digitalSignature or keyEncipherment (§4.2.1.3);
 *  - its issuer, when the peer sent it, a CA whose keyUsage (if any)
 *    includes keyCertSign.
 */
import { X509Certificate } from 'node:crypto';
import type tls from 'node:tls';

export type PeerRole = 'server' | 'client';

const EKU: Record<PeerRole, { oid: string; name: string }> = {
  server: { oid: '1.3.6.1.5.5.7.3.1', name: 'serverAuth' },
  client: { oid: '1.3.6.1.5.5.7.3.2', name: 'clientAuth' },
};

const KEY_USAGE_BITS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];
/** DER of the extension's extnID: OBJECT IDENTIFIER 2.5.29.15 (id-ce-keyUsage). */
const KEY_USAGE_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0f]);

/**
 * The keyUsage bits named by a DER certificate; null when it has no keyUsage
 * extension. Node exposes only the extended key usage, so the extension is
 * read from the DER: extnID, optional critical BOOLEAN, OCTET STRING holding
 * a BIT STRING (first content byte: unused bits).
 */
export function keyUsageOf(der: Buffer): Set<string> | null {
  let at = der.indexOf(KEY_USAGE_OID);
  if (at < 0) return null;
  at += KEY_USAGE_OID.length;
  if (der[at] === 0x01 && der[at + 1] === 0x01) at += 3; // critical
  if (der[at] !== 0x04 || der[at + 2] !== 0x03) return null;
  const len = der[at + 3]!;
  if (len < 2 || len > 3) return null;
  const bits = ((der[at + 5] ?? 0) << 8) | (len === 3 ? der[at + 6] ?? 0 : 0);
  const out = new Set<string>();
  KEY_USAGE_BITS.forEach((name, i) => {
    if ((bits >> (15 - i)) & 1) out.add(name);
  });
  return out;
}

/** Why the certificate fails strict validation for `role`; null when it passes. */
export function strictCertProblem(leaf: X509Certificate, issuer: X509Certificate | undefined, role: PeerRole): string | null {
  if (leaf.ca) return 'the peer presented a CA certificate as its own';
  const want = EKU[role];
  const eku = leaf.keyUsage as string[] | undefined; // Node: the extended key usage OIDs
  if (eku === undefined || !eku.includes(want.oid)) return `extendedKeyUsage does not include ${want.name}`;
  const ku = keyUsageOf(leaf.raw);
  if (ku === null) return 'no keyUsage extension';
  if (!ku.has('digitalSignature') && !ku.has('keyEncipherment')) return 'keyUsage allows neither digitalSignature nor keyEncipherment';
  if (issuer !== undefined && issuer.fingerprint256 !== leaf.fingerprint256) {
    if (!issuer.ca) return 'the issuer is not a CA certificate';
    const iku = keyUsageOf(issuer.raw);
    if (iku !== null && !iku.has('keyCertSign')) return 'the issuer\'s keyUsage does not include keyCertSign';
  }
  return null;
}

/** For tls.connect's checkServerIdentity (cert as getPeerCertificate(true) gives it). */
export function strictPeerCertificateProblem(cert: tls.PeerCertificate | tls.DetailedPeerCertificate, role: PeerRole): string | null {
  if (cert.raw === undefined || cert.raw.length === 0) return 'no certificate';
  const issuerRaw = 'issuerCertificate' in cert ? cert.issuerCertificate?.raw : undefined;
  return strictCertProblem(new X509Certificate(cert.raw), issuerRaw && issuerRaw.length > 0 ? new X509Certificate(issuerRaw) : undefined, role);
}

/** For an accepted TLS socket (mutual TLS listener). */
export function strictSocketProblem(socket: tls.TLSSocket, role: PeerRole): string | null {
  const leaf = socket.getPeerX509Certificate();
  if (leaf === undefined) return 'no certificate';
  return strictCertProblem(leaf, leaf.issuerCertificate, role);
}
