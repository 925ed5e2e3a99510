/**
 * `sbc diff A.ini B.ini`: the semantic difference between two configuration files
 * (parameters changed; rows added, removed, changed or renumbered, matched by name
 * then index; passwords masked), for change reviews. Exit 0 = same, 1 = different,
 * 2 = a file cannot be read or has errors (like diff(1)).
 */
import { formatDiagnostic } from '../config/diagnostics.js';
import { diffConfigs, formatDiff } from '../config/diff.js';
import { loadConfigFile } from '../config/load.js';
import type { CommandIo } from './check-config.js';

const stdio: CommandIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

export async function diffCommand(args: string[], io: CommandIo = stdio): Promise<number> {
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (files.length !== 2 || files.some((f) => f.startsWith('-'))) {
    io.err('usage: sbc diff [--json] A.ini B.ini');
    return 2;
  }
  const [a, b] = await Promise.all(files.map((f) => loadConfigFile(f)));
  let bad = false;
  for (const r of [a!, b!]) {
    if (r.config) continue;
    bad = true;
    for (const d of r.diagnostics) if (d.severity === 'error') io.err(formatDiagnostic(d));
  }
  if (bad) return 2;
  const diff = diffConfigs(a!.config!, b!.config!);
  const lines = formatDiff(diff);
  if (json) io.out(JSON.stringify(diff, null, 2));
  else if (lines.length === 0) io.out('no differences');
  else for (const l of lines) io.out(l);
  return lines.length === 0 ? 0 : 1;
}
