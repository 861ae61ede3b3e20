import { describe, expect, it } from 'vitest';
import { readHeader } from '../../functions/ingest/header.ts';
import { EVENT_COLUMNS, MAX_FUTURE_SKEW_MS } from '../../functions/shared/event.ts';
import { createValidator } from '../../functions/shared/validator.ts';
import { fields, row } from '../helpers/factories.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const validate = createValidator(() => NOW);
const reasonFor = (overrides: Parameters<typeof row>[0]) => {
  const v = validate(fields(row(overrides)));
  return v.ok ? 'ok' : v.reason;
};

describe('event schema', () => {
  it('accepts a valid row and normalizes case', () => {
    const v = validate(
      fields(
        row({
          event_type: 'PURCHASE',
          device_type: 'Tablet',
          event_id: 'A1B2C3D4-0000-4000-8000-00000000000F',
        }),
      ),
    );
    expect(v).toMatchObject({
      ok: true,
      event: {
        event_type: 'purchase',
        device_type: 'tablet',
        event_id: 'a1b2c3d4-0000-4000-8000-00000000000f',
        quantity: 1,
      },
    });
  });

  it.each([
    [{ event_id: '' }, 'missing_event_id'],
    [{ event_id: 'not-a-uuid' }, 'invalid_event_id'],
    [{ event_type: 'teleport' }, 'unknown_event_type'],
    [{ user_id: '' }, 'missing_user_id'],
    [{ user_id: 'u'.repeat(65) }, 'field_too_long'],
    [{ product_name: 'é'.repeat(255) }, 'ok'],
    [{ product_name: '😀'.repeat(200) }, 'ok'],
    [{ product_name: 'n'.repeat(256) }, 'field_too_long'],
    [{ product_category: 'c'.repeat(101) }, 'field_too_long'],
    [{ product_price: '-1.00' }, 'invalid_price'],
    [{ product_price: '1.999' }, 'invalid_price'],
    [{ product_price: '100000000.00' }, 'invalid_price'],
    [{ product_price: '99999999.99' }, 'ok'],
    [{ product_price: '1e3' }, 'invalid_price'],
    [{ quantity: '0' }, 'invalid_quantity'],
    [{ quantity: '10001' }, 'invalid_quantity'],
    [{ quantity: '10000' }, 'ok'],
    [{ quantity: '1.5' }, 'invalid_quantity'],
    [{ device_type: 'smartwatch' }, 'unknown_device_type'],
    [{ event_timestamp: '2026-11-20 10:00:00' }, 'invalid_timestamp'],
    [{ event_timestamp: '2026-02-30T10:00:00Z' }, 'invalid_timestamp'],
    [{ event_timestamp: '2026-11-20T24:00:00Z' }, 'invalid_timestamp'],
    [{ event_timestamp: '2026-11-20T10:00:00+05:30' }, 'ok'],
    [{ event_timestamp: '2030-01-01T00:00:00Z' }, 'timestamp_in_future'],
    [{ event_timestamp: new Date(NOW + MAX_FUTURE_SKEW_MS - 1000).toISOString() }, 'ok'],
    [{ user_id: 'a\u0000b' }, 'invalid_character'],
  ])('%j → %s', (overrides, expected) => {
    expect(reasonFor(overrides)).toBe(expected);
  });

  it('gives the first broken rule in column order', () => {
    expect(reasonFor({ event_type: 'nope', quantity: '0', device_type: 'toaster' })).toBe(
      'unknown_event_type',
    );
  });

  it('rejects rows with the wrong number of columns', () => {
    expect(validate(fields(row()).slice(0, 10))).toEqual({ ok: false, reason: 'wrong_column_count' });
    expect(validate([...fields(row()), 'extra'])).toEqual({ ok: false, reason: 'wrong_column_count' });
  });

  it('maps reordered headers by name and refuses headers missing a column or naming one twice', () => {
    const header = (names: string[]) => readHeader(names.join(','), names);
    const reversed = [...EVENT_COLUMNS].reverse();
    const verdict = header(reversed.map((c) => ` ${c.toUpperCase()} `));
    if (!verdict.ok) throw new Error(verdict.problem);
    expect(verdict.columns.declared).toBe(false);
    const r = row();
    const v = validate(
      reversed.map((c) => r[c] ?? ''),
      verdict.columns.order,
    );
    expect(v.ok).toBe(true);
    expect(header([...EVENT_COLUMNS])).toMatchObject({ ok: true, columns: { declared: true, extras: [] } });
    expect(header(EVENT_COLUMNS.slice(0, 10))).toMatchObject({
      ok: false,
      problem: /missing column event_timestamp/,
    });
    expect(header([...EVENT_COLUMNS.slice(0, 10), 'event_id'])).toMatchObject({
      ok: false,
      problem: /missing column event_timestamp/,
    });
    expect(header([...EVENT_COLUMNS, 'Event_ID'])).toMatchObject({
      ok: false,
      problem: /named twice: Event_ID/,
    });
  });

  it('keeps columns the event does not have as extras, wherever they are', () => {
    const names = ['coupon', ...EVENT_COLUMNS.slice(0, 5), ' Referrer ', ...EVENT_COLUMNS.slice(5)];
    const verdict = readHeader(names.join(','), names);
    if (!verdict.ok) throw new Error(verdict.problem);
    expect(verdict.columns).toMatchObject({
      width: 13,
      declared: false,
      extras: [
        { index: 0, name: 'coupon' },
        { index: 6, name: 'Referrer' },
      ],
    });
    const r = row();
    const inFile = [
      'SPRING',
      ...EVENT_COLUMNS.slice(0, 5).map((c) => r[c] ?? ''),
      'ads',
      ...EVENT_COLUMNS.slice(5).map((c) => r[c] ?? ''),
    ];
    expect(validate(inFile, verdict.columns.order, verdict.columns.width).ok).toBe(true);
    expect(validate(inFile.slice(1), verdict.columns.order, verdict.columns.width)).toEqual({
      ok: false,
      reason: 'wrong_column_count',
    });
  });
});
