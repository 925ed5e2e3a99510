/** `sbc check-config FILE...`: prints every diagnostic as file:line: severity: message; exit 1 on errors. */
import { formatDiagnostic, hasErrors } from '../config/diagnostics.js';
import { loadConfigFile } from '../config/load.js';

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
    else if (a === '--help' || a === '-h') {
      io.out('usage: sbc check-config [--quiet] FILE...   (warnings are hidden with --quiet)');
      return 0;
    } else if (a.startsWith('-')) {
      io.err(`check-config: unknown option ${a}`);
      return 2;
    } else files.push(a);
  }
  if (files.length === 0) {
    io.err('usage: sbc check-config [--quiet] FILE...');
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
    io.out(`${f}: ${errors === 0 ? 'OK' : 'INVALID'} (${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'})`);
  }
  return failed ? 1 : 0;
}
