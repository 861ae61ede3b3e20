/**
 * Timestamps as the event rules read them: ISO-8601 with an explicit offset, real calendar fields,
 * and offsets PostgreSQL accepts, so a row we accept can never make the database refuse its chunk.
 */

/** ISO-8601 date-time with an explicit offset (Z or ±hh:mm / ±hhmm / ±hh). */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|z|[+-]\d{2}(:?\d{2})?)$/;

/**
 * True when the timestamp's calendar fields are real (no Feb 30, no hour 24) and in a range
 * PostgreSQL accepts, so a row we accept can never make the database reject the whole batch.
 */
export function isRealTimestamp(s: string): boolean {
  return !Number.isNaN(realTimestampMs(s));
}

/** The instant of a timestamp that passes {@link isRealTimestamp}, in epoch milliseconds; else NaN. */
export function realTimestampMs(s: string): number {
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
export function completeOffset(s: string): string {
  return /[+-]\d{2}$/.test(s) && TIMESTAMP.test(s) ? `${s}:00` : s;
}
