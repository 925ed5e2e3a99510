import { describe, expect, it } from 'vitest';
import { loadConfigText } from './index.js';
import { parseMessage } from '../sip/index.js';

const BASE = `
[ MessageConditions ]
FORMAT Index = Name, Condition;
MessageConditions 0 = "from-pbx", "header.user-agent contains 'PBX'";
[ \\MessageConditions ]

[ MessageManipulations ]
FORMAT Index = ManipulationName, ManSetID, MessageType, Condition, ActionSubject, ActionType, ActionValue, RowRole;
MessageManipulations 0 = "strip x", 1, "any", "", "header.x-internal", 1, "", 0;
MessageManipulations 1 = "RULE", 1, "invite.request", "", "header.from.url.host", 2, VALUE, 0;
[ \\MessageManipulations ]
`;

const INVITE = [
  'INVITE sip:100@sbc SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1', 'From: <sip:200@pbx.local>;tag=a',
  'To: <sip:100@sbc>', 'Call-ID: c1', 'CSeq: 1 INVITE', 'User-Agent: PBX 1.0', 'X-Internal: yes', 'Content-Length: 0', '', '',
].join('\r\n');

describe('MessageManipulations compiled at load', () => {
  it('a valid set is compiled and usable from the loaded configuration', () => {
    const r = loadConfigText(BASE.replace('VALUE', `"'itsp.example.com'"`), 'a.ini');
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const parsed = parseMessage(Buffer.from(INVITE));
    if (!parsed.ok) throw new Error(parsed.error);
    const msg = parsed.message;
    expect(r.config!.manipulation.conditions.evaluate('from-pbx', msg, {})).toBe(true);
    r.config!.manipulation.sets.apply(1, msg, {});
    expect(msg.getHeader('x-internal')).toBeUndefined();
    expect(msg.getHeader('from')).toBe('<sip:200@itsp.example.com>;tag=a');
  });

  it('a rule that does not parse is a config error with its file and line', () => {
    const r = loadConfigText(BASE.replace('VALUE', `"'unterminated"`), 'b.ini');
    expect(r.config).toBeNull();
    const err = r.diagnostics.find((d) => d.severity === 'error');
    expect(err).toMatchObject({ file: 'b.ini', line: 10 });
    expect(err!.message).toMatch(/actionValue/);
  });
});

describe('MessageManipulations Activate column', () => {
  it('a row with Activate = 0 is loaded but does not run', () => {
    const text = BASE.replace('VALUE', `"'itsp.example.com'"`)
      .replace('FORMAT Index = ManipulationName, ManSetID, MessageType, Condition, ActionSubject, ActionType, ActionValue, RowRole;',
        'FORMAT Index = ManipulationName, ManSetID, MessageType, Condition, ActionSubject, ActionType, ActionValue, RowRole, Activate;')
      .replace(`"header.x-internal", 1, "", 0;`, `"header.x-internal", 1, "", 0, 0;`)
      .replace(`"'itsp.example.com'", 0;`, `"'itsp.example.com'", 0, 1;`);
    const r = loadConfigText(text, 'c.ini');
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const parsed = parseMessage(Buffer.from(INVITE));
    if (!parsed.ok) throw new Error(parsed.error);
    r.config!.manipulation.sets.apply(1, parsed.message, {});
    expect(parsed.message.getHeader('x-internal')).toBe('yes');
    expect(parsed.message.getHeader('from')).toBe('<sip:200@itsp.example.com>;tag=a');
  });
});
