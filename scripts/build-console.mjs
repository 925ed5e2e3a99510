// Builds the web console (docs/console.md) into dist/console: the page, its
// script and style from console/, and the two runtime libraries (Preact and
// htm, ES modules from node_modules) beside them. No bundler: the browser
// loads the modules through the import map in index.html, all from the SBC.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'console');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of readdirSync(join(root, 'console'))) copyFileSync(join(root, 'console', f), join(out, f));
// The packages' own ES module files (their package.json "exports"/"module" entries).
const pkg = (name) => join(root, 'node_modules', name);
const vendor = {
  'preact.mjs': join(pkg('preact'), 'dist', 'preact.mjs'),
  'hooks.mjs': join(pkg('preact'), 'hooks', 'dist', 'hooks.mjs'),
  'htm.mjs': join(pkg('htm'), 'dist', 'htm.mjs'),
};
for (const [name, from] of Object.entries(vendor)) copyFileSync(from, join(out, name));
console.log(`console built: ${readdirSync(out).length} files in ${out}`);
