import type { RejectReason } from '../shared/event.ts';

/**
 * What one transaction writes: the rows read from one or more objects since the last commit.
 *
 * Rows are kept as the COPY text of their event columns (for a well-formed row, the very text it
 * had in the file), with their event_id, line and object beside them in flat arrays: no row
 * objects, no field arrays. Rejects are kept as finished COPY lines. Everything belonging to one
 * object is contiguous, so an object that fails mid-chunk is cut off without touching the others.
 */

/** One object's share of a chunk, and where it starts in the chunk's arrays. */
export interface ChunkPart {
  /** Index of the object in the batch. */
  readonly object: number;
  /** `,bucket,key,` quoted for COPY: the source columns that follow every row of this object. */
  readonly source: string;
  /** `bucket,key,etag,` quoted for COPY: the first columns of this object's rejects. */
  readonly rejectSource: string;
  readonly firstRow: number;
  readonly firstReject: number;
  /** Records read (valid or not) and how many were rejected, in this chunk. */
  total: number;
  rejected: number;
  /** Newest event_timestamp among the valid rows (epoch ms), or -Infinity. */
  newestMs: number;
  /** Rejected rows by reason. */
  readonly reasons: Map<string, number>;
}

/** The rows of one transaction. */
export class Chunk {
  readonly parts: ChunkPart[] = [];
  /** Valid rows: event_id, COPY text of the event columns, line number, part index. */
  readonly ids: string[] = [];
  readonly texts: string[] = [];
  readonly lines: number[] = [];
  readonly partOf: number[] = [];
  /** Rows whose raw text differs from their COPY text (quoted or normalized fields), by row index. */
  readonly raws = new Map<number, string>();
  /** Values of the file's extra columns, as JSON text, by row index (rows that have any). */
  readonly extras = new Map<number, string>();
  /** Rejected rows as COPY lines for `rejected_events`. */
  readonly rejects: string[] = [];
  /** Records read into this chunk, valid or not: the measure of its size. */
  records = 0;

  /** Start the part of object `object`; rows and rejects added next belong to it. */
  begin(object: number, bucket: string, key: string, etag: string): ChunkPart {
    const part: ChunkPart = {
      object,
      source: `,${quote(pgText(bucket))},${quote(pgText(key))},`,
      rejectSource: `${quote(pgText(bucket))},${quote(pgText(key))},${quote(pgText(etag))},`,
      firstRow: this.ids.length,
      firstReject: this.rejects.length,
      total: 0,
      rejected: 0,
      newestMs: Number.NEGATIVE_INFINITY,
      reasons: new Map(),
    };
    this.parts.push(part);
    return part;
  }

  /** The part being filled. */
  get current(): ChunkPart {
    const part = this.parts[this.parts.length - 1];
    if (!part) throw new Error('Chunk.begin() must come before rows');
    return part;
  }

  /** A valid row of the current part; `raw` only when it differs from `text`. */
  valid(id: string, text: string, line: number, timeMs: number, raw?: string, extra?: string): void {
    const part = this.current;
    part.total++;
    this.records++;
    if (timeMs > part.newestMs) part.newestMs = timeMs;
    if (raw !== undefined) this.raws.set(this.ids.length, raw);
    if (extra !== undefined) this.extras.set(this.ids.length, extra);
    this.ids.push(id);
    this.texts.push(text);
    this.lines.push(line);
    this.partOf.push(this.parts.length - 1);
  }

  /** A rejected row of the current part, kept with its reason and raw text. */
  reject(line: number, reason: RejectReason, raw: string): void {
    const part = this.current;
    part.total++;
    part.rejected++;
    part.reasons.set(reason, (part.reasons.get(reason) ?? 0) + 1);
    this.records++;
    this.rejects.push(`${part.rejectSource}${line},${reason},${quote(pgText(raw))}\n`);
  }

  /** Drop the current part and everything it added (its object failed or must be retried). */
  dropCurrent(): void {
    const part = this.parts.pop();
    if (!part) return;
    this.records -= part.total;
    for (let i = part.firstRow; i < this.ids.length; i++) {
      this.raws.delete(i);
      this.extras.delete(i);
    }
    for (const a of [this.ids, this.texts, this.lines, this.partOf]) a.length = part.firstRow;
    this.rejects.length = part.firstReject;
  }

  /** Drop the valid rows from index `from` on (of the current part). */
  dropRowsFrom(from: number): void {
    const part = this.current;
    const dropped = this.ids.length - from;
    if (dropped <= 0) return;
    part.total -= dropped;
    this.records -= dropped;
    for (let i = from; i < this.ids.length; i++) {
      this.raws.delete(i);
      this.extras.delete(i);
    }
    for (const a of [this.ids, this.texts, this.lines, this.partOf]) a.length = from;
  }

  /** Row indexes of part `p`. */
  rowsOf(p: number): [number, number] {
    const part = this.parts[p] as ChunkPart;
    const next = this.parts[p + 1];
    return [part.firstRow, next ? next.firstRow : this.ids.length];
  }

  /** The reject lines of every part not in `skip`. */
  rejectsExcept(skip: ReadonlySet<number>): string[] {
    const out: string[] = [];
    this.parts.forEach((part, p) => {
      if (skip.has(p)) return;
      const end = this.parts[p + 1]?.firstReject ?? this.rejects.length;
      for (let i = part.firstReject; i < end; i++) out.push(this.rejects[i] as string);
    });
    return out;
  }

  /**
   * The valid rows to write: the first occurrence of each event_id among the parts not excluded,
   * as row indexes in event_id order (the order PostgreSQL compares uuids in: 36 fixed-width
   * lowercase hex characters compare alike as text).
   *
   * A bucket sort on the first three hex digits, then an insertion sort inside each bucket (a few
   * rows each): several times cheaper than sorting the rows' strings, and stable, so of equal ids
   * the earliest row comes first and the others are dropped.
   */
  firstOccurrences(exclude: ReadonlySet<number>): Int32Array {
    const { ids, partOf } = this;
    const n = ids.length;
    // Typed arrays, read with `as number`: every index below is in range by construction.
    const key = new Int32Array(n);
    const rows = new Int32Array(n);
    const starts = new Int32Array(BUCKETS + 1);
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (exclude.size > 0 && exclude.has(partOf[i] as number)) continue;
      const s = ids[i] as string;
      const k =
        ((HEX[s.charCodeAt(0)] as number) << 8) |
        ((HEX[s.charCodeAt(1)] as number) << 4) |
        (HEX[s.charCodeAt(2)] as number);
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
    const id = (j: number) => ids[order[j] as number] as string;
    const out = new Int32Array(m);
    let kept = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const lo = starts[b] as number;
      const hi = starts[b + 1] as number;
      for (let i = lo + 1; i < hi; i++) {
        const x = order[i] as number;
        const xid = ids[x] as string;
        let j = i - 1;
        while (j >= lo && id(j) > xid) {
          order[j + 1] = order[j] as number;
          j--;
        }
        order[j + 1] = x;
      }
      for (let i = lo; i < hi; i++) if (i === lo || id(i) !== id(i - 1)) out[kept++] = order[i] as number;
    }
    return out.subarray(0, kept);
  }

  /** The raw text of valid row `i` (what the file held). */
  rawOf(i: number): string {
    return this.raws.get(i) ?? (this.texts[i] as string);
  }
}

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
/** Value of a lowercase hex digit by character code (ids are checked before they get here). */
const HEX = (() => {
  const t = new Int32Array(128);
  for (let i = 0; i < 16; i++) t['0123456789abcdef'.charCodeAt(i)] = i;
  return t;
})();

/** PostgreSQL text cannot hold NUL: replace it, so raw text and error messages can always be stored. */
export function pgText(s: string): string {
  return s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s;
}

/** Quote a value for COPY's CSV format when needed; an empty string must be quoted to stay non-NULL. */
export function quote(value: string): string {
  if (value === '') return '""';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 44 || c === 34 || c === 10 || c === 13) return `"${value.replace(/"/g, '""')}"`;
  }
  // A lone "\." line would end COPY's data; quoting makes it data.
  return value === '\\.' ? '"\\."' : value;
}
