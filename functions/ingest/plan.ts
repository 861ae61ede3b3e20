import { type Chunk, ID_BYTES } from './chunk.ts';

/** Conservative bytes per CSV row, to plan how many objects share a transaction. */
const MIN_BYTES_PER_ROW = 100;

/**
 * Objects that fit one chunk together, in order: `bytesLeft[k]` is what object `items[k]` has left
 * to read (Infinity when its size is unknown). An object too large, or of unknown size, goes alone.
 */
export function groupBySize(
  items: readonly number[],
  bytesLeft: readonly number[],
  chunkRows: number,
): number[][] {
  const groups: number[][] = [];
  let current: number[] = [];
  let rows = 0;
  items.forEach((item, k) => {
    const estimate = (bytesLeft[k] ?? Number.POSITIVE_INFINITY) / MIN_BYTES_PER_ROW;
    if (current.length > 0 && rows + estimate > chunkRows) {
      groups.push(current);
      current = [];
      rows = 0;
    }
    current.push(item);
    rows += estimate;
  });
  if (current.length > 0) groups.push(current);
  return groups;
}

const BUCKETS = 4096;
/** Value of a lowercase hex digit by byte (ids are checked before they get here). */
const HEX = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 16; i++) t['0123456789abcdef'.charCodeAt(i)] = i;
  return t;
})();

/**
 * The valid rows to write: the first occurrence of each event_id among the parts not excluded, as
 * row indexes in event_id order — the order PostgreSQL compares uuids in, since 36 fixed-width
 * lowercase hex digits compare alike as bytes.
 *
 * A bucket sort on the id's first three hex digits, then each bucket in order: random (v4) ids
 * leave a few rows per bucket, sorted by insertion comparing the ids' bytes where they lie in the
 * store; time-ordered (v7) ids share their leading digits, so a chunk's rows fill one or two buckets,
 * and a bucket of more than {@link SMALL_BUCKET} rows is sorted in O(n log n) on the id read as two
 * 52-bit numbers and its last three digits. No string per row; equal ids keep their row order, so of
 * equal ids the earliest row comes first and the others are dropped.
 */
export function firstOccurrences(chunk: Chunk, exclude: ReadonlySet<number>): Int32Array {
  const n = chunk.rowCount;
  const store = chunk.store;
  // Typed arrays, read with `as number`: every index below is in range by construction.
  const key = new Int32Array(n);
  const rows = new Int32Array(n);
  const starts = new Int32Array(BUCKETS + 1);
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (exclude.size > 0 && exclude.has(chunk.partOf(i))) continue;
    const s = chunk.startOf(i);
    const k =
      ((HEX[store[s] as number] as number) << 8) |
      ((HEX[store[s + 1] as number] as number) << 4) |
      (HEX[store[s + 2] as number] as number);
    rows[m] = i;
    key[m++] = k;
    starts[k + 1] = (starts[k + 1] as number) + 1;
  }
  for (let b = 0; b < BUCKETS; b++) starts[b + 1] = (starts[b + 1] as number) + (starts[b] as number);
  const next = starts.slice(0, BUCKETS);
  const order = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    const k = key[j] as number;
    order[next[k] as number] = rows[j] as number;
    next[k] = (next[k] as number) + 1;
  }
  /** <0, 0, >0 as the id of row a sorts before, with, after the id of row b. */
  const compare = (a: number, b: number) => {
    const sa = chunk.startOf(a);
    const sb = chunk.startOf(b);
    for (let k = 3; k < ID_BYTES; k++) {
      const d = (store[sa + k] as number) - (store[sb + k] as number);
      if (d !== 0) return d;
    }
    return 0;
  };
  const out = new Int32Array(m);
  let kept = 0;
  let keys: IdKeys | undefined;
  for (let b = 0; b < BUCKETS; b++) {
    const lo = starts[b] as number;
    const hi = starts[b + 1] as number;
    if (hi - lo > SMALL_BUCKET) {
      keys ??= new IdKeys(chunk);
      keys.sort(order.subarray(lo, hi));
    } else
      for (let i = lo + 1; i < hi; i++) {
        const x = order[i] as number;
        let j = i - 1;
        while (j >= lo && compare(order[j] as number, x) > 0) {
          order[j + 1] = order[j] as number;
          j--;
        }
        order[j + 1] = x;
      }
    for (let i = lo; i < hi; i++)
      if (i === lo || compare(order[i - 1] as number, order[i] as number) !== 0)
        out[kept++] = order[i] as number;
  }
  return out.subarray(0, kept);
}

/** Buckets up to this size are sorted by insertion; larger ones by {@link IdKeys.sort}. */
const SMALL_BUCKET = 32;

/**
 * The ids of a chunk's rows as numbers, for sorting a large bucket: hex digits 4–16 and 17–29 of
 * each id (dashes skipped) as two exact 52-bit integers, filled in for the rows of the buckets that
 * need them. The first three digits are the bucket's; the last three are compared as bytes.
 */
class IdKeys {
  private readonly hi: Float64Array;
  private readonly lo: Float64Array;

  constructor(private readonly chunk: Chunk) {
    this.hi = new Float64Array(chunk.rowCount);
    this.lo = new Float64Array(chunk.rowCount);
  }

  /** Sort these row indexes by id, equal ids in row order. */
  sort(rows: Int32Array): void {
    const { hi, lo, chunk } = this;
    const store = chunk.store;
    for (let k = 0; k < rows.length; k++) {
      const i = rows[k] as number;
      const s = chunk.startOf(i);
      hi[i] = hexValue(store, s, HI_DIGITS);
      lo[i] = hexValue(store, s, LO_DIGITS);
    }
    rows.sort((a, b) => {
      const d = (hi[a] as number) - (hi[b] as number) || (lo[a] as number) - (lo[b] as number);
      if (d !== 0) return d;
      const sa = chunk.startOf(a);
      const sb = chunk.startOf(b);
      for (let k = ID_BYTES - 3; k < ID_BYTES; k++) {
        const e = (store[sa + k] as number) - (store[sb + k] as number);
        if (e !== 0) return e;
      }
      return a - b;
    });
  }
}

/** Byte offsets in an id (8-4-4-4-12) of hex digits 4–16 and 17–29: 13 digits, 52 bits, each. */
const HI_DIGITS = [3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17];
const LO_DIGITS = [19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32];

function hexValue(store: Buffer, s: number, at: readonly number[]): number {
  let v = 0;
  for (let k = 0; k < at.length; k++) v = v * 16 + (HEX[store[s + (at[k] as number)] as number] as number);
  return v;
}
