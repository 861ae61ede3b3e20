import { z } from 'zod';
import { completeOffset, isRealTimestamp } from './timestamp.ts';

/**
 * The e-commerce event: CSV columns, validation rules and the TypeScript type, declared once.
 * The generator writes these columns, the ingest function validates them with {@link eventRowSchema},
 * and `sql/0001_init.sql` stores them in `user_events` with the same names.
 */
export const EVENT_COLUMNS = [
  'event_id',
  'event_type',
  'user_id',
  'session_id',
  'product_id',
  'product_name',
  'product_category',
  'product_price',
  'quantity',
  'device_type',
  'event_timestamp',
] as const;

/** One CSV column name. */
export type EventColumn = (typeof EVENT_COLUMNS)[number];

export const EVENT_TYPES = ['view', 'add_to_cart', 'remove_from_cart', 'purchase', 'wishlist'] as const;
export const DEVICE_TYPES = ['mobile', 'desktop', 'tablet'] as const;

/** How far in the future an event_timestamp may be (clock skew between producers and us). */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/** Why a row was rejected. The first rule a row breaks, in column order, gives its reason. */
export type RejectReason =
  | 'malformed_csv_line'
  | 'wrong_column_count'
  | 'invalid_character'
  | 'header_mismatch'
  | `missing_${EventColumn}`
  | 'invalid_event_id'
  | 'unknown_event_type'
  | 'invalid_price'
  | 'invalid_quantity'
  | 'unknown_device_type'
  | 'invalid_timestamp'
  | 'timestamp_in_future'
  | 'field_too_long';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** numeric(10,2): up to 8 integer digits, up to 2 decimals, no sign, no exponent. */
export const PRICE = /^\d{1,8}(\.\d{1,2})?$/;
export const QUANTITY = /^[1-9]\d{0,4}$/;

/** Length in characters (code points), as PostgreSQL counts; cheap for the common short ASCII case. */
export function charLength(s: string): number {
  if (s.length < 64) return s.length;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const required = (column: EventColumn) => z.string().min(1, { error: `missing_${column}` });
const text = (column: EventColumn, max: number) =>
  required(column).refine((s) => charLength(s) <= max, { error: 'field_too_long' });

/**
 * Schema of one CSV row (an object keyed by column name, all strings as read from the file).
 * `now` is the clock used for the future-skew rule; the ingest function passes its injected clock.
 * Every issue's message is its {@link RejectReason}; zod reports issues in column order, so the
 * first issue is the first rule the row breaks.
 */
export function eventRowSchema(now: () => number = Date.now) {
  return z.object({
    event_id: required('event_id')
      .regex(UUID, { error: 'invalid_event_id' })
      .transform((s) => s.toLowerCase()),
    event_type: required('event_type')
      .transform((s) => s.toLowerCase())
      .pipe(z.enum(EVENT_TYPES, { error: 'unknown_event_type' })),
    user_id: text('user_id', 64),
    session_id: text('session_id', 64),
    product_id: text('product_id', 64),
    product_name: text('product_name', 255),
    product_category: text('product_category', 100),
    // Kept as a decimal string: numeric(10,2) is exact, a JS number is not.
    product_price: required('product_price').regex(PRICE, { error: 'invalid_price' }),
    quantity: required('quantity')
      .regex(QUANTITY, { error: 'invalid_quantity' })
      .transform(Number)
      .refine((n) => n <= 10_000, { error: 'invalid_quantity' }),
    device_type: required('device_type')
      .transform((s) => s.toLowerCase())
      .pipe(z.enum(DEVICE_TYPES, { error: 'unknown_device_type' })),
    event_timestamp: required('event_timestamp')
      .transform(completeOffset)
      .refine(isRealTimestamp, { error: 'invalid_timestamp', abort: true })
      .refine((s) => Date.parse(s.replace(' ', 'T')) <= now() + MAX_FUTURE_SKEW_MS, {
        error: 'timestamp_in_future',
      }),
  });
}

/** A validated event, as stored in `user_events`. */
export type EcommerceEvent = z.output<ReturnType<typeof eventRowSchema>>;

/** Outcome of validating one row; `timeMs` is the event_timestamp as epoch milliseconds. */
export type Validation =
  | { ok: true; event: EcommerceEvent; timeMs: number }
  | { ok: false; reason: RejectReason };

/**
 * A row validator: fields in file order, the header's column order (`order[i]` = index in the file
 * of {@link EVENT_COLUMNS}[i]) and how many fields a row of the file has (the header's width: a file
 * may carry extra columns). See `createValidator` in validator.ts.
 */
export type Validator = (fields: readonly string[], order?: readonly number[], width?: number) => Validation;

/**
 * The reference validator: {@link eventRowSchema} through zod. Same contract as `createValidator`;
 * kept as the executable definition the fast validator is tested against (tests/unit/validator.test.ts).
 */
export function createSchemaValidator(now: () => number = Date.now): Validator {
  const schema = eventRowSchema(now);
  return (fields, order = IDENTITY_ORDER, width = EVENT_COLUMNS.length) => {
    if (fields.length !== width) return { ok: false, reason: 'wrong_column_count' };
    const row: Record<string, string> = {};
    for (let i = 0; i < EVENT_COLUMNS.length; i++) {
      const value = fields[order[i] ?? i] ?? '';
      // PostgreSQL text cannot hold NUL; reject instead of failing the whole object at COPY time.
      if (value.includes('\u0000')) return { ok: false, reason: 'invalid_character' };
      row[EVENT_COLUMNS[i] as EventColumn] = value;
    }
    const result = schema.safeParse(row);
    if (result.success)
      return {
        ok: true,
        event: result.data,
        timeMs: Date.parse(result.data.event_timestamp.replace(' ', 'T')),
      };
    return { ok: false, reason: (result.error.issues[0]?.message ?? 'malformed_csv_line') as RejectReason };
  };
}

/** The declared column order: field i is column i. */
export const IDENTITY_ORDER: readonly number[] = EVENT_COLUMNS.map((_, i) => i);

/** The values of an event in {@link EVENT_COLUMNS} order, as text. */
export function eventValues(e: EcommerceEvent): string[] {
  return [
    e.event_id,
    e.event_type,
    e.user_id,
    e.session_id,
    e.product_id,
    e.product_name,
    e.product_category,
    e.product_price,
    String(e.quantity),
    e.device_type,
    e.event_timestamp,
  ];
}
