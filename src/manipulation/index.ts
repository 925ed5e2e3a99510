export { compileManipulations, MAX_REGEX_INPUT, type CompileResult } from './compile.js';
export { catastrophicReason } from './regex-safety.js';
export { ActionType, ACTION_LABELS } from './parser.js';
export type {
  ApplyResult, CompileOptions, CompiledConditions, IpGroupInfo, ManipulationContext, ManipulationError,
  ManipulationLogger, ManipulationRowInput, ManipulationSets, MessageConditionInput,
} from './types.js';
