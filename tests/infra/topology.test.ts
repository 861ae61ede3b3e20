import { describe, expect, it } from 'vitest';
import { matchesNotificationFilter, topology } from '../../infra/topology.ts';

describe('notification filter', () => {
  it.each([
    ['events/2026/11/26/12/a.csv', true],
    ['events/2026/11/26/12/a.csv.gz', true],
    ['events/2026/11/26/12/a.csv.zst', true],
    ['events/2026/11/26/12/a.gz', false],
    ['events/2026/11/26/12/a.csv.bz2', false],
    ['events/2026/11/26/12/a.csv.gz.tmp', false],
    ['archive/events/2026/11/26/12/a.csv', false],
    ['other/a.csv.gz', false],
  ])('%s → %s', (key, expected) => {
    expect(matchesNotificationFilter(key)).toBe(expected);
  });

  it('has no two suffixes where one ends with the other (S3 rejects overlapping configurations)', () => {
    const { suffixes } = topology.notification;
    for (const a of suffixes) {
      for (const b of suffixes) {
        if (a !== b) expect(a.endsWith(b), `${a} ends with ${b}`).toBe(false);
      }
    }
  });
});
