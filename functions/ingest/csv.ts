/**
 * A streaming RFC 4180 record scanner that never loses a line.
 *
 * Why not csv-parse: with `skip_records_with_error` it reports one broken record several times,
 * merges the following good lines into the broken one's raw text, and drops them (measured: a file
 * with one stray quote lost three valid rows). Here a malformed record costs exactly its own
 * physical line(s) and scanning resumes on the next line. Well-formed input parses exactly as
 * csv-parse does (tests/unit/csv.test.ts holds the two to the same fields).
 *
 * It is built for the ingest hot path: it scans UTF-8 bytes (the caller has checked they are UTF-8),
 * and hands a record without quotes (nearly all of them) over as a byte range, decoded into no
 * string, for the caller to check in place. It knows the byte offset of every record boundary, so
 * a chunk can be committed with a checkpoint that a later ranged GET resumes from.
 */

/** Receives records in order (see {@link CsvScanner.scan}). */
export interface RecordSink {
  /** A record without quotes: `bytes[start, end)` (line break and a final CR removed). */
  plain(bytes: Uint8Array, start: number, end: number, line: number): void;
  /** A record with quoted fields (`fields`), or a malformed one (`fields` null), with its raw text. */
  quoted(raw: string, fields: string[] | null, line: number): void;
}

/** A physical line longer than this many bytes is rejected as malformed, not buffered forever. */
export const DEFAULT_MAX_RECORD_BYTES = 8 * 1024 * 1024;

const LF = 10;
const CR = 13;
const QUOTE = 34;
const COMMA = 44;
const NEED_MORE = 1;
const UNTERMINATED = 2;
type QuotedResult = { fields: string[]; end: number } | { malformedAt: number } | 1 | 2;

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8');

/**
 * Splits bytes into records. Feed it with {@link push}, drain it with {@link scan}, finish with
 * {@link end}. Empty lines hold no record but count for line numbers.
 */
export class CsvScanner {
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  /** Byte offset (in the object) of `buf[0]`. */
  private bufByte: number;
  private final = false;
  /** Inside an over-long physical line: skip up to its line break. */
  private skipping = false;
  private readonly maxRecordBytes: number;
  /** Line number of the next record. */
  line: number;

  constructor(
    start: { byte: number; line: number } = { byte: 0, line: 1 },
    maxRecordBytes: number = DEFAULT_MAX_RECORD_BYTES,
  ) {
    this.bufByte = start.byte;
    this.line = start.line;
    this.maxRecordBytes = maxRecordBytes;
  }

  /** Add bytes (what is left unscanned is kept in front of them). */
  push(bytes: Uint8Array): void {
    if (this.pos >= this.buf.length) {
      this.bufByte += this.buf.length;
      this.buf = bytes;
    } else {
      const rest = this.buf.subarray(this.pos);
      const joined = new Uint8Array(rest.length + bytes.length);
      joined.set(rest);
      joined.set(bytes, rest.length);
      this.bufByte += this.pos;
      this.buf = joined;
    }
    this.pos = 0;
  }

  /** Skip bytes that belong to no record (a byte order mark); only before anything is pushed. */
  skipBytes(n: number): void {
    if (this.buf.length > 0) throw new Error('skipBytes after bytes were pushed');
    this.bufByte += n;
  }

  /** No more bytes will come: the last line counts even without a line break. */
  end(): void {
    this.final = true;
  }

  /** Byte offset in the object just after the last record scanned. */
  get offset(): number {
    return this.bufByte + this.pos;
  }

  /** True when every pushed byte has been scanned (nothing is pending). */
  get drained(): boolean {
    return this.pos >= this.buf.length;
  }

  /**
   * Hand complete records to `sink` until none is left or `stop()` turns true after a record.
   * Returns true when it stopped because of `stop()`.
   */
  scan(sink: RecordSink, stop: () => boolean): boolean {
    const buf = this.buf;
    const len = buf.length;
    const final = this.final;
    let pos = this.pos;
    let quote = buf.indexOf(QUOTE, pos);
    let stopped = false;
    while (pos < len && !stopped) {
      const nl = buf.indexOf(LF, pos);
      if (this.skipping) {
        // The rest of an over-long line, already rejected: drop it up to its line break.
        if (nl === -1) {
          pos = len;
          if (final) this.skipping = false;
          break;
        }
        this.skipping = false;
        pos = nl + 1;
        continue;
      }
      if (nl === -1 && !final) {
        if (len - pos <= this.maxRecordBytes) break;
        // An over-long line: reject what we have, skip the rest of it as it arrives.
        sink.quoted(decode(buf, pos, pos + this.maxRecordBytes), null, this.line++);
        this.skipping = true;
        pos = len;
        break;
      }
      const lineEnd = nl === -1 ? len : nl;
      if (quote !== -1 && quote < pos) quote = buf.indexOf(QUOTE, pos);
      if (quote === -1 || quote >= lineEnd) {
        // A line without quotes is one record of comma-separated fields.
        const end = lineEnd > pos && buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
        if (end > pos) {
          sink.plain(buf, pos, end, this.line);
          stopped = stop();
        }
        this.line++;
        pos = lineEnd + 1;
        continue;
      }
      const r = parseQuoted(buf, pos, final);
      if (r === NEED_MORE) {
        if (len - pos <= this.maxRecordBytes) break;
        // Too long to be a real record: an unterminated quote. Give up on its first line only.
        pos = this.rejectFirstLine(sink, buf, pos, nl, lineEnd);
      } else if (r === UNTERMINATED) {
        pos = this.rejectFirstLine(sink, buf, pos, nl, lineEnd);
      } else if ('malformedAt' in r && r.malformedAt > lineEnd) {
        // The error lies past the first line break: the record's opening quote was most likely never
        // closed and paired with a quote on a later line. Reject the first line only, re-read the rest.
        pos = this.rejectFirstLine(sink, buf, pos, nl, lineEnd);
      } else if ('malformedAt' in r) {
        // Malformed within one line: reject that line.
        const errEnd = buf.indexOf(LF, r.malformedAt);
        if (errEnd === -1 && !final) {
          if (len - pos <= this.maxRecordBytes) break;
          pos = this.rejectFirstLine(sink, buf, pos, nl, lineEnd);
        } else {
          const end = errEnd === -1 ? len : errEnd;
          sink.quoted(decodeLine(buf, pos, end), null, this.line);
          this.line += countNewlines(buf, pos, end) + 1;
          pos = end + 1;
        }
      } else {
        sink.quoted(decodeLine(buf, pos, r.end), r.fields, this.line);
        this.line += countNewlines(buf, pos, r.end) + 1;
        pos = r.end + 1;
      }
      stopped = stop();
    }
    this.pos = Math.min(pos, len);
    return stopped;
  }

  private rejectFirstLine(
    sink: RecordSink,
    buf: Uint8Array,
    pos: number,
    nl: number,
    lineEnd: number,
  ): number {
    sink.quoted(decodeLine(buf, pos, lineEnd), null, this.line);
    this.line++;
    return nl === -1 ? buf.length : nl + 1;
  }
}

/** Text of bytes[from, to). */
function decode(bytes: Uint8Array, from: number, to: number): string {
  return utf8.decode(bytes.subarray(from, to));
}

/** Text of a line's bytes[from, to), without a final CR. */
function decodeLine(bytes: Uint8Array, from: number, to: number): string {
  return decode(bytes, from, to > from && bytes[to - 1] === CR ? to - 1 : to);
}

function countNewlines(b: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = b.indexOf(LF, from); i !== -1 && i < to; i = b.indexOf(LF, i + 1)) n++;
  return n;
}

/**
 * Parse one record that contains at least one quote, starting at `start`. Returns the fields and the
 * index of the record's terminating LF (or the end of the bytes), `NEED_MORE` when the bytes end
 * inside the record, `UNTERMINATED` when the final bytes end inside quotes, or the offending byte's
 * index when the record is malformed (a quote inside an unquoted field, text after a closing quote).
 */
function parseQuoted(s: Uint8Array, start: number, final: boolean): QuotedResult {
  const fields: string[] = [];
  const len = s.length;
  let i = start;
  for (;;) {
    if (s[i] === QUOTE) {
      // Quoted field: "" is an escaped quote; anything else up to the closing quote is data.
      let value = '';
      let j = i + 1;
      for (;;) {
        const k = s.indexOf(QUOTE, j);
        if (k === -1) return final ? UNTERMINATED : NEED_MORE;
        if (k + 1 >= len && !final) return NEED_MORE;
        if (s[k + 1] === QUOTE) {
          value += decode(s, j, k + 1);
          j = k + 2;
          continue;
        }
        value += decode(s, j, k);
        i = k + 1;
        break;
      }
      fields.push(value);
      const c = s[i];
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c === LF || i >= len) return { fields, end: i };
      if (c === CR && s[i + 1] === LF) return { fields, end: i + 1 };
      if (c === CR && i + 1 >= len) return final ? { fields, end: len } : NEED_MORE;
      return { malformedAt: i };
    }
    // Unquoted field: up to the next comma or line break; a quote here is malformed.
    let j = i;
    for (; j < len; j++) {
      const c = s[j];
      if (c === COMMA || c === LF || c === QUOTE) break;
    }
    if (j >= len) {
      if (!final) return NEED_MORE;
      fields.push(decodeLine(s, i, j));
      return { fields, end: len };
    }
    const c = s[j];
    if (c === QUOTE) return { malformedAt: j };
    if (c === LF) {
      fields.push(decodeLine(s, i, j));
      return { fields, end: j };
    }
    fields.push(decode(s, i, j));
    i = j + 1;
  }
}
