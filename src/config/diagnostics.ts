/** A problem found while reading or validating a configuration. Collected, never thrown. */
export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly file: string;
  readonly line: number;
  readonly column?: number;
  readonly message: string;
}

/** A setting the configuration holds that the SBC reads but does not act on (check-config reports these). */
export interface IgnoredSetting {
  readonly kind: 'parameter' | 'table' | 'column';
  /** Parameter name, table name, or `Table.Column`. */
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly column?: number;
  /** 'not supported', or why a known setting has no effect. */
  readonly reason: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.column !== undefined ? `${d.file}:${d.line}:${d.column}` : `${d.file}:${d.line}`;
  return `${where}: ${d.severity}: ${d.message}`;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  for (const d of diagnostics) if (d.severity === 'error') return true;
  return false;
}
