import { CsvScanner } from '../../functions/ingest/csv.ts';

/** One record as the scanner hands it over: line, raw text, fields (null when malformed). */
export interface ScannedRecord {
  line: number;
  raw: string;
  fields: string[] | null;
}

/** Every record of `text`, pushed to the scanner `chunk` characters at a time. */
export function readRecords(text: string, chunk = text.length, maxRecordChars?: number): ScannedRecord[] {
  const out: ScannedRecord[] = [];
  const scanner = new CsvScanner(undefined, maxRecordChars);
  const sink = {
    plain: (t: string, a: number, b: number, line: number) => {
      const raw = t.slice(a, b);
      out.push({ line, raw, fields: raw.split(',') });
    },
    quoted: (raw: string, fields: string[] | null, line: number) => {
      out.push({ line, raw, fields });
    },
  };
  const never = () => false;
  for (let i = 0; i < text.length; i += chunk) {
    scanner.push(text.slice(i, i + chunk), false);
    scanner.scan(sink, never);
  }
  scanner.end();
  scanner.scan(sink, never);
  return out;
}
