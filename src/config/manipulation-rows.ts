/**
 * Compiles the MessageManipulations and MessageConditions rows with the
 * manipulation language at load time, so a rule that does not parse is a
 * configuration error with its file:line (and the column of the bad token),
 * and a reload never swaps in a rule set that cannot run.
 */
import { compileManipulations } from '../manipulation/index.js';
import type { CompiledConditions, ManipulationRowInput, ManipulationSets } from '../manipulation/index.js';
import type { Diagnostic } from './diagnostics.js';
import type { SbcTables } from './schema.js';

export interface CompiledManipulation {
  readonly sets: ManipulationSets;
  readonly conditions: CompiledConditions;
}

const ACTION_CODES: Readonly<Record<string, string>> = {
  add: '0', remove: '1', modify: '2', 'add-prefix': '3', 'add-suffix': '4',
  'remove-suffix': '5', 'remove-prefix': '6', normalize: '7',
};

export function compileConfigManipulations(
  tables: SbcTables, diagnostics: Diagnostic[],
): CompiledManipulation {
  const rows: ManipulationRowInput[] = tables.messageManipulations.map((r) => ({
    index: r.index,
    manipulationName: r.manipulationName,
    manSetId: r.manSetId,
    messageType: r.messageType,
    condition: r.condition,
    actionSubject: r.actionSubject,
    actionType: ACTION_CODES[r.actionType] ?? r.actionType,
    actionValue: r.actionValue,
    rowRole: r.rowRole === 'use-previous-condition' ? '1' : '0',
    activate: r.activate,
    line: r.line,
    file: r.file,
  }));
  const conditions = tables.messageConditions.map((c) => ({
    index: c.index, name: c.name, condition: c.condition, line: c.line, file: c.file,
  }));
  const compiled = compileManipulations(rows, conditions);
  for (const e of compiled.errors) {
    diagnostics.push({
      severity: 'error', file: e.file, line: e.line, column: e.column,
      message: e.message.includes(e.field) ? e.message : `${e.field}: ${e.message}`,
    });
  }
  for (const w of compiled.warnings) {
    diagnostics.push({ severity: 'warning', file: w.file, line: w.line, message: w.message });
  }
  return { sets: compiled.sets, conditions: compiled.conditions };
}
