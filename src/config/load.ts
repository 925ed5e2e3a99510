import { readFile } from 'node:fs/promises';
import { hasErrors, type Diagnostic } from './diagnostics.js';
import { parseIni } from './ini-reader.js';
import { convertDocument } from './convert.js';
import { buildConfig, readScalars, type SbcConfig } from './sbc-config.js';
import { validateTables } from './validate.js';
import { compileConfigManipulations } from './manipulation-rows.js';
import { validateObservabilityTables } from './observability.js';

export interface LoadResult {
  /** null when any error was found. */
  readonly config: SbcConfig | null;
  /** Errors and warnings, sorted by line. */
  readonly diagnostics: Diagnostic[];
}

export function loadConfigText(text: string, file: string): LoadResult {
  const parsed = parseIni(text, file);
  const diagnostics = parsed.diagnostics;
  const tables = convertDocument(parsed.document, file, diagnostics);
  const { scalars, typed } = readScalars(parsed.document.scalars, file, diagnostics);
  diagnostics.push(...validateTables(tables, file));
  diagnostics.push(...validateObservabilityTables(tables, file));
  const manipulation = compileConfigManipulations(tables, diagnostics);
  diagnostics.sort((a, b) => a.line - b.line || (a.column ?? 0) - (b.column ?? 0));
  if (hasErrors(diagnostics)) return { config: null, diagnostics };
  return { config: buildConfig(tables, scalars, typed, manipulation), diagnostics };
}

export async function loadConfigFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    return { config: null, diagnostics: [{ severity: 'error', file: path, line: 0, message: `cannot read the configuration: ${reason}` }] };
  }
  return loadConfigText(text, path);
}
