/** `sbc start --config FILE`: runs until SIGTERM/SIGINT; SIGHUP reloads the configuration. */
import { ConfigError, Sbc } from '../app/sbc.js';
import { createLogger } from '../util/logger.js';

export async function startCommand(args: string[]): Promise<number> {
  let configFile: string | undefined;
  let level: string | undefined;
  let relay: 'native' | 'js' | undefined;
  let registrationDbDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--config' || a === '-c') configFile = args[++i];
    else if (a === '--log-level') level = args[++i];
    else if (a === '--registration-db') registrationDbDir = args[++i];
    else if (a === '--relay') {
      const v = args[++i];
      if (v !== 'native' && v !== 'js') {
        process.stderr.write('sbc start: --relay must be native or js\n');
        return 2;
      }
      relay = v;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: sbc start --config FILE [--log-level info|debug|warn] [--relay native|js] [--registration-db DIR]\n');
      return 0;
    } else {
      process.stderr.write(`sbc start: unknown argument ${a}\n`);
      return 2;
    }
  }
  if (configFile === undefined) {
    process.stderr.write('usage: sbc start --config FILE\n');
    return 2;
  }
  const logger = createLogger(level !== undefined ? { level } : {});
  let sbc: Sbc;
  try {
    // SBC_API_GC=1 (tests, the bench): GET /api/v1/status?gc=1 may run a full GC (with node --expose-gc).
    sbc = await Sbc.start({ configFile, logger, ...(relay ? { relay } : {}), allowGcOnStatus: process.env['SBC_API_GC'] === '1', ...(registrationDbDir ? { registrationDbDir } : {}) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    logger.fatal({ err }, 'SBC failed to start');
    return 1;
  }
  // Nothing a remote party sends may take the process down: an exception
  // that escaped every handler is logged, counted and survived.
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception (survived)'));
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection (survived)'));
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutdown requested');
      sbc.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
