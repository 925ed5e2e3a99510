import { describe, expect, it } from 'vitest';
import { SipMessage } from '../sip/message.js';
import { assertIdentity, useRegisteredIdentity } from './outbound-identity.js';

function invite(from = '"Alice" <sip:100@pbx.example>;tag=a1'): SipMessage {
  const m = SipMessage.request('INVITE', 'sip:004930999@itsp.test');
  m.setHeader('from', from);
  m.setHeader('to', '<sip:004930999@itsp.test>');
  m.setHeader('contact', '<sip:100@10.0.0.1:5060>');
  m.setHeader('p-asserted-identity', '<sip:+442071234500@pbx.example>');
  m.setHeader('p-preferred-identity', '<sip:200@pbx.example>');
  return m;
}

describe('outbound identity', () => {
  it('as is: the caller\'s identity headers pass untouched', () => {
    const m = invite();
    assertIdentity(m, 'as-is');
    expect(m.getHeader('p-asserted-identity')).toBe('<sip:+442071234500@pbx.example>');
    expect(m.getHeader('p-preferred-identity')).toBe('<sip:200@pbx.example>');
  });

  it('add: P-Asserted-Identity from the source URL (after the registered HostName), replacing what came in', () => {
    const m = invite();
    useRegisteredIdentity(m, { contactUser: '4930123', host: 'reg.itsp.test' }, true);
    assertIdentity(m, 'add');
    expect(m.getHeader('contact')).toBe('<sip:4930123@10.0.0.1:5060>');
    expect(m.getHeaderValues('p-asserted-identity')).toEqual(['"Alice" <sip:100@reg.itsp.test>']);
    expect(m.getHeader('p-preferred-identity')).toBeUndefined();
  });

  it('add-preferred: P-Preferred-Identity instead', () => {
    const m = invite();
    assertIdentity(m, 'add-preferred');
    expect(m.getHeaderValues('p-preferred-identity')).toEqual(['"Alice" <sip:100@pbx.example>']);
    expect(m.getHeader('p-asserted-identity')).toBeUndefined();
  });

  it('remove: neither header leaves', () => {
    const m = invite();
    assertIdentity(m, 'remove');
    expect(m.getHeader('p-asserted-identity')).toBeUndefined();
    expect(m.getHeader('p-preferred-identity')).toBeUndefined();
  });

  it('add keeps the caller\'s assertion when the From is anonymous (RFC 3323)', () => {
    const m = invite('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=x');
    assertIdentity(m, 'add');
    expect(m.getHeader('p-asserted-identity')).toBe('<sip:+442071234500@pbx.example>');
  });

  it('only initial INVITEs', () => {
    const m = invite();
    m.setHeader('to', '<sip:004930999@itsp.test>;tag=b');
    assertIdentity(m, 'remove');
    expect(m.getHeader('p-asserted-identity')).toBeDefined();
  });
});
