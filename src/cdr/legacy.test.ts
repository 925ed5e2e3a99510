import { describe, expect, it } from 'vitest';
import { categoryOfReason } from './legacy.js';

describe('termination category from the engine release reason', () => {
  it('maps the reasons src/b2bua gives', () => {
    const cases: Array<[string, number, boolean, string]> = [
      ['BYE', 200, true, 'normal'],
      ['no route', 404, false, 'rejected-by-route'],
      // A route row of DestType internal (reject) — this was 'failed' ("routing" does not contain "route").
      ['routing rejected with 403', 403, false, 'rejected-by-route'],
      ['destination call limit', 503, false, 'rejected-by-route'],
      ['leg B failed: 486', 486, false, 'busy'],
      ['leg B failed: 503', 503, false, 'failed'],
      ['cancelled by caller', 487, false, 'cancelled'],
      ['no answer', 408, false, 'no-answer'],
      ['media inactivity', 200, true, 'media-timeout'],
      // An SDP failure is not a media timeout.
      ['media: no common codec', 488, false, 'failed'],
      ['shutdown', 503, false, 'shutdown'],
      ['shutdown', 200, true, 'shutdown'],
    ];
    for (const [reason, status, connected, category] of cases) {
      expect({ reason, category: categoryOfReason(reason, status, connected) }).toEqual({ reason, category });
    }
  });
});
