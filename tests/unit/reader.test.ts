import { describe, expect, it } from 'vitest';
import { prng } from '../../functions/generator/generate.ts';
import { Chunk } from '../../functions/ingest/chunk.ts';
import { firstOccurrences } from '../../functions/ingest/plan.ts';
import { ObjectReader, type ReadStart } from '../../functions/ingest/reader.ts';
import { doc, ev, HEADER } from '../fixtures/cases.ts';

/**
 * The bytes-to-rows reader: whatever the byte chunking, and wherever reading stops for a commit,
 * a new reader started at the checkpoint (byte offset, line, header) with the object's bytes from
 * that offset on — what a ranged GET returns — reads exactly the rows that were left.
 */

const NOW = Date.parse('2026-11-21T12:00:00Z');

interface Row {
  kind: 'valid' | 'reject';
  line: number;
  text: string;
}

/** Everything a chunk received, flattened to comparable rows. */
function rowsOf(chunk: Chunk): Row[] {
  const valid = Array.from({ length: chunk.rowCount }, (_, i) => ({
    kind: 'valid' as const,
    line: chunk.lineOf(i),
    text: chunk.rawOf(i),
  }));
  const rejects = chunk.rejects.map((r) => {
    const m = /^[^,]*,[^,]*,[^,]*,(\d+),([a-z_]+),/.exec(r);
    return { kind: 'reject' as const, line: Number(m?.[1]), text: r };
  });
  return [...valid, ...rejects].sort((a, b) => a.line - b.line);
}

/** Read `bytes` from `start`, stopping every `limit` records; returns the rows and the checkpoints. */
function read(bytes: Uint8Array, start: ReadStart, pieces: number, limit: number, stopAfter?: number) {
  const reader = new ObjectReader(() => NOW, start);
  const chunk = new Chunk();
  chunk.begin(0, 'b', 'k', 'e');
  let fed = 0;
  let stops = 0;
  const feed = () => {
    if (fed >= bytes.length) return false;
    const n = Math.max(1, pieces);
    reader.feed(bytes.subarray(fed, fed + n));
    fed += n;
    return true;
  };
  for (;;) {
    const full = reader.fill(chunk, (stops + 1) * limit);
    if (full) {
      stops++;
      if (stopAfter !== undefined && stops >= stopAfter)
        return { rows: rowsOf(chunk), position: reader.position, header: reader.header, done: false };
      continue;
    }
    if (reader.done) break;
    if (!feed()) reader.end();
  }
  return { rows: rowsOf(chunk), position: reader.position, header: reader.header, done: true };
}

describe('ObjectReader', () => {
  const rand = prng(7);
  const rows = Array.from({ length: 300 }, (_, i) =>
    i % 37 === 5
      ? 'broken,"quote"x,line'
      : i % 41 === 3
        ? ev({ product_name: `Qu"oted, and\nmulti-line ${'é'.repeat(i % 5)}` })
        : i % 13 === 0
          ? ev({ product_name: `Café ${'😀'.repeat(i % 3)}`, event_type: 'VIEW' })
          : ev(),
  );
  const text = `\ufeff${doc(rows, { eol: '\r\n' })}`;
  const bytes = new TextEncoder().encode(text);

  it('reads the same rows whatever the byte chunking', () => {
    const whole = read(bytes, { byte: 0, line: 1 }, bytes.length, 1e9);
    expect(whole.done).toBe(true);
    expect(whole.rows.length).toBe(300);
    expect(whole.header).toBe(HEADER);
    for (const size of [1, 2, 3, 7, 100, 4096])
      expect(read(bytes, { byte: 0, line: 1 }, size, 1e9).rows).toEqual(whole.rows);
  });

  it('resumes at any checkpoint with the bytes from its offset on, and reads exactly the rest', () => {
    const whole = read(bytes, { byte: 0, line: 1 }, 4096, 1e9).rows;
    for (let trial = 0; trial < 40; trial++) {
      const limit = 1 + Math.floor(rand() * 120);
      const pieces = 1 + Math.floor(rand() * 3000);
      const first = read(bytes, { byte: 0, line: 1 }, pieces, limit, 1);
      if (first.done) continue;
      // The checkpoint lies on a record boundary: the bytes before it end with a line break.
      expect(bytes[first.position.byte - 1]).toBe(10);
      const rest = read(
        bytes.subarray(first.position.byte),
        { ...first.position, header: first.header ?? null },
        pieces,
        1e9,
      );
      // Offsets of the resumed reader count from the object's start.
      expect(rest.position.byte).toBe(bytes.length);
      expect([...first.rows, ...rest.rows]).toEqual(whole);
    }
  });

  it('rejects bytes that are not UTF-8 wherever they are', () => {
    const bad = new Uint8Array([...new TextEncoder().encode(doc([ev(), ev()])), 0xc3, 0x28, 10]);
    expect(() => read(bad, { byte: 0, line: 1 }, 5, 1e9)).toThrow(/not valid UTF-8/);
  });
});

describe('firstOccurrences', () => {
  it.each([
    ['random (v4) ids', 0],
    ['time-ordered (v7) ids, sharing their first 9 digits', 9],
    ['ids equal in their first 16 digits', 19],
    ['ids equal up to their last 2 digits', 34],
  ])('gives the first row of each event_id, in event_id order, skipping excluded parts: %s', (_, shared) => {
    const rand = prng(3);
    const hex = () => Math.floor(rand() * 16).toString(16);
    const prefix = Array.from({ length: 36 }, (_, i) => ([8, 13, 18, 23].includes(i) ? '-' : hex()));
    const id = () =>
      Array.from({ length: 36 }, (_, i) =>
        [8, 13, 18, 23].includes(i) ? '-' : i < shared ? prefix[i] : hex(),
      ).join('');
    const pool = Array.from({ length: 400 }, id);
    const chunk = new Chunk();
    for (let p = 0; p < 4; p++) {
      chunk.begin(p, 'b', `k${p}`, 'e');
      for (let i = 0; i < 600; i++) chunk.valid(`${pool[Math.floor(rand() * pool.length)]},view,u`, i + 2, 0);
    }
    for (const exclude of [new Set<number>(), new Set([1]), new Set([0, 3])]) {
      const naive = new Map<string, number>();
      for (let i = 0; i < chunk.rowCount; i++) {
        const v = chunk.idOf(i);
        if (!exclude.has(chunk.partOf(i)) && !naive.has(v)) naive.set(v, i);
      }
      const want = [...naive.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, i]) => i);
      expect([...firstOccurrences(chunk, exclude)]).toEqual(want);
    }
  });
});
