/**
 * Crash-safe file replacement: write a temporary file beside the target,
 * fsync it, rename it over the target (atomic on POSIX file systems), then
 * fsync the directory so the rename itself survives a power cut. A crash at
 * any point leaves either the old file or the new one, never a truncated mix.
 * A crash before the rename leaves the temporary file behind; it is never
 * read, and `removeStaleTemps` clears it at the next start.
 */
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Temporary files of `target` are `.<name>.tmp-<pid>-<n>` in the same directory. */
function tempPrefix(target: string): string {
  return `.${basename(target)}.tmp-`;
}

let counter = 0;

/**
 * Test hook: when SBC_FAULT_INJECT names this write's fault point (the ini write uses
 * `config-write-before-rename`), the process kills itself (SIGKILL, like a crash or
 * `kill -9`) after the temporary file is written and synced and before the rename, so a
 * test can prove the target is never left truncated.
 */
function faultBeforeRename(point: string | undefined): void {
  if (point !== undefined && process.env['SBC_FAULT_INJECT'] === point) process.kill(process.pid, 'SIGKILL');
}

/** Replaces `target` with `data`; an existing file keeps its permission bits, a new one gets `mode`. */
export async function writeFileAtomic(target: string, data: string, mode = 0o644, faultPoint?: string): Promise<void> {
  const dir = dirname(target);
  mode = await stat(target).then((s) => s.mode & 0o7777, () => mode);
  const tmp = join(dir, `${tempPrefix(target)}${process.pid}-${++counter}`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.chmod(mode); // open()'s mode is filtered by the umask
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  faultBeforeRename(faultPoint);
  try {
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

/** Deletes temporary files a crash left beside `target`; returns their names. */
export async function removeStaleTemps(target: string): Promise<string[]> {
  const dir = dirname(target);
  const prefix = tempPrefix(target);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith(prefix));
  for (const n of stale) await rm(join(dir, n), { force: true });
  return stale;
}
