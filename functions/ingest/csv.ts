/**
 * A streaming RFC 4180 record scanner that never loses a line.
 *
 * Why not csv-parse: with `skip_records_with_error` it reports one broken record several times,
 * merges the following good lines into the broken one's raw text, and drops them (measured: a file
 * with one stray quote lost three valid rows). Here a malformed record costs exactly its own
 * physical line(s) and scanning resumes on the next line. Well-formed input parses exactly as
 * csv-parse does (tests/unit/csv.test.ts holds the two to the same fields).
 *
 * It is built for the ingest hot path: a record without quotes (nearly all of them) is handed over
 * as a range of the text buffer, with no field array and no copy, for the caller to check in place.
 * It knows the byte offset of every record boundary in the object, so a chunk can be committed with
 * a checkpoint that a later ranged GET resumes from.
 */

/** Receives records in order (see {@link CsvScanner.scan}). */
export interface RecordSink {
  /** A record without quotes: `text[start, end)` (line break and a final CR removed). */
  plain(text: string, start: number, end: number, line: number): void;
  /** A record with quoted fields (`fields`), or a malformed one (`fields` null), with its raw text. */
  quoted(raw: string, fields: string[] | null, line: number): void;
}

/** A physical line longer than this is rejected as malformed, not buffered forever. */
export const DEFAULT_MAX_RECORD_CHARS = 4 * 1024 * 1024;

const NEED_MORE = 1;
const UNTERMINATED = 2;
type QuotedResult = { fields: string[]; end: number } | { malformedAt: number } | 1 | 2;

/**
 * Splits decoded text into records. Feed it with {@link push}, drain it with {@link scan}, finish
 * with {@link end}. Empty lines hold no record but count for line numbers.
 */
export class CsvScanner {
  private buf = '';
  private pos = 0;
  /** Byte offset (in the object) of `buf[0]`, and whether `buf` is pure ASCII (chars = bytes). */
  private bufByte: number;
  private bufAscii = true;
  private final = false;
  /** Inside an over-long physical line: skip up to its line break. */
  private skipping = false;
  /** Line number of the next record. */
  line: number;

  constructor(
    start: { byte: number; line: number } = { byte: 0, line: 1 },
    private readonly maxRecordChars: number = DEFAULT_MAX_RECORD_CHARS,
  ) {
    this.bufByte = start.byte;
    this.line = start.line;
  }

  /** Add decoded text; `ascii` says it was decoded from as many bytes as it has characters. */
  push(text: string, ascii: boolean): void {
    if (this.pos > 0) {
      this.bufByte = this.byteAt(this.pos);
      this.buf = this.buf.slice(this.pos);
      this.pos = 0;
    }
    this.buf = this.buf.length === 0 ? text : this.buf + text;
    this.bufAscii = this.bufAscii && ascii;
  }

  /** Skip bytes that belong to no record (a byte order mark); only before any text is pushed. */
  skipBytes(n: number): void {
    if (this.buf.length > 0) throw new Error('skipBytes after text was pushed');
    this.bufByte += n;
  }

  /** No more text will come: the last line counts even without a line break. */
  end(): void {
    this.final = true;
  }

  /** Byte offset in the object just after the last record scanned. */
  get offset(): number {
    return this.byteAt(this.pos);
  }

  /** True when every pushed character has been scanned (nothing is pending). */
  get drained(): boolean {
    return this.pos >= this.buf.length;
  }

  private byteAt(pos: number): number {
    if (this.bufAscii) return this.bufByte + pos;
    const b = Buffer.byteLength(this.buf.slice(0, pos));
    // Once the scanned part is past, what is left may well be ASCII again; re-check cheaply later.
    return this.bufByte + b;
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
    let quote = buf.indexOf('"', pos);
    let stopped = false;
    while (pos < len) {
      if (stopped) break;
      const nl = buf.indexOf('\n', pos);
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
        if (len - pos <= this.maxRecordChars) break;
        // An over-long line: reject what we have, skip the rest of it as it arrives.
        sink.quoted(buf.slice(pos, pos + this.maxRecordChars), null, this.line++);
        this.skipping = true;
        pos = len;
        break;
      }
      const lineEnd = nl === -1 ? len : nl;
      if (quote !== -1 && quote < pos) quote = buf.indexOf('"', pos);
      if (quote === -1 || quote >= lineEnd) {
        // A line without quotes is one record of comma-separated fields.
        const end = lineEnd > pos && buf.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
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
        if (len - pos <= this.maxRecordChars) break;
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
        const errEnd = buf.indexOf('\n', r.malformedAt);
        if (errEnd === -1 && !final) {
          if (len - pos <= this.maxRecordChars) break;
          pos = this.rejectFirstLine(sink, buf, pos, nl, lineEnd);
        } else {
          const end = errEnd === -1 ? len : errEnd;
          sink.quoted(stripCr(buf.slice(pos, end)), null, this.line);
          this.line += countNewlines(buf, pos, end) + 1;
          pos = end + 1;
        }
      } else {
        sink.quoted(stripCr(buf.slice(pos, r.end)), r.fields, this.line);
        this.line += countNewlines(buf, pos, r.end) + 1;
        pos = r.end + 1;
      }
      stopped = stop();
    }
    this.pos = Math.min(pos, len);
    if (this.pos >= len && len > 0) {
      // Everything scanned: drop the text so the next push does not copy it.
      this.bufByte = this.byteAt(len);
      this.buf = '';
      this.pos = 0;
      this.bufAscii = true;
    }
    return stopped;
  }

  private rejectFirstLine(sink: RecordSink, buf: string, pos: number, nl: number, lineEnd: number): number {
    sink.quoted(stripCr(buf.slice(pos, lineEnd)), null, this.line);
    this.line++;
    return nl === -1 ? buf.length : nl + 1;
  }
}

function stripCr(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}

function countNewlines(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = s.indexOf('\n', from); i !== -1 && i < to; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Parse one record that contains at least one quote, starting at `start`. Returns the fields and the
 * index of the record's terminating '\n' (or the text's end), `NEED_MORE` when the text ends inside
 * the record, `UNTERMINATED` when the final text ends inside quotes, or the offending character's
 * index when the record is malformed (a quote inside an unquoted field, text after a closing quote).
 */
function parseQuoted(s: string, start: number, final: boolean): QuotedResult {
  const fields: string[] = [];
  const len = s.length;
  let i = start;
  for (;;) {
    if (s.charCodeAt(i) === 34) {
      // Quoted field: "" is an escaped quote; anything else up to the closing quote is data.
      let value = '';
      let j = i + 1;
      for (;;) {
        const k = s.indexOf('"', j);
        if (k === -1) return final ? UNTERMINATED : NEED_MORE;
        if (k + 1 >= len && !final) return NEED_MORE;
        if (s.charCodeAt(k + 1) === 34) {
          value += s.slice(j, k + 1);
          j = k + 2;
          continue;
        }
        value += s.slice(j, k);
        i = k + 1;
        break;
      }
      fields.push(value);
      const c = s.charCodeAt(i);
      if (c === 44) {
        i++;
        continue;
      }
      if (c === 10 || i >= len) return { fields, end: i };
      if (c === 13 && s.charCodeAt(i + 1) === 10) return { fields, end: i + 1 };
      if (c === 13 && i + 1 >= len) return final ? { fields, end: len } : NEED_MORE;
      return { malformedAt: i };
    }
    // Unquoted field: up to the next comma or line break; a quote here is malformed.
    let j = i;
    for (; j < len; j++) {
      const c = s.charCodeAt(j);
      if (c === 44 || c === 10 || c === 34) break;
    }
    if (j >= len) {
      if (!final) return NEED_MORE;
      fields.push(stripCr(s.slice(i, j)));
      return { fields, end: len };
    }
    const c = s.charCodeAt(j);
    if (c === 34) return { malformedAt: j };
    if (c === 10) {
      fields.push(stripCr(s.slice(i, j)));
      return { fields, end: j };
    }
    fields.push(s.slice(i, j));
    i = j + 1;
  }
}
