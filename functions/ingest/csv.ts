/**
 * A streaming RFC 4180 record reader that never loses a line.
 *
 * Why not csv-parse: with `skip_records_with_error` it reports one broken record several times,
 * merges the following good lines into the broken one's raw text, and drops them (measured: a file
 * with one stray quote lost three valid rows). Here a malformed record costs exactly its own
 * physical line(s): it comes back as `fields: null` with its raw text and line number, and reading
 * resumes on the next line. Well-formed input parses exactly as csv-parse does (see the
 * differential test in tests/unit/csv.test.ts).
 */

/** One record: its 1-based starting line, its raw text (without the line break) and its fields. */
export interface CsvRecord {
  line: number;
  raw: string;
  /** `null` when the record is not valid CSV (stray or unterminated quote). */
  fields: string[] | null;
}

/** Defaults: a record longer than this is treated as an unterminated quote, not buffered forever. */
export const DEFAULT_MAX_RECORD_CHARS = 4 * 1024 * 1024;

const NEED_MORE = 'need_more';
const UNTERMINATED = 'unterminated';

type QuotedResult =
  | { fields: string[]; end: number }
  | { malformedAt: number }
  | typeof NEED_MORE
  | typeof UNTERMINATED;

/**
 * Splits decoded text into CSV records. Feed it with {@link CsvReader.push} and finish with
 * {@link CsvReader.end}; both call `emit` for every complete record, in order. Empty lines are
 * skipped (they hold no record), but still count for line numbers.
 */
export class CsvReader {
  private buf = '';
  private line = 1;
  private started = false;

  constructor(
    private readonly emit: (record: CsvRecord) => void,
    private readonly maxRecordChars: number = DEFAULT_MAX_RECORD_CHARS,
  ) {}

  /** Add decoded text. */
  push(text: string): void {
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.buf = this.buf.length === 0 ? text : this.buf + text;
    this.drain(false);
  }

  /** No more text: flush the last record (a final line without a line break is a record too). */
  end(): void {
    this.drain(true);
    this.buf = '';
  }

  private drain(final: boolean): void {
    const buf = this.buf;
    const len = buf.length;
    let pos = 0;
    // Position of the next '"' at or after pos, or -1 when none is left: computed lazily, once per
    // quote, so quote-free files are scanned with two indexOf calls per line.
    let quote = buf.indexOf('"');
    while (pos < len) {
      const nl = buf.indexOf('\n', pos);
      if (nl === -1 && !final) break;
      const lineEnd = nl === -1 ? len : nl;
      if (quote !== -1 && quote < pos) quote = buf.indexOf('"', pos);
      if (quote === -1 || quote >= lineEnd) {
        // Fast path: a line without quotes is one record of comma-separated fields.
        const end = lineEnd > pos && buf.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
        if (end > pos) {
          const raw = buf.slice(pos, end);
          this.emit({ line: this.line, raw, fields: raw.split(',') });
        }
        this.line++;
        pos = lineEnd + 1;
        continue;
      }
      const r = parseQuoted(buf, pos, final);
      if (r === NEED_MORE) {
        if (len - pos <= this.maxRecordChars) break;
        // Too long to be a real record: an unterminated quote. Give up on its first line only.
        pos = this.rejectFirstLine(buf, pos, nl, lineEnd);
      } else if (r === UNTERMINATED) {
        pos = this.rejectFirstLine(buf, pos, nl, lineEnd);
      } else if ('malformedAt' in r && r.malformedAt > lineEnd) {
        // The error lies past the first line break: the record's opening quote was most likely never
        // closed and paired with a quote on a later line. Reject the first line only, re-read the rest.
        pos = this.rejectFirstLine(buf, pos, nl, lineEnd);
      } else if ('malformedAt' in r) {
        // Malformed within one line: reject that line.
        const errEnd = buf.indexOf('\n', r.malformedAt);
        if (errEnd === -1 && !final) {
          if (len - pos <= this.maxRecordChars) break;
          pos = this.rejectFirstLine(buf, pos, nl, lineEnd);
          continue;
        }
        const end = errEnd === -1 ? len : errEnd;
        this.emit({ line: this.line, raw: stripCr(buf.slice(pos, end)), fields: null });
        this.line += countNewlines(buf, pos, end) + 1;
        pos = end + 1;
      } else {
        this.emit({ line: this.line, raw: stripCr(buf.slice(pos, r.end)), fields: r.fields });
        this.line += countNewlines(buf, pos, r.end) + 1;
        pos = r.end + 1;
      }
    }
    this.buf = pos >= len ? '' : buf.slice(pos);
  }

  private rejectFirstLine(buf: string, pos: number, nl: number, lineEnd: number): number {
    this.emit({ line: this.line, raw: stripCr(buf.slice(pos, lineEnd)), fields: null });
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
