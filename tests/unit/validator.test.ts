import { describe, expect, it } from 'vitest';
import { createGenerator, prng } from '../../functions/generator/generate.ts';
import { quote } from '../../functions/ingest/chunk.ts';
import { acceptInPlace } from '../../functions/ingest/fast-row.ts';
import {
  createSchemaValidator,
  EVENT_COLUMNS,
  eventValues,
  MAX_FUTURE_SKEW_MS,
} from '../../functions/shared/event.ts';
import { createValidator } from '../../functions/shared/validator.ts';

/**
 * Differential test: the hand-written validator on the ingest hot path must give exactly the verdict,
 * the reason (first broken rule in column order) and the normalized event that the zod schema
 * (`eventRowSchema`, the single declaration of the rules) gives, on many generated rows.
 */

const NOW = Date.parse('2026-11-21T12:00:00Z');
const fast = createValidator(() => NOW);
const reference = createSchemaValidator(() => NOW);

const iso = (ms: number) => new Date(ms).toISOString();
const GENERIC = ['', ' ', 'a', 'x'.repeat(64), 'x'.repeat(65), 'é'.repeat(100), 'é'.repeat(101)];
const GENERIC_MORE = [
  '😀'.repeat(64),
  '😀'.repeat(65),
  'n'.repeat(255),
  'n'.repeat(256),
  'a\u0000b',
  '\u0000',
];
const POOLS: Record<(typeof EVENT_COLUMNS)[number], string[]> = {
  event_id: [
    'a1b2c3d4-0000-4000-8000-00000000000f',
    'A1B2C3D4-0000-4000-8000-00000000000F',
    '{a1b2c3d4-0000-4000-8000-00000000000f}',
    'a1b2c3d4-0000-4000-8000-00000000000',
    'g1b2c3d4-0000-4000-8000-00000000000f',
    'a1b2c3d4-0000-4000-8000-00000000000f\n',
    'a1b2c3d400004000800000000000000f',
    'not-a-uuid',
  ],
  event_type: [
    'view',
    'VIEW',
    'Purchase',
    ' view',
    'view ',
    'teleport',
    'add_to_cart',
    'wishlist',
    'İ',
    'remove_from_cart',
  ],
  user_id: ['U000001'],
  session_id: ['S-1'],
  product_id: ['P000001'],
  product_name: ['Chair, "Ergonomic"', 'line\nbreak'],
  product_category: ['c'.repeat(100), 'c'.repeat(101), 'Home & Kitchen'],
  product_price: [
    '0',
    '0.00',
    '1.5',
    '1.999',
    '-1',
    '+1',
    '1e3',
    '99999999.99',
    '100000000',
    '.5',
    '5.',
    ' 5',
    '0012.30',
    '１２',
    '12,5',
  ],
  quantity: ['0', '1', '01', '10000', '10001', '99999', '100000', '1.0', '-1', ' 1', '１', '3'],
  device_type: ['mobile', 'MOBILE', 'Tablet', 'desktop', 'desktop\n', 'smartwatch', 'mobİle'],
  event_timestamp: [
    '2026-11-20T10:00:00Z',
    '2026-11-20T10:00:00z',
    '2026-11-20 10:00:00Z',
    '2026-11-20T10:00:00',
    '2026-11-20T10:00:00+05:30',
    '2026-11-20T10:00:00+0530',
    '2026-11-20T10:00:00+05',
    '2026-11-20T10:00:00-12:00',
    '2026-11-20T10:00:00+14:00',
    '2026-11-20T10:00:00+14:01',
    '2026-11-20T10:00:00+15:00',
    '2026-11-20T10:00:00+20:00',
    '2026-11-20T10:00:00+05:60',
    '2024-02-29T10:00:00Z',
    '2026-02-29T10:00:00Z',
    '2026-11-20T24:00:00Z',
    '2026-11-20T23:59:60Z',
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59Z',
    '2026-11-20T10:00:00.123456789Z',
    '2026-11-20T10:00:00.1234567890Z',
    '2026-11-20T10:00:00.Z',
    'yesterday',
    iso(NOW + MAX_FUTURE_SKEW_MS),
    iso(NOW + MAX_FUTURE_SKEW_MS + 1),
    iso(NOW + 3600_000),
    '2026-02-29T10:00:00.000Z',
    '2024-02-29T10:00:00.000Z',
    '2100-02-29T00:00:00.000Z',
    '2000-02-29T00:00:00.000Z',
    '2026-04-31T10:00:00.000Z',
    '2026-04-30T10:00:00.000Z',
    '2026-11-20T24:00:00.000Z',
    '2026-11-20T23:60:00.000Z',
    '2026-11-20T10:00:60.000Z',
    '2026-13-01T00:00:00.000Z',
    '2026-00-10T00:00:00.000Z',
    '2026-11-00T00:00:00.000Z',
    '2026-1a-20T10:00:00.000Z',
    '2026-11-20T10:00:00.00aZ',
    '1969-12-31T23:59:59.999Z',
    '0099-06-01T00:00:00.000Z',
    '2026-11-20T10:00:00.000z',
    '2026-11-20 10:00:00.000Z',
    '2026-11-21T12:04:00+00',
    '2026-11-21T13:06:00+01',
  ],
};

/** Rows from the generator, with 0–3 fields replaced by values from the pools. */
function mutatedRows(seed: number, count: number): string[][] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const gen = createGenerator({ seed, badRate: 0.2, duplicateRate: 0, clock: () => NOW });
  const base = gen
    .batch(3000)
    .csv.trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(','))
    .filter((f) => f.length === EVENT_COLUMNS.length);
  return Array.from({ length: count }, () => {
    const row = [...pick(base)];
    for (let k = Math.floor(rand() * 4); k > 0; k--) {
      const i = Math.floor(rand() * EVENT_COLUMNS.length);
      const r = rand();
      const column = EVENT_COLUMNS[i] as (typeof EVENT_COLUMNS)[number];
      row[i] = r < 0.6 ? pick(POOLS[column]) : r < 0.85 ? pick(GENERIC) : pick(GENERIC_MORE);
    }
    return row;
  });
}

describe('in-place check of a plain line vs the validator', () => {
  it('accepts only rows the validator accepts, with the same time, and whose COPY text is the line', () => {
    let accepted = 0;
    let valid = 0;
    for (const row of mutatedRows(20261126, 30_000)) {
      const line = row.join(',');
      if (line.includes('"') || line.includes('\n')) continue; // not a plain line: never reaches it
      const want = fast(line.split(','));
      const clean = !line.includes('\r') && !line.includes('\u0000');
      const bytes = Buffer.from(`x${line}y`);
      const ms = acceptInPlace(bytes, 1, bytes.length - 1, NOW + MAX_FUTURE_SKEW_MS, clean);
      if (want.ok) valid++;
      if (Number.isNaN(ms)) continue;
      accepted++;
      expect(want.ok, line).toBe(true);
      if (!want.ok) continue;
      expect(ms).toBe(want.timeMs);
      expect(eventValues(want.event).map(quote).join(','), line).toBe(line);
    }
    // It takes the common row (a check that never accepts would pass the rest).
    expect(valid).toBeGreaterThan(5000);
    expect(accepted).toBeGreaterThan(valid * 0.3);
  });
});

describe('fast validator vs the zod schema', () => {
  it('agrees on generated good rows and rows broken in one or more places, in any column order', () => {
    const rand = prng(20261121);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const gen = createGenerator({ seed: 11, badRate: 0.2, duplicateRate: 0, clock: () => NOW });
    const base = gen
      .batch(3000)
      .csv.trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(','))
      .filter((f) => f.length === EVENT_COLUMNS.length);
    const identity = EVENT_COLUMNS.map((_, i) => i);
    let compared = 0;
    let accepted = 0;
    const reasons = new Set<string>();
    for (let n = 0; n < 30_000; n++) {
      const logical = [...pick(base)];
      const broken = Math.floor(rand() * 4); // 0..3 fields replaced
      for (let k = 0; k < broken; k++) {
        const i = Math.floor(rand() * EVENT_COLUMNS.length);
        const column = EVENT_COLUMNS[i] as (typeof EVENT_COLUMNS)[number];
        const r = rand();
        logical[i] = r < 0.6 ? pick(POOLS[column]) : r < 0.85 ? pick(GENERIC) : pick(GENERIC_MORE);
      }
      // Sometimes a file with its columns in another order (the header decides).
      const order = rand() < 0.2 ? [...identity].sort(() => rand() - 0.5) : identity;
      const inFile: string[] = new Array(EVENT_COLUMNS.length);
      order.forEach((fileIndex, i) => {
        inFile[fileIndex] = logical[i] as string;
      });
      // Sometimes a column too many or too few.
      const r = rand();
      const row = r < 0.02 ? inFile.slice(0, 10) : r < 0.04 ? [...inFile, 'extra'] : inFile;
      const want = reference(row, order);
      expect(fast(row, order), JSON.stringify({ row, order })).toEqual(want);
      compared++;
      if (want.ok) accepted++;
      else reasons.add(want.reason);
    }
    expect(compared).toBe(30_000);
    // The corpus exercises both verdicts and most reasons (a test that cannot fail is a defect).
    expect(accepted).toBeGreaterThan(3000);
    expect(compared - accepted).toBeGreaterThan(3000);
    expect([...reasons].sort()).toEqual(
      expect.arrayContaining([
        'field_too_long',
        'invalid_character',
        'invalid_event_id',
        'invalid_price',
        'invalid_quantity',
        'invalid_timestamp',
        'missing_event_id',
        'missing_event_timestamp',
        'missing_user_id',
        'timestamp_in_future',
        'unknown_device_type',
        'unknown_event_type',
        'wrong_column_count',
      ]),
    );
  });
});
