/**
 * Throw-away certificate authorities for TLS tests, made with the openssl
 * CLI in a temporary directory (nothing committed, nothing that expires in
 * the repository): a CA, and leaf certificates for 127.0.0.1 signed by it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  caCert: string;
  caKey: string;
  /**
   * A leaf certificate (EC P-256) with the given IP/DNS SANs; returns file paths. `usages: false`
   * leaves out keyUsage and extendedKeyUsage (valid, but refused under RequireStrictCert).
   */
  issue(name: string, sans?: string[], opts?: { usages?: boolean }): { cert: string; key: string };
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createTestCa(label: string): TestCa {
  if (!existsSync('/usr/bin/openssl')) throw new Error('openssl not found: apt-get install openssl (scripts/install-test-deps.sh)');
  const dir = mkdtempSync(join(tmpdir(), `sbc-ca-${label}-`));
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.pem');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], dir);
  openssl(['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', '2', '-subj', `/CN=SBC test CA ${label}`, '-out', caCert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  let serial = 1;
  return {
    dir,
    caCert,
    caKey,
    issue(name, sans = ['IP:127.0.0.1'], opts = {}) {
      const key = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const cert = join(dir, `${name}.pem`);
      const ext = join(dir, `${name}.ext`);
      const usages = opts.usages === false ? '' : 'extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n';
      writeFileSync(ext, `subjectAltName=${sans.join(',')}\n${usages}`);
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
      openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', csr], dir);
      openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', String(serial++), '-days', '2', '-sha256', '-extfile', ext, '-out', cert], dir);
      return { cert, key };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
