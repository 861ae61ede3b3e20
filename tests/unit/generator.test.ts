import { describe, expect, it } from 'vitest';
import { CSV_HEADER, createGenerator, objectKey } from '../../functions/generator/generate.ts';
import { EVENT_TYPES } from '../../functions/shared/event.ts';
import { createValidator } from '../../functions/shared/validator.ts';
import { readRecords } from '../helpers/csv.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');

function rows(csv: string): string[][] {
  return readRecords(csv).map((r) => r.fields ?? []);
}

describe('generator', () => {
  it('is reproducible for a seed', () => {
    const a = createGenerator({ seed: 42, clock: () => NOW, badRate: 0.05, duplicateRate: 0.05 });
    const b = createGenerator({ seed: 42, clock: () => NOW, badRate: 0.05, duplicateRate: 0.05 });
    expect(a.batch(500).csv).toBe(b.batch(500).csv);
    expect(createGenerator({ seed: 43, clock: () => NOW }).batch(10).csv).not.toBe(a.batch(10).csv);
  });

  it('writes valid events with a funnel-shaped mix when no faults are asked for', () => {
    const batch = createGenerator({ seed: 1, clock: () => NOW }).batch(5000);
    const [header, ...data] = rows(batch.csv);
    expect(header?.join(',')).toBe(CSV_HEADER);
    const validate = createValidator(() => NOW);
    const counts = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<string, number>;
    for (const r of data) {
      const v = validate(r);
      expect(v).toMatchObject({ ok: true });
      if (v.ok) counts[v.event.event_type] = (counts[v.event.event_type] ?? 0) + 1;
    }
    expect(new Set(batch.validIds).size).toBe(5000);
    const { view = 0, add_to_cart = 0, purchase = 0 } = counts;
    expect(view).toBeGreaterThan(3 * add_to_cart);
    expect(add_to_cart).toBeGreaterThan(purchase);
    expect(purchase).toBeGreaterThan(0);
  });

  it('injects bad rows whose reasons the validator agrees with, and duplicates across batches', () => {
    const gen = createGenerator({ seed: 9, clock: () => NOW, badRate: 0.1, duplicateRate: 0.1 });
    const first = gen.batch(1000);
    const second = gen.batch(1000);
    const validate = createValidator(() => NOW);
    const lines = rows(second.csv);
    for (const bad of second.badRows) {
      const v = validate(lines[bad.line - 1] ?? []);
      expect(v).toEqual({ ok: false, reason: bad.reason });
    }
    expect(second.bad).toBeGreaterThan(50);
    expect(second.duplicates).toBeGreaterThan(50);
    const ids = new Set(first.validIds);
    const repeatedFromFirst = lines.slice(1).filter((r) => ids.has(r[0] ?? '')).length;
    expect(repeatedFromFirst).toBeGreaterThan(0);
    // Every row is accounted for: valid first occurrences + bad + duplicates.
    expect(second.validIds.length + second.bad + second.duplicates).toBe(1000);
  });

  it('gives events UUIDv7 ids that start with their event time', () => {
    const [, ...data] = rows(createGenerator({ seed: 7, clock: () => NOW }).batch(2000).csv);
    for (const r of data) {
      const id = r[0] as string;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      expect(ms).toBe(Date.parse(r[10] as string));
    }
  });

  it('puts objects under a date-partitioned key', () => {
    expect(objectKey('events/', new Date('2026-11-21T08:05:09.123Z'), 'abcd1234')).toBe(
      'events/2026/11/21/08/20261121T080509123Z-abcd1234.csv',
    );
  });
});
