import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { keyUsageOf, strictCertProblem } from './strict-cert.js';

const dir = mkdtempSync(join(tmpdir(), 'strict-cert-'));
const run = (args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] }); };
run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
run(['req', '-x509', '-new', '-key', 'ca.key', '-days', '1', '-subj', '/CN=ca', '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
let serial = 1;
function leaf(name: string, ext: string): X509Certificate {
  writeFileSync(join(dir, `${name}.ext`), ext);
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  run(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`]);
  run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++), '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  return new X509Certificate(readFileSync(join(dir, `${name}.pem`)));
}
const ca = new X509Certificate(readFileSync(join(dir, 'ca.pem')));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('RequireStrictCert checks (RFC 5280 key usages)', () => {
  it('reads keyUsage bits from the DER (critical or not), null when absent', () => {
    expect([...keyUsageOf(ca.raw)!].sort()).toEqual(['cRLSign', 'keyCertSign']);
    expect([...keyUsageOf(leaf('ku', 'keyUsage=digitalSignature,keyEncipherment\n').raw)!].sort()).toEqual(['digitalSignature', 'keyEncipherment']);
    expect(keyUsageOf(leaf('noku', 'subjectAltName=IP:127.0.0.1\n').raw)).toBeNull();
  });

  it('accepts a complete server/client certificate for its role only', () => {
    const both = leaf('both', 'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n');
    expect(strictCertProblem(both, ca, 'server')).toBeNull();
    expect(strictCertProblem(both, ca, 'client')).toBeNull();
    const server = leaf('server', 'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
    expect(strictCertProblem(server, ca, 'server')).toBeNull();
    expect(strictCertProblem(server, ca, 'client')).toMatch(/clientAuth/);
  });

  it('refuses missing extensions, a wrong key usage, a CA certificate and an issuer that may not sign', () => {
    expect(strictCertProblem(leaf('none', 'subjectAltName=IP:127.0.0.1\n'), ca, 'server')).toMatch(/extendedKeyUsage/);
    expect(strictCertProblem(leaf('noku2', 'extendedKeyUsage=serverAuth\n'), ca, 'server')).toMatch(/no keyUsage/);
    expect(strictCertProblem(leaf('agree', 'keyUsage=keyAgreement\nextendedKeyUsage=serverAuth\n'), ca, 'server')).toMatch(/digitalSignature/);
    expect(strictCertProblem(ca, undefined, 'server')).toMatch(/CA certificate/);
    const notCa = leaf('notca', 'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
    expect(strictCertProblem(leaf('child', 'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n'), notCa, 'server')).toMatch(/issuer is not a CA/);
  });
});
