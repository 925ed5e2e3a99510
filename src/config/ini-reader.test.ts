import { describe, expect, it } from 'vitest';
import { parseIni } from './ini-reader.js';

const errs = (text: string) => parseIni(text, 'f.ini').diagnostics.filter((d) => d.severity === 'error');
const warns = (text: string) => parseIni(text, 'f.ini').diagnostics.filter((d) => d.severity === 'warning');

describe('ini reader', () => {
  it('reads comments, blank lines, scalars with spaces, quotes and section headers', () => {
    const r = parseIni(['; board: test', '', '[SIP Params]', 'A=1', '  B   =   two words  ', 'C = "quoted"', "NTPServerIP = '0.0.0.0'", 'D ='].join('\n'), 'f.ini');
    expect(r.diagnostics).toEqual([]);
    expect(r.document.scalars.map((s) => [s.name, s.value, s.line, s.section])).toEqual([
      ['A', '1', 4, 'SIP Params'], ['B', 'two words', 5, 'SIP Params'], ['C', 'quoted', 6, 'SIP Params'],
      ['NTPServerIP', '0.0.0.0', 7, 'SIP Params'], ['D', '', 8, 'SIP Params'],
    ]);
  });

  it('reads a table with prefixed columns, CRLF, $$, empty fields and quoted commas', () => {
    const text = [
      '[ IPGroup ]',
      'FORMAT IPGroup_Index = IPGroup_Type, IPGroup_Name, IPGroup_ProxySetName, IPGroup_SIPGroupName;',
      'IPGroup 0 = 0, "PBX", $$, ;',
      'IPGroup 1 = 1, "a, b", "ITSP", \'x\';',
      '[ \\IPGroup ]',
    ].join('\r\n');
    const r = parseIni(text, 'f.ini');
    expect(r.diagnostics).toEqual([]);
    const t = r.document.tables[0]!;
    expect(t.name).toBe('IPGroup');
    expect(t.line).toBe(1);
    expect(t.formatLine).toBe(2);
    expect(t.columns.map((c) => c.name)).toEqual(['Type', 'Name', 'ProxySetName', 'SIPGroupName']);
    expect(t.rows[0]!.line).toBe(3);
    expect(t.rows[0]!.cells.map((c) => c.kind)).toEqual(['bare', 'quoted', 'default', 'empty']);
    expect(t.rows[1]!.cells.map((c) => c.text)).toEqual(['1', 'a, b', 'ITSP', 'x']);
    expect(t.rows[1]!.cells[1]!.column).toBe(16);
  });

  it('accepts bare column names, [\\Table ] end marks and case-insensitive names', () => {
    const r = parseIni('[ProxySet]\nformat Index = ProxyName;\nproxyset 3 = "A";\n[\\PROXYSET ]\n', 'f.ini');
    expect(r.diagnostics).toEqual([]);
    expect(r.document.tables[0]!.rows[0]!.index).toBe(3);
  });

  it('tells a table from a section header by the FORMAT line', () => {
    const r = parseIni('[ Misc ]\nX = 1\n[ T ]\n; comment\nFORMAT Index = A;\nT 0 = 1;\n[ \\T ]\n', 'f.ini');
    expect(r.diagnostics).toEqual([]);
    expect(r.document.scalars[0]!.section).toBe('Misc');
    expect(r.document.tables.map((t) => t.name)).toEqual(['T']);
  });

  it('reports each error with its line', () => {
    expect(errs('A = 1\nnot a param\n').map((d) => d.line)).toEqual([2]);
    expect(errs('B = "open\n')[0]!.line).toBe(1);
    expect(errs('[ T ]\nFORMAT Index = A;\nT x = 1;\n[ \\T ]')[0]).toMatchObject({ line: 3, message: expect.stringContaining('index') });
    expect(errs('[ T ]\nFORMAT Index = A;\nT 0 = 1, 2;\n[ \\T ]')[0]).toMatchObject({ line: 3, message: expect.stringContaining('2 values') });
    expect(errs('[ T ]\nFORMAT Index = A;\nU 0 = 1;\n[ \\T ]')[0]!.line).toBe(3);
    expect(errs('[ T ]\nFORMAT Index = A;\nT 0 = "x;\n[ \\T ]')[0]!.line).toBe(3);
    expect(errs('[ T ]\nFORMAT Index = A;\nT 0 = "x" y;\n[ \\T ]')[0]!.line).toBe(3);
    expect(errs('[ T ]\nFORMAT Index = A, A;\n[ \\T ]')[0]!.line).toBe(2);
    expect(errs('[ T ]\nFORMAT Index = A;\nFORMAT Index = B;\n[ \\T ]')[0]!.line).toBe(3);
    expect(errs('[ T ]\nFORMAT Index = A;\nT 0 = 1;\n')[0]).toMatchObject({ line: 1, message: expect.stringContaining('not closed') });
    expect(errs('[ T ]\nFORMAT Index = A;\n[ \\U ]\n')[0]!.line).toBe(3);
    expect(errs('[ \\T ]\n')[0]!.line).toBe(1);
    expect(errs('[ T\n')[0]!.line).toBe(1);
    expect(errs('FORMAT Index = A;\n')[0]!.line).toBe(1);
    expect(errs('[ T ]\nFORMAT Index = A;\njunk\n[ \\T ]')[0]!.line).toBe(3);
    expect(errs('[ T ]\nFORMAT Index = A;\n[ U ]\nFORMAT Index = B;\n[ \\U ]\n')[0]).toMatchObject({ line: 1, message: expect.stringContaining('not closed') });
    expect(errs('1A = 3\n')[0]!.line).toBe(1);
  });

  it('collects every error instead of stopping at the first', () => {
    expect(errs('bad1\nA = 1\nbad2\n[ T ]\nFORMAT Index = A;\nT z = 1;\n[ \\T ]\nbad3').map((d) => d.line)).toEqual([1, 3, 6, 8]);
  });

  it('warns about missing semicolons and short rows', () => {
    expect(warns('[ T ]\nFORMAT Index = A, B;\nT 0 = 1\n[ \\T ]').map((d) => d.line)).toEqual([3, 3]);
  });

  it('reads tables whose rows have no data columns', () => {
    const r = parseIni('[ T ]\nFORMAT Index = ;\nT 0 = ;\n[ \\T ]', 'f.ini');
    expect(r.document.tables[0]!.rows[0]!.cells).toEqual([]);
  });
});
