import { describe, expect, it } from 'vitest';
import { diffConfigs, formatDiff, loadConfigText } from './index.js';

const A = `
[ ProxySet ]
FORMAT Index = ProxyName;
ProxySet 0 = "P";
ProxySet 1 = "Q";
ProxySet 2 = "R";
[ \\ProxySet ]
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName, Password;
IPGroup 0 = 0, "PBX", "P", "old";
[ \\IPGroup ]
[ IP2IPRouting ]
FORMAT Index = RouteName, SrcIPGroupName, DestType, DestIPGroupName;
IP2IPRouting 0 = "a", "Any", 0, "PBX";
IP2IPRouting 1 = "b", "Any", 0, "PBX";
[ \\IP2IPRouting ]
AdminPassword = x
`;

function load(text: string) {
  const r = loadConfigText(text, 'd.ini');
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.config!;
}

describe('semantic diff', () => {
  it('matches named rows by name, unnamed rows by index, renames by index, and masks secrets', () => {
    const b = A.replace('ProxySet 0 = "P";\nProxySet 1 = "Q";', 'ProxySet 0 = "Q";\nProxySet 1 = "P";')
      .replace('ProxySet 2 = "R";', 'ProxySet 2 = "S";')
      .replace('"old"', '"new"')
      .replace('IP2IPRouting 1 = "b", "Any", 0, "PBX";\n', '')
      .replace('AdminPassword = x', 'AdminPassword = y');
    const d = diffConfigs(load(A), load(b));
    expect(formatDiff(d)).toEqual([
      'parameter adminpassword changed (value hidden)',
      'ProxySet 0 (Q): moved from index 1',
      'ProxySet 1 (P): moved from index 0',
      "ProxySet 2 (S): ProxyName 'R' -> 'S'",
      'IPGroup 0 (PBX): Password changed (value hidden)',
      'IP2IPRouting 1 removed',
    ]);
    expect(JSON.stringify(d)).not.toMatch(/"old"|"new"|"x"|"y"/);
    expect(formatDiff(diffConfigs(load(A), load(A)))).toEqual([]);
  });
});
