/**
 * SipMessage -> bytes. Header lines are written as `Name: value` in their
 * stored order with the name as it was received, so an unmodified
 * canonical message round-trips byte for byte. Content-Length always
 * states the real body length (mandatory on streams, §20.14).
 */
import type { SipMessage } from './message.js';

export function startLine(msg: SipMessage): string {
  return msg.isRequest ? `${msg.method} ${msg.requestUri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
}

export function serializeHead(msg: SipMessage): string {
  let out = startLine(msg) + '\r\n';
  const bodyLen = String(msg.body.length);
  let wroteLength = false;
  for (const h of msg.headers) {
    if (h.name === 'content-length') {
      if (wroteLength) continue;
      wroteLength = true;
      out += `${h.rawName}: ${h.value.trim() === bodyLen ? h.value : bodyLen}\r\n`;
      continue;
    }
    out += `${h.rawName}: ${h.value}\r\n`;
  }
  if (!wroteLength) out += `Content-Length: ${bodyLen}\r\n`;
  return out + '\r\n';
}

export function serializeMessage(msg: SipMessage): Buffer {
  const head = serializeHead(msg);
  if (msg.body.length === 0) return Buffer.from(head, 'utf8');
  const headLen = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLen + msg.body.length);
  out.write(head, 0, 'utf8');
  msg.body.copy(out, headLen);
  return out;
}
