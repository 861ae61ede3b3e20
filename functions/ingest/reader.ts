import { isUtf8 } from 'node:buffer';
import { BadObjectError } from '../shared/errors.ts';
import { eventValues, MAX_FUTURE_SKEW_MS, type Validator } from '../shared/event.ts';
import { createValidator } from '../shared/validator.ts';
import { type Chunk, quote } from './chunk.ts';
import { CsvScanner, DEFAULT_MAX_RECORD_BYTES, type RecordSink } from './csv.ts';
import { acceptInPlace } from './fast-row.ts';
import { type Columns, extraValues, readHeader } from './header.ts';

/** Where reading stands: the byte offset after the last record read, and the next line's number. */
export interface ReadPosition {
  byte: number;
  line: number;
}

/** Where to start: offset 0 and line 1 for a new object, a ledger checkpoint when resuming. */
export interface ReadStart extends ReadPosition {
  /** The header record's raw text, known from the ledger when resuming. */
  header?: string | null;
}

const LF = 10;
const UTF8_BOM = [0xef, 0xbb, 0xbf];
const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8');

/**
 * Bytes of one object → validated rows in a {@link Chunk}.
 *
 * Bytes are cut at their last line break, checked to be strict UTF-8, and scanned as bytes: a
 * well-formed row is checked and copied into the chunk where it lies, decoded into no string; the
 * others are decoded for the full validator. The byte offset of any record boundary is known
 * exactly: that offset is the checkpoint a resumed read starts from with a ranged GET.
 */
export class ObjectReader implements RecordSink {
  private readonly scanner: CsvScanner;
  private readonly validate: Validator;
  private carry: Uint8Array[] = [];
  private carryBytes = 0;
  private atStart: boolean;
  private ended = false;
  private scannerEnded = false;
  /** Whole lines read but not given to the scanner yet, and whether they hold no NUL and no CR. */
  private readonly pending: { bytes: Uint8Array; clean: boolean }[] = [];
  private clean = true;
  private chunk: Chunk | undefined;
  private maxTimeMs = 0;
  /** How the file's columns map to the event's; undefined when the header is unusable. */
  private columns: Columns | undefined;
  /** True when the header is exactly the declared columns in the declared order. */
  private declaredOrder = false;
  /** The header record's raw text, once read. */
  header: string | undefined;
  /** Why the header is unusable, if it is. */
  headerProblem: string | undefined;

  constructor(
    private readonly now: () => number,
    start: ReadStart,
    private readonly maxRecordBytes = DEFAULT_MAX_RECORD_BYTES,
  ) {
    this.scanner = new CsvScanner(start, maxRecordBytes);
    this.validate = createValidator(now);
    this.atStart = start.byte === 0;
    if (start.header != null) this.useHeader(start.header, parseHeader(start.header));
  }

  /** Add bytes from the object. Throws {@link BadObjectError} when they are not UTF-8. */
  feed(bytes: Uint8Array): void {
    if (this.atStart) {
      // A byte order mark is not part of the first record: wait for three bytes to know.
      this.keep(bytes);
      if (this.carryBytes < UTF8_BOM.length) return;
      bytes = this.skipBom(this.takeCarry(EMPTY));
    }
    const lastLf = bytes.lastIndexOf(LF);
    if (lastLf === -1) {
      this.keep(bytes);
      if (this.carryBytes > this.maxRecordBytes) this.flushCarry();
      return;
    }
    // The line carried from the last bytes is completed on its own (a small copy); the whole lines
    // after it are queued where they lie, uncopied.
    const firstLf = this.carryBytes > 0 ? bytes.indexOf(LF) : -1;
    if (firstLf !== -1) this.enqueue(this.takeCarry(bytes.subarray(0, firstLf + 1)));
    if (firstLf < lastLf) this.enqueue(bytes.subarray(firstLf + 1, lastLf + 1));
    if (lastLf + 1 < bytes.length) this.keep(bytes.subarray(lastLf + 1));
  }

  /** No more bytes: what is carried is the last line. */
  end(): void {
    if (this.atStart) this.keep(this.skipBom(this.takeCarry(EMPTY)));
    this.ended = true;
    if (this.carryBytes > 0) this.enqueue(this.takeCarry(EMPTY));
  }

  private skipBom(bytes: Uint8Array): Uint8Array {
    this.atStart = false;
    if (!UTF8_BOM.every((b, i) => bytes[i] === b)) return bytes;
    this.scanner.skipBytes(UTF8_BOM.length);
    return bytes.subarray(UTF8_BOM.length);
  }

  /** True when the object has been read to its end and every record handed over. */
  get done(): boolean {
    return this.ended && this.pending.length === 0 && this.scanner.drained;
  }

  /** The position after the last record handed to a chunk. */
  get position(): ReadPosition {
    return { byte: this.scanner.offset, line: this.scanner.line };
  }

  /**
   * Hand records to `chunk` (its current part) until it holds `limit` records or no complete record
   * is left. Returns true when it stopped because the chunk is full.
   */
  fill(chunk: Chunk, limit: number): boolean {
    this.chunk = chunk;
    this.maxTimeMs = this.now() + MAX_FUTURE_SKEW_MS;
    const full = () => chunk.records >= limit;
    try {
      for (;;) {
        if (this.scanner.scan(this, full)) return true;
        // Scanned all it could: give the scanner the next queued bytes, or tell it the object ended.
        const next = this.pending.shift();
        if (next) {
          this.clean = (this.scanner.drained || this.clean) && next.clean;
          this.scanner.push(next.bytes);
        } else if (this.ended && !this.scannerEnded) {
          this.scannerEnded = true;
          this.scanner.end();
        } else return false;
      }
    } finally {
      this.chunk = undefined;
    }
  }

  plain(t: Uint8Array, a: number, b: number, line: number): void {
    const chunk = this.chunk as Chunk;
    if (this.header === undefined) {
      const raw = utf8.decode(t.subarray(a, b));
      this.useHeader(raw, raw.split(','));
      return;
    }
    if (this.declaredOrder) {
      const ms = acceptInPlace(t, a, b, this.maxTimeMs, this.clean);
      if (!Number.isNaN(ms)) {
        chunk.validBytes(t, a, b, line, ms);
        return;
      }
    }
    const raw = utf8.decode(t.subarray(a, b));
    this.general(chunk, raw, raw.split(','), line);
  }

  quoted(raw: string, fields: string[] | null, line: number): void {
    if (this.header === undefined) {
      this.useHeader(raw, fields);
      return;
    }
    this.general(this.chunk as Chunk, raw, fields, line);
  }

  /** Any row the in-place check was not sure of: the full validator decides. */
  private general(chunk: Chunk, raw: string, fields: string[] | null, line: number): void {
    const columns = this.columns;
    if (!columns) {
      chunk.reject(line, 'header_mismatch', raw);
      return;
    }
    if (!fields) {
      chunk.reject(line, 'malformed_csv_line', raw);
      return;
    }
    const v = this.validate(fields, columns.order, columns.width);
    if (!v.ok) {
      chunk.reject(line, v.reason, raw);
      return;
    }
    const extra = columns.extras.length > 0 ? extraValues(columns, fields) : undefined;
    if (extra === null) {
      chunk.reject(line, 'invalid_character', raw);
      return;
    }
    const values = eventValues(v.event);
    let text = quote(values[0] as string);
    for (let i = 1; i < values.length; i++) text += `,${quote(values[i] as string)}`;
    chunk.valid(text, line, v.timeMs, text === raw ? undefined : raw, extra);
  }

  private useHeader(raw: string, fields: string[] | null): void {
    this.header = raw;
    const verdict = readHeader(raw, fields);
    if (verdict.ok) {
      this.columns = verdict.columns;
      this.declaredOrder = verdict.columns.declared;
    } else this.headerProblem = verdict.problem;
  }

  /** The file's columns, once its header is read and usable. */
  get fileColumns(): Columns | undefined {
    return this.columns;
  }

  /** Queue whole lines for the scanner; throws {@link BadObjectError} when they are not UTF-8. */
  private enqueue(bytes: Uint8Array): void {
    if (!isUtf8(bytes))
      throw new BadObjectError(
        'invalid_utf8',
        'The object is not valid UTF-8; re-export it as UTF-8 and upload again',
      );
    this.pending.push({ bytes, clean: bytes.indexOf(0) === -1 && bytes.indexOf(13) === -1 });
  }

  private keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.carry.push(bytes);
    this.carryBytes += bytes.length;
  }

  private takeCarry(tail: Uint8Array): Uint8Array {
    if (this.carryBytes === 0) return tail;
    const out = new Uint8Array(this.carryBytes + tail.length);
    let at = 0;
    for (const piece of this.carry) {
      out.set(piece, at);
      at += piece.length;
    }
    out.set(tail, at);
    this.carry = [];
    this.carryBytes = 0;
    return out;
  }

  /** A line longer than any record may be: hand over what is carried, cut on a character boundary. */
  private flushCarry(): void {
    const all = this.takeCarry(EMPTY);
    let cut = all.length;
    // Back up over UTF-8 continuation bytes (10xxxxxx) so no character is split.
    while (cut > 0 && ((all[cut - 1] as number) & 0xc0) === 0x80) cut--;
    if (cut > 0 && (all[cut - 1] as number) >= 0xc0) cut--;
    this.enqueue(all.subarray(0, cut));
    this.keep(all.subarray(cut));
  }
}

/** The fields of a header record's raw text (it may be quoted). */
function parseHeader(raw: string): string[] | null {
  let fields: string[] | null = null;
  const scanner = new CsvScanner();
  scanner.push(Buffer.from(raw));
  scanner.end();
  scanner.scan(
    {
      plain: (t, a, b) => {
        fields = utf8.decode(t.subarray(a, b)).split(',');
      },
      quoted: (_raw, f) => {
        fields = f;
      },
    },
    () => true,
  );
  return fields;
}
