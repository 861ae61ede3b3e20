import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { createGenerator } from '../../functions/generator/generate.ts';
import { readRecords as read } from '../helpers/csv.ts';

describe('CsvScanner', () => {
  it('parses well-formed CSV exactly like csv-parse, whatever the chunking', () => {
    const text =
      'a,b,c\n1,"x\ny",3\n"q""uoted","with,comma",""\n,,\nlast,"line\r\nbreak",end\n' +
      createGenerator({ seed: 7 }).batch(200).csv;
    const expected = parse(text, { relax_column_count: true, skip_empty_lines: true }) as string[][];
    for (const chunk of [1, 2, 3, 7, 64, 4096, text.length]) {
      expect(read(text, chunk).map((r) => r.fields)).toEqual(expected);
    }
    const crlf = text.replace(/\n/g, '\r\n');
    const expectedCrlf = parse(crlf, { relax_column_count: true, skip_empty_lines: true }) as string[][];
    expect(read(crlf, 5).map((r) => r.fields)).toEqual(expectedCrlf);
  });

  it('keeps physical line numbers and raw text, skips empty lines', () => {
    const records = read('h1,h2\r\n\r\n1,"a\nb"\n2,3');
    expect(records).toEqual([
      { line: 1, raw: 'h1,h2', fields: ['h1', 'h2'] },
      { line: 3, raw: '1,"a\nb"', fields: ['1', 'a\nb'] },
      { line: 5, raw: '2,3', fields: ['2', '3'] },
    ]);
  });

  it('rejects a broken line alone and keeps reading the next ones', () => {
    const text = 'ok,1\n4,5"q",6\n7,"bad"x,9\n10,11\n"unterminated,12\n13,14\n"a""b",c\n';
    for (const chunk of [1, 5, text.length]) {
      expect(read(text, chunk)).toEqual([
        { line: 1, raw: 'ok,1', fields: ['ok', '1'] },
        { line: 2, raw: '4,5"q",6', fields: null },
        { line: 3, raw: '7,"bad"x,9', fields: null },
        { line: 4, raw: '10,11', fields: ['10', '11'] },
        { line: 5, raw: '"unterminated,12', fields: null },
        { line: 6, raw: '13,14', fields: ['13', '14'] },
        { line: 7, raw: '"a""b",c', fields: ['a"b', 'c'] },
      ]);
    }
  });

  it('gives up on an over-long quoted record after maxRecordChars, not at the end of the file', () => {
    const text = `"open,${'x'.repeat(50)}\n${'y,z\n'.repeat(20)}`;
    const records = read(text, 10, 40);
    expect(records[0]).toMatchObject({ line: 1, fields: null });
    expect(records.slice(1).every((r) => r.fields?.join() === 'y,z')).toBe(true);
    expect(records).toHaveLength(21);
  });

  it('reads a final line without a line break, and an unterminated quote at the very end', () => {
    expect(read('a,b\n"c,d').map((r) => r.fields)).toEqual([['a', 'b'], null]);
  });
});
