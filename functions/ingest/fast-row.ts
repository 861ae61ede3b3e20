import { EVENT_COLUMNS } from '../shared/event.ts';

/**
 * The common row, accepted in place: a line without quotes, its columns in the declared order,
 * every value already in the form the table stores (lowercase ids and enums, `…Z` timestamps).
 *
 * It reads the line's UTF-8 bytes where they lie, with no string, no field array and no copy
 * (text columns are measured in bytes: no more bytes than the limit means no more characters
 * either; a longer one is left to the general path, which counts characters), and answers
 * only "valid, and its COPY text is the line itself" (returning the event time) or "not sure"
 * (returning NaN): then the general validator decides, with the same rules and reasons as the zod
 * schema. So this function can never reject a row, and a test holds it to never accepting one the
 * general path would reject or store differently.
 */

/** Epoch ms of the event for a row accepted as is, else NaN. `clean`: the bytes hold no NUL and no CR. */
export function acceptInPlace(
  t: Uint8Array,
  a: number,
  b: number,
  maxTimeMs: number,
  clean: boolean,
): number {
  // event_id: 36 chars of lowercase hex and dashes, then a comma.
  const c0 = a + 36;
  if (c0 >= b || t[c0] !== 44 || !isLowerUuid(t, a)) return Number.NaN;
  // event_type
  const c1 = t.indexOf(44, c0 + 1);
  if (c1 === -1 || c1 >= b || !isEventType(t, c0 + 1, c1)) return Number.NaN;
  // user_id, session_id, product_id, product_name, product_category: present, not too long.
  let from = c1 + 1;
  for (let i = 0; i < TEXT_MAX.length; i++) {
    const c = t.indexOf(44, from);
    const n = c - from;
    if (c === -1 || c >= b || n === 0 || n > (TEXT_MAX[i] as number)) return Number.NaN;
    // A lone "\." is quoted in COPY text; leave it to the general path.
    if (n === 2 && t[from] === 92 && t[from + 1] === 46) return Number.NaN;
    if (!clean && hasCrOrNul(t, from, c)) return Number.NaN;
    from = c + 1;
  }
  // product_price: 1–8 digits, optionally '.' and 1–2 digits.
  const c7 = t.indexOf(44, from);
  if (c7 === -1 || c7 >= b || !isPrice(t, from, c7)) return Number.NaN;
  // quantity: 1–10000 without leading zeros.
  const c8 = t.indexOf(44, c7 + 1);
  if (c8 === -1 || c8 >= b || !isQuantity(t, c7 + 1, c8)) return Number.NaN;
  // device_type
  const c9 = t.indexOf(44, c8 + 1);
  if (c9 === -1 || c9 >= b || !isDevice(t, c8 + 1, c9)) return Number.NaN;
  // event_timestamp: exactly YYYY-MM-DDTHH:MM:SS.sssZ up to the end of the line.
  if (b - (c9 + 1) !== 24) return Number.NaN;
  const ms = isoUtcMsAt(t, c9 + 1);
  return ms <= maxTimeMs ? ms : Number.NaN;
}

/** Maximum lengths of the five text columns, in file order (counted here in bytes: never fewer than characters). */
const TEXT_MAX = [64, 64, 64, 255, 100];
if (EVENT_COLUMNS.length !== 11) throw new Error('acceptInPlace assumes the 11 declared columns');

function isLowerUuid(t: Uint8Array, a: number): boolean {
  for (let i = 0; i < 36; i++) {
    const c = t[a + i] as number;
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** The byte values of a few ASCII words, to compare in place. */
const word = (w: string) => Uint8Array.from(w, (c) => c.charCodeAt(0));
const EVENT_TYPES = ['view', 'purchase', 'wishlist', 'add_to_cart', 'remove_from_cart'].map(word);
const DEVICES = ['mobile', 'tablet', 'desktop'].map(word);

/** True when t[a, b) is exactly one of `words`. */
function isOneOf(t: Uint8Array, a: number, b: number, words: readonly Uint8Array[]): boolean {
  const n = b - a;
  next: for (const w of words) {
    if (w.length !== n) continue;
    for (let i = 0; i < n; i++) if (t[a + i] !== w[i]) continue next;
    return true;
  }
  return false;
}

function isEventType(t: Uint8Array, a: number, b: number): boolean {
  return isOneOf(t, a, b, EVENT_TYPES);
}

function isDevice(t: Uint8Array, a: number, b: number): boolean {
  return isOneOf(t, a, b, DEVICES);
}

function isDigit(c: number | undefined): boolean {
  if (c === undefined) return false;
  return c >= 48 && c <= 57;
}

function isPrice(t: Uint8Array, a: number, b: number): boolean {
  let i = a;
  while (i < b && isDigit(t[i])) i++;
  const int = i - a;
  if (int < 1 || int > 8) return false;
  if (i === b) return true;
  if (t[i] !== 46) return false;
  const dec = b - i - 1;
  if (dec < 1 || dec > 2) return false;
  for (let j = i + 1; j < b; j++) if (!isDigit(t[j])) return false;
  return true;
}

function isQuantity(t: Uint8Array, a: number, b: number): boolean {
  const n = b - a;
  if (n < 1 || n > 5) return false;
  const first = t[a] as number;
  if (first < 49 || first > 57) return false;
  let v = first - 48;
  for (let i = a + 1; i < b; i++) {
    const c = t[i] as number;
    if (!isDigit(c)) return false;
    v = v * 10 + (c - 48);
  }
  return v <= 10_000;
}

function hasCrOrNul(t: Uint8Array, a: number, b: number): boolean {
  for (let i = a; i < b; i++) {
    const c = t[i];
    if (c === 13 || c === 0) return true;
  }
  return false;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(t: Uint8Array, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const d = (t[i] as number) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** `YYYY-MM-DDTHH:MM:SS.sssZ` at `a` (years ≥ 1970, real calendar fields) as epoch ms, else NaN. */
function isoUtcMsAt(t: Uint8Array, a: number): number {
  if (
    t[a + 4] !== 45 ||
    t[a + 7] !== 45 ||
    t[a + 10] !== 84 ||
    t[a + 13] !== 58 ||
    t[a + 16] !== 58 ||
    t[a + 19] !== 46 ||
    t[a + 23] !== 90
  )
    return Number.NaN;
  const y = digits(t, a, 4);
  const mo = digits(t, a + 5, 2);
  const d = digits(t, a + 8, 2);
  const h = digits(t, a + 11, 2);
  const mi = digits(t, a + 14, 2);
  const s = digits(t, a + 17, 2);
  const ms = digits(t, a + 20, 3);
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
    return Number.NaN;
  if (ms < 0) return Number.NaN;
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > (DAYS_IN_MONTH[mo - 1] as number) + (leap ? 1 : 0)) return Number.NaN;
  return Date.UTC(y, mo - 1, d, h, mi, s, ms);
}
