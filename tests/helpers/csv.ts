import { CsvScanner } from '../../functions/ingest/csv.ts';

/** One record as the scanner hands it over: line, raw text, fields (null when malformed). */
export interface ScannedRecord {
  line: number;
  raw: string;
  fields: string[] | null;
}

/** Every record of `text`, pushed to the scanner `chunk` bytes at a time. */
export function readRecords(text: string, chunk?: number, maxRecordBytes?: number): ScannedRecord[] {
  const out: ScannedRecord[] = [];
  const bytes = Buffer.from(text);
  const size = chunk ?? bytes.length;
  const scanner = new CsvScanner(undefined, maxRecordBytes);
  const sink = {
    plain: (t: Uint8Array, a: number, b: number, line: number) => {
      const raw = Buffer.from(t.subarray(a, b)).toString('utf8');
      out.push({ line, raw, fields: raw.split(',') });
    },
    quoted: (raw: string, fields: string[] | null, line: number) => {
      out.push({ line, raw, fields });
    },
  };
  const never = () => false;
  for (let i = 0; i < bytes.length; i += size) {
    scanner.push(bytes.subarray(i, i + size));
    scanner.scan(sink, never);
  }
  scanner.end();
  scanner.scan(sink, never);
  return out;
}
