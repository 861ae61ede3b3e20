import type { RejectReason } from '../shared/event.ts';

/**
 * What one transaction writes: the rows read from one or more objects since the last commit.
 *
 * A valid row is kept as the UTF-8 bytes of its event columns in COPY's CSV form (for a well-formed
 * row, the very text it had in the file), in one byte store outside the JavaScript heap, with its
 * line and object in typed arrays beside it: no string, object or array per row stays alive, so a
 * chunk of 50,000 rows costs a few MB of store (reused from chunk to chunk) rather than heap that
 * the garbage collector must promote and later sweep. Each row starts with its event_id (36
 * lowercase hex digits and dashes: nothing in the id needs quoting). Rejects, a few per file, are
 * kept as finished COPY lines. Everything belonging to one object is contiguous, so an object that
 * fails mid-chunk is cut off without touching the others.
 */

/** One object's share of a chunk, and where it starts in the chunk's rows and rejects. */
export interface ChunkPart {
  /** Index of the object in the batch. */
  readonly object: number;
  /** `,bucket,key,` quoted for COPY: the source columns that follow every row of this object. */
  readonly source: Buffer;
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

/** Length of an event_id in the store (8-4-4-4-12 hex digits). */
export const ID_BYTES = 36;

/** A growable list of 32-bit integers. */
class Ints {
  private a = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.length++] = v;
  }
  at(i: number): number {
    return this.a[i] as number;
  }
}

/** The rows of one transaction. */
export class Chunk {
  readonly parts: ChunkPart[] = [];
  /** Bytes of the valid rows' event columns, back to back; row i is `store[starts[i], ends[i])`. */
  store: Buffer;
  private size = 0;
  private readonly starts = new Ints();
  private readonly ends = new Ints();
  private readonly lines = new Ints();
  private readonly partIndex = new Ints();
  /** Rows whose raw text differs from their COPY text (quoted or normalized fields), by row index. */
  readonly raws = new Map<number, string>();
  /** Values of the file's extra columns, as JSON text, by row index (rows that have any). */
  readonly extras = new Map<number, string>();
  /** Rejected rows as COPY lines for `rejected_events`. */
  readonly rejects: string[] = [];
  /** Records read into this chunk, valid or not: the measure of its size. */
  records = 0;

  /** `store`: the previous chunk's byte store, to be reused (its rows are committed). */
  constructor(store?: Buffer) {
    this.store = store ?? Buffer.allocUnsafe(1 << 20);
  }

  /** Valid rows held. */
  get rowCount(): number {
    return this.starts.length;
  }

  /** Start the part of object `object`; rows and rejects added next belong to it. */
  begin(object: number, bucket: string, key: string, etag: string): ChunkPart {
    const part: ChunkPart = {
      object,
      source: Buffer.from(`,${quote(pgText(bucket))},${quote(pgText(key))},`),
      rejectSource: `${quote(pgText(bucket))},${quote(pgText(key))},${quote(pgText(etag))},`,
      firstRow: this.rowCount,
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

  /**
   * A valid row of the current part: `text` is the COPY text of its event columns, starting with
   * its event_id; `raw` only when it differs from `text`.
   */
  valid(text: string, line: number, timeMs: number, raw?: string, extra?: string): void {
    const part = this.current;
    part.total++;
    this.records++;
    if (timeMs > part.newestMs) part.newestMs = timeMs;
    const i = this.rowCount;
    if (raw !== undefined) this.raws.set(i, raw);
    if (extra !== undefined) this.extras.set(i, extra);
    // At most 3 bytes of UTF-8 per UTF-16 unit.
    if (this.size + text.length * 3 > this.store.length) this.grow(this.size + text.length * 3);
    this.starts.push(this.size);
    this.size += this.store.write(text, this.size, 'utf8');
    this.ends.push(this.size);
    this.lines.push(line);
    this.partIndex.push(this.parts.length - 1);
  }

  /** A valid row of the current part whose COPY text is `bytes[start, end)` as they are (UTF-8). */
  validBytes(bytes: Uint8Array, start: number, end: number, line: number, timeMs: number): void {
    const part = this.current;
    part.total++;
    this.records++;
    if (timeMs > part.newestMs) part.newestMs = timeMs;
    if (this.size + end - start > this.store.length) this.grow(this.size + end - start);
    this.starts.push(this.size);
    this.store.set(bytes.subarray(start, end), this.size);
    this.size += end - start;
    this.ends.push(this.size);
    this.lines.push(line);
    this.partIndex.push(this.parts.length - 1);
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
    const part = this.parts[this.parts.length - 1];
    if (!part) return;
    this.dropRowsFrom(part.firstRow);
    this.parts.pop();
    this.records -= part.total;
    this.rejects.length = part.firstReject;
  }

  /** Drop the valid rows from index `from` on (of the current part). */
  dropRowsFrom(from: number): void {
    const dropped = this.rowCount - from;
    if (dropped <= 0) return;
    const part = this.current;
    part.total -= dropped;
    this.records -= dropped;
    for (let i = from; i < this.rowCount; i++) {
      this.raws.delete(i);
      this.extras.delete(i);
    }
    this.size = this.starts.at(from);
    for (const list of [this.starts, this.ends, this.lines, this.partIndex]) list.length = from;
  }

  /** Row indexes of part `p`. */
  rowsOf(p: number): [number, number] {
    const part = this.parts[p] as ChunkPart;
    const next = this.parts[p + 1];
    return [part.firstRow, next ? next.firstRow : this.rowCount];
  }

  /** Byte range of row `i` in the store. */
  startOf(i: number): number {
    return this.starts.at(i);
  }
  endOf(i: number): number {
    return this.ends.at(i);
  }
  lineOf(i: number): number {
    return this.lines.at(i);
  }
  partOf(i: number): number {
    return this.partIndex.at(i);
  }

  /** The event_id of row `i` (a new string: for checks and tests, not the hot path). */
  idOf(i: number): string {
    const s = this.starts.at(i);
    return this.store.toString('latin1', s, s + ID_BYTES);
  }

  /** The raw text of valid row `i` (what the file held). */
  rawOf(i: number): string {
    return this.raws.get(i) ?? this.store.toString('utf8', this.starts.at(i), this.ends.at(i));
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

  private grow(atLeast: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(atLeast, this.store.length * 2));
    this.store.copy(bigger, 0, 0, this.size);
    this.store = bigger;
  }
}

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
