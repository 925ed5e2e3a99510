/**
 * Pseudonymisation of personal data in logs and CDRs (GDPR art. 4(5)):
 * calling/called numbers and the user parts of SIP/tel URIs become a keyed
 * hash, HMAC-SHA-256 with the operator's secret, so that the same number
 * always maps to the same pseudonym (calls can still be correlated) but
 * nobody without the key can tell which number it was.
 */
import { createHmac } from 'node:crypto';

export class Pseudonymiser {
  private readonly cache = new Map<string, string>();

  constructor(private readonly key: string) {}

  /** `p-` + 16 base64url characters (96 bits) of the HMAC; '' stays ''. */
  id(value: string): string {
    if (value === '') return '';
    let p = this.cache.get(value);
    if (p === undefined) {
      p = `p-${createHmac('sha256', this.key).update(value).digest('base64url').slice(0, 16)}`;
      if (this.cache.size > 50_000) this.cache.clear();
      this.cache.set(value, p);
    }
    return p;
  }

  /** Replaces the user part of every sip:/sips:/tel: URI in a header value, and the display name. */
  header(value: string): string {
    return value
      .replace(/"((?:[^"\\]|\\.)*)"/g, (_m, name: string) => `"${this.id(name)}"`)
      .replace(/\b(sips?:)([^@;>\s:]+)(?::[^@;>\s]*)?@/gi, (_m, scheme: string, user: string) => `${scheme}${this.id(user)}@`)
      .replace(/\b(tel:)([^;>\s]+)/gi, (_m, scheme: string, num: string) => `${scheme}${this.id(num)}`);
  }

  /** Every occurrence of the given values in free text. */
  text(value: string, secrets: readonly string[]): string {
    let out = value;
    for (const s of secrets) if (s.length >= 3) out = out.split(s).join(this.id(s));
    return out;
  }
}
