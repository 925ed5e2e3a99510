import { readFile } from 'node:fs/promises';
import { hasErrors, type Diagnostic } from './diagnostics.js';
import { parseIni } from './ini-reader.js';
import { convertDocument } from './convert.js';
import { buildConfig, readScalars, type SbcConfig } from './sbc-config.js';
import { validateTables } from './validate.js';
import { compileConfigManipulations } from './manipulation-rows.js';
import { ignoredScalars, noEffectColumns, type IgnoredSetting } from './support.js';
import { validateObservabilityTables } from './observability.js';

export interface LoadResult {
  /** null when any error was found. */
  readonly config: SbcConfig | null;
  /** Errors and warnings, sorted by line. */
  readonly diagnostics: Diagnostic[];
  /** Parameters, tables and columns read but not acted on (see support.ts), sorted by line. */
  readonly ignored: IgnoredSetting[];
}

export function loadConfigText(text: string, file: string): LoadResult {
  const parsed = parseIni(text, file);
  const diagnostics = parsed.diagnostics;
  const ignored: IgnoredSetting[] = [];
  const tables = convertDocument(parsed.document, file, diagnostics, ignored);
  const { scalars, typed } = readScalars(parsed.document.scalars, file, diagnostics);
  ignored.push(...ignoredScalars(parsed.document.scalars, file), ...noEffectColumns(tables, file));
  diagnostics.push(...validateTables(tables, file));
  diagnostics.push(...validateObservabilityTables(tables, file));
  const manipulation = compileConfigManipulations(tables, diagnostics);
  diagnostics.sort((a, b) => a.line - b.line || (a.column ?? 0) - (b.column ?? 0));
  ignored.sort((a, b) => a.line - b.line || (a.column ?? 0) - (b.column ?? 0));
  if (hasErrors(diagnostics)) return { config: null, diagnostics, ignored };
  return { config: buildConfig(tables, scalars, typed, manipulation), diagnostics, ignored };
}

export async function loadConfigFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    return { config: null, diagnostics: [{ severity: 'error', file: path, line: 0, message: `cannot read the configuration: ${reason}` }], ignored: [] };
  }
  return loadConfigText(text, path);
}
