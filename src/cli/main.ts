#!/usr/bin/env node
/**
 * The `sbc` command: start the SBC, check a configuration, explain a route.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

const HELP = `sbc — session border controller (SIP B2BUA)

Usage:
  sbc start --config FILE [--log-level LEVEL]
      Start the SBC on a Mediant-style ini file. SIGHUP reloads the file;
      SIGTERM/SIGINT shut down gracefully (calls are released with BYE).
  sbc check-config [--verbose] FILE
      Validate an ini file; prints file:line diagnostics, exit 1 on errors,
      and one line on what is ignored (--verbose lists every item).
  sbc route --config FILE --from URI --to URI --src-ip IP [--src-port N]
            [--transport udp|tcp|tls] [--method INVITE]
      Show which classification, manipulations and routing rows a request
      would match, without sending anything.
  sbc diff A.ini B.ini
      Semantic difference between two ini files (rows matched by name, then
      index; passwords masked). Exit 0 = same, 1 = different.
  sbc config history | show [V] | diff V1 [V2] | rollback V
            (--api http://HOST:PORT | --config FILE)
      Configuration history of the running SBC through its REST API; a
      rollback is validated and applied like any change, and recorded.
  sbc status (--api http://HOST:PORT | --config FILE) [--json]
      Calls, Account registrations to trunks and users registered through
      the SBC (per IP Group), from the running SBC's REST API.
  sbc hash-password [PASSWORD]
      Print the scrypt hash for a WebUsers Password cell (REST API users).
      Without PASSWORD it is read from stdin (so it stays out of the shell history).
  sbc --help
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(HELP);
      return cmd === undefined ? 1 : 0;
    case 'start': {
      // V8 throws away the bytecode (and so the optimized code) of functions idle for a few GCs: after
      // a quiet minute the call path ran cold again, and a burst then queued for hundreds of ms
      // (docs/performance.md, "Cold after idle"). A signalling server's hot path is small and always
      // needed. Set before any of it is compiled; worker threads share the flag.
      setFlagsFromString('--no-flush-bytecode');
      // V8 allocates straight into the old generation at allocation sites whose objects once survived a
      // young GC in bulk (a burst, a full GC in the middle of calls): from then on every call's timeline
      // and held messages went there, died there, and through the old-to-young pointers they kept (until
      // the next full GC) promoted what they pointed at; measured, promotion per call doubled for good
      // (docs/performance.md, "Churned Maps and pretenuring").
      setFlagsFromString('--no-allocation-site-pretenuring');
      const { startCommand } = await import('./start.js');
      return startCommand(rest);
    }
    case 'hash-password': {
      const { hashPassword } = await import('../api/password.js');
      let pw = rest[0];
      if (pw === undefined) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        pw = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      }
      if (pw.length === 0) {
        process.stderr.write('empty password\n');
        return 1;
      }
      process.stdout.write(`${await hashPassword(pw)}\n`);
      return 0;
    }
    case 'check-config': {
      const { checkConfigCommand } = await import('./check-config.js');
      return checkConfigCommand(rest);
    }
    case 'route': {
      const { routeCommand } = await import('./route.js');
      return routeCommand(rest);
    }
    case 'diff': {
      const { diffCommand } = await import('./diff.js');
      return diffCommand(rest);
    }
    case 'status': {
      const { statusCommand } = await import('./status.js');
      return statusCommand(rest);
    }
    case 'config': {
      const { configCommand } = await import('./config.js');
      return configCommand(rest);
    }
    default:
      process.stderr.write(`sbc: unknown command '${cmd}'\n\n${HELP}`);
      return 2;
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0 || process.argv[2] !== 'start') process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`sbc: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
