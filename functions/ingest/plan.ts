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
 * A bucket sort on the id's first three hex digits, then an insertion sort of each bucket (a few
 * rows each) comparing the ids' bytes where they lie in the store: no string per row, and stable,
 * so of equal ids the earliest row comes first and the others are dropped.
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
  for (let b = 0; b < BUCKETS; b++) {
    const lo = starts[b] as number;
    const hi = starts[b + 1] as number;
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
