import { z } from 'zod';

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
const PRICE = /^\d{1,8}(\.\d{1,2})?$/;
const QUANTITY = /^[1-9]\d{0,4}$/;
/** ISO-8601 date-time with an explicit offset (Z or ±hh:mm / ±hhmm / ±hh). */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|z|[+-]\d{2}(:?\d{2})?)$/;

/** Length in characters (code points), as PostgreSQL counts; cheap for the common short ASCII case. */
function charLength(s: string): number {
  if (s.length < 64) return s.length;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * True when the timestamp's calendar fields are real (no Feb 30, no hour 24) and in a range
 * PostgreSQL accepts, so a row we accept can never make the database reject the whole batch.
 */
function isRealTimestamp(s: string): boolean {
  return !Number.isNaN(realTimestampMs(s));
}

/** The instant of a timestamp that passes {@link isRealTimestamp}, in epoch milliseconds; else NaN. */
function realTimestampMs(s: string): number {
  const fast = isoUtcMs(s);
  if (fast !== undefined) return fast;
  const m = TIMESTAMP.exec(s);
  if (!m) return Number.NaN;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return Number.NaN;
  if (!isRealOffset(m[8] ?? 'Z')) return Number.NaN;
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCDate() !== d) return Number.NaN;
  return Date.parse(s.replace(' ', 'T'));
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Value of the decimal digits s[from, to), or -1 when one is not a digit. */
function digits(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The common shape, `YYYY-MM-DDTHH:MM:SS.sssZ` (what `toISOString` writes), read without regex or
 * Date.parse: same verdict and instant as the general path, at a fraction of its cost. Returns
 * `undefined` for any other shape (then the general path decides).
 */
function isoUtcMs(s: string): number | undefined {
  if (
    s.length !== 24 ||
    s.charCodeAt(23) !== 90 || // Z
    s.charCodeAt(4) !== 45 ||
    s.charCodeAt(7) !== 45 ||
    s.charCodeAt(10) !== 84 || // T
    s.charCodeAt(13) !== 58 ||
    s.charCodeAt(16) !== 58 ||
    s.charCodeAt(19) !== 46
  )
    return undefined;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 7);
  const d = digits(s, 8, 10);
  const h = digits(s, 11, 13);
  const mi = digits(s, 14, 16);
  const sec = digits(s, 17, 19);
  const ms = digits(s, 20, 23);
  // Years before 1970 keep the general path (Date.UTC reads 0–99 as 19xx).
  if (y < 1970 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0 || ms < 0) return undefined;
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return Number.NaN;
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > (DAYS_IN_MONTH[mo - 1] as number) + (leap ? 1 : 0)) return Number.NaN;
  return Date.UTC(y, mo - 1, d, h, mi, sec, ms);
}

/** True for a UUID in 8-4-4-4-12 hex form, as {@link UUID} (without the regex engine). */
function isUuid(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

/**
 * Real zones span −12:00 … +14:00. JavaScript accepts any offset up to ±23:59, PostgreSQL none beyond
 * ±15:59: without this check one row with `+20:00` failed the COPY of its whole object, which was then
 * retried into the DLQ with all its valid rows.
 */
function isRealOffset(offset: string): boolean {
  if (offset === 'Z' || offset === 'z') return true;
  const hours = Number(offset.slice(1, 3));
  const minutes = Number(offset.slice(3).replace(':', '') || '0');
  return minutes <= 59 && hours * 60 + minutes <= 14 * 60;
}

/**
 * A `±hh` offset is ISO-8601 and PostgreSQL reads it, but JavaScript's Date.parse refuses it, which
 * rejected such rows as invalid: complete it to `±hh:00` (the same instant).
 */
function completeOffset(s: string): string {
  return /[+-]\d{2}$/.test(s) && TIMESTAMP.test(s) ? `${s}:00` : s;
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

/** A row validator: fields in file order plus the header's column order (see {@link createValidator}). */
export type Validator = (fields: readonly string[], order?: readonly number[]) => Validation;

/**
 * The reference validator: {@link eventRowSchema} through zod. Same contract as {@link createValidator};
 * kept as the executable definition the fast validator is tested against (tests/unit/validator.test.ts).
 */
export function createSchemaValidator(now: () => number = Date.now): Validator {
  const schema = eventRowSchema(now);
  return (fields, order = IDENTITY_ORDER) => {
    if (fields.length !== EVENT_COLUMNS.length) return { ok: false, reason: 'wrong_column_count' };
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

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const DEVICE_TYPE_SET: ReadonlySet<string> = new Set(DEVICE_TYPES);
/** Text columns (indexes into {@link EVENT_COLUMNS}) and their maximum length in characters. */
const TEXT_LIMITS: readonly (readonly [number, number])[] = [
  [2, 64],
  [3, 64],
  [4, 64],
  [5, 255],
  [6, 100],
];

/**
 * A row validator bound to a clock. Takes the fields in file order plus the header's column order
 * (`order[i]` = index in the file of {@link EVENT_COLUMNS}[i]), so files with reordered columns work.
 *
 * It applies exactly the rules of {@link eventRowSchema}, in the same order, by hand: zod cost
 * ~7 µs per row, most of the ingest function's CPU on the hot path (measured with --cpu-prof), and
 * every microsecond spent here is taken from PostgreSQL on a small machine. The schema stays the
 * single declaration of the rules; a differential test holds the two to the same verdict and reason.
 */
export function createValidator(now: () => number = Date.now): Validator {
  return (fields, order = IDENTITY_ORDER) => {
    if (fields.length !== EVENT_COLUMNS.length) return { ok: false, reason: 'wrong_column_count' };
    const at = (i: number) => fields[order[i] ?? i] ?? '';
    for (let i = 0; i < EVENT_COLUMNS.length; i++)
      if (at(i).includes('\u0000')) return { ok: false, reason: 'invalid_character' };

    const eventId = at(0);
    if (eventId === '') return { ok: false, reason: 'missing_event_id' };
    if (!isUuid(eventId)) return { ok: false, reason: 'invalid_event_id' };
    const eventType = at(1);
    if (eventType === '') return { ok: false, reason: 'missing_event_type' };
    const type = eventType.toLowerCase();
    if (!EVENT_TYPE_SET.has(type)) return { ok: false, reason: 'unknown_event_type' };
    for (const [i, max] of TEXT_LIMITS) {
      const value = at(i);
      if (value === '') return { ok: false, reason: `missing_${EVENT_COLUMNS[i] as EventColumn}` };
      if (charLength(value) > max) return { ok: false, reason: 'field_too_long' };
    }
    const price = at(7);
    if (price === '') return { ok: false, reason: 'missing_product_price' };
    if (!PRICE.test(price)) return { ok: false, reason: 'invalid_price' };
    const quantityText = at(8);
    if (quantityText === '') return { ok: false, reason: 'missing_quantity' };
    if (!QUANTITY.test(quantityText)) return { ok: false, reason: 'invalid_quantity' };
    const quantity = Number(quantityText);
    if (quantity > 10_000) return { ok: false, reason: 'invalid_quantity' };
    const deviceType = at(9);
    if (deviceType === '') return { ok: false, reason: 'missing_device_type' };
    const device = deviceType.toLowerCase();
    if (!DEVICE_TYPE_SET.has(device)) return { ok: false, reason: 'unknown_device_type' };
    const timestampText = at(10);
    if (timestampText === '') return { ok: false, reason: 'missing_event_timestamp' };
    const timestamp = completeOffset(timestampText);
    const timeMs = realTimestampMs(timestamp);
    if (Number.isNaN(timeMs)) return { ok: false, reason: 'invalid_timestamp' };
    if (timeMs > now() + MAX_FUTURE_SKEW_MS) return { ok: false, reason: 'timestamp_in_future' };
    return {
      ok: true,
      timeMs,
      event: {
        event_id: eventId.toLowerCase(),
        event_type: type as EcommerceEvent['event_type'],
        user_id: at(2),
        session_id: at(3),
        product_id: at(4),
        product_name: at(5),
        product_category: at(6),
        product_price: price,
        quantity,
        device_type: device as EcommerceEvent['device_type'],
        event_timestamp: timestamp,
      },
    };
  };
}

const IDENTITY_ORDER: readonly number[] = EVENT_COLUMNS.map((_, i) => i);

/**
 * Map a header row to a column order. Names are matched case-insensitively after trimming; the file
 * may order the columns as it likes but must have exactly the expected set. Returns `undefined`
 * when it does not (the whole object is then rejected with `header_mismatch`).
 */
export function headerOrder(header: readonly string[]): number[] | undefined {
  if (header.length !== EVENT_COLUMNS.length) return undefined;
  const index = new Map(header.map((h, i) => [h.trim().toLowerCase(), i]));
  if (index.size !== header.length) return undefined;
  const order: number[] = [];
  for (const column of EVENT_COLUMNS) {
    const i = index.get(column);
    if (i === undefined) return undefined;
    order.push(i);
  }
  return order;
}

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
