/** A configuration the SBC cannot start with: every error with its file:line. */
import { formatDiagnostic, type Diagnostic } from '../config/index.js';

export class ConfigError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(`configuration has errors:\n${diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic).join('\n')}`);
  }
}
