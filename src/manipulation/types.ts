/**
 * Public types of the Message Manipulation language. Rows arrive as plain
 * objects from the config loader; we keep our own input shapes so this
 * module does not depend on the config module's types.
 */
import type { SipMessage } from '../sip/message.js';

export interface ManipulationRowInput {
  index: number;
  manipulationName: string;
  manSetId: number;
  messageType: string;
  condition: string;
  actionSubject: string;
  /** Numeric ini code ('0'..'7') or the action name ('Modify', 'Add Prefix', ...). */
  actionType: string;
  actionValue: string;
  /** '0' / 'Use Current Condition' or '1' / 'Use Previous Condition'; empty = current. */
  rowRole: string;
  /** false switches the row off; absent = on. */
  activate?: boolean;
  line: number;
  file: string;
}

export interface MessageConditionInput {
  index: number;
  name: string;
  condition: string;
  line: number;
  file: string;
}

/** A config error, pointing at the bad token of the row's field. */
export interface ManipulationError {
  file: string;
  line: number;
  /** 1-based column inside the field named by `field`. */
  column: number;
  /** Which field of the row: messageType, condition, actionSubject, actionType, actionValue, rowRole. */
  field: string;
  message: string;
}

export interface IpGroupInfo {
  name: string;
  id: number;
  /** 'Server' / 'User' (or the ini code as text). */
  type: string;
  host?: string;
  /** Contact user of the IP Group, when configured. */
  user?: string;
}

/** Per-message facts that rules read as `param.*`. */
export interface ManipulationContext {
  callSrcUser?: string;
  callDstUser?: string;
  callSrcHost?: string;
  callDstHost?: string;
  srcIpGroup?: IpGroupInfo;
  dstIpGroup?: IpGroupInfo;
  /** Where the message came from (IP address as text). */
  messageSrcAddress?: string;
  messageSrcPort?: number;
  sdpIp?: string;
  sdpRtpMode?: string;
  /** Collect a per-rule trace in the ApplyResult (debugging, not for the hot path). */
  trace?: boolean;
}

export interface ApplyResult {
  /** Rules whose message type and condition matched and whose action changed or was applied to the message. */
  rulesApplied: number;
  /** Rules that threw and were skipped (a bug, logged). */
  ruleErrors: number;
  trace?: string[];
}

export interface ManipulationSets {
  apply(manSetId: number, msg: SipMessage, ctx: ManipulationContext): ApplyResult;
  has(manSetId: number): boolean;
  /** Set ids that have at least one row. */
  ids(): number[];
}

export interface CompiledConditions {
  evaluate(name: string, msg: SipMessage, ctx: ManipulationContext): boolean;
  has(name: string): boolean;
}

/** pino-compatible subset, so the caller can pass its logger. */
export interface ManipulationLogger {
  warn(obj: object, msg: string): void;
}

export interface CompileOptions {
  logger?: ManipulationLogger;
}
