/**
 * `sbc check-config [--verbose] FILE...`: prints every diagnostic as file:line: severity: message,
 * then one line summing up what is read but ignored (the full list with --verbose); exit 1 on errors.
 */
import { formatDiagnostic, hasErrors } from '../config/diagnostics.js';
import { loadConfigFile } from '../config/load.js';
import { formatIgnored, summarizeIgnored, type IgnoredSetting } from '../config/support.js';

export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

const stdio: CommandIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

export async function checkConfigCommand(args: string[], io: CommandIo = stdio): Promise<number> {
  const files: string[] = [];
  let quiet = false;
  let verbose = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--config' || a === '-c') {
      const f = args[++i];
      if (f === undefined) {
        io.err('check-config: --config needs a file');
        return 2;
      }
      files.push(f);
    } else if (a === '--quiet' || a === '-q') quiet = true;
    else if (a === '--verbose' || a === '-v') verbose = true;
    else if (a === '--help' || a === '-h') {
      io.out('usage: sbc check-config [--quiet] [--verbose] FILE...   (--quiet hides warnings; --verbose lists every ignored parameter, table and column)');
      return 0;
    } else if (a.startsWith('-')) {
      io.err(`check-config: unknown option ${a}`);
      return 2;
    } else files.push(a);
  }
  if (files.length === 0) {
    io.err('usage: sbc check-config [--quiet] [--verbose] FILE...');
    return 2;
  }
  let failed = false;
  for (const f of files) {
    const r = await loadConfigFile(f);
    for (const d of r.diagnostics) {
      if (quiet && d.severity === 'warning') continue;
      (d.severity === 'error' ? io.err : io.out)(formatDiagnostic(d));
    }
    const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = r.diagnostics.length - errors;
    if (hasErrors(r.diagnostics)) failed = true;
    if (r.ignored.length > 0) {
      if (verbose) {
        for (const kind of ['parameter', 'table', 'column'] as const) {
          const list = r.ignored.filter((i: IgnoredSetting) => i.kind === kind);
          if (list.length === 0) continue;
          io.out(`${f}: ${kind}s read but ignored:`);
          for (const i of list) io.out(`  ${formatIgnored(i)}`);
        }
      }
      io.out(`${f}: ${summarizeIgnored(r.ignored)}${verbose ? '' : ' (--verbose lists them)'}`);
    }
    io.out(`${f}: ${errors === 0 ? 'OK' : 'INVALID'} (${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'})`);
  }
  return failed ? 1 : 0;
}
