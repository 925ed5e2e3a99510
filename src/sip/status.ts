/** Status codes the SBC itself sends (RFC 3261 §21 and the extensions that define the others). */
export const SipStatus = {
  TRYING: 100,
  OK: 200,
  ACCEPTED: 202, // RFC 3515
  BAD_REQUEST: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  BAD_EXTENSION: 420,
  SESSION_INTERVAL_TOO_SMALL: 422, // RFC 4028
  CALL_DOES_NOT_EXIST: 481,
  LOOP_DETECTED: 482,
  TOO_MANY_HOPS: 483,
  REQUEST_TERMINATED: 487,
  NOT_ACCEPTABLE_HERE: 488,
  REQUEST_PENDING: 491, // RFC 3261 §14.1 glare
  SERVER_INTERNAL_ERROR: 500,
  BAD_GATEWAY: 502,
  SERVICE_UNAVAILABLE: 503,
} as const;

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}
