import { createGenerator } from './functions/generator/generate.ts';
import { Chunk } from './functions/ingest/chunk.ts';
import { ObjectReader } from './functions/ingest/reader.ts';
const gen = createGenerator({ seed: 1, duplicateRate: 0.01 });
const bodies = Array.from({ length: 10 }, () => Buffer.from(gen.batch(1000).csv));
function buildChunk() {
  const chunk = new Chunk();
  bodies.forEach((b, i) => {
    const r = new ObjectReader(Date.now, { byte: 0, line: 1 });
    chunk.begin(i, 'bucket', `events/2026/11/26/12/${i}.csv`, 'etag');
    for (let o = 0; o < b.length; o += 65536) { r.feed(b.subarray(o, o + 65536)); r.fill(chunk, 1e9); }
    r.end(); r.fill(chunk, 1e9);
  });
  return chunk;
}
const HEXV = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEXV[48 + i] = i;
for (let i = 0; i < 6; i++) HEXV[97 + i] = 10 + i;
/** Indexes of the first occurrence of each id, sorted by id. */
function sortedFirsts(ids: string[]): Int32Array {
  const n = ids.length;
  const BITS = 12;
  const buckets = new Int32Array((1 << BITS) + 1);
  const key = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = ids[i]!;
    const k = (HEXV[s.charCodeAt(0)]! << 8) | (HEXV[s.charCodeAt(1)]! << 4) | HEXV[s.charCodeAt(2)]!;
    key[i] = k;
    buckets[k + 1]!++;
  }
  for (let b = 0; b < 1 << BITS; b++) buckets[b + 1]! += buckets[b]!;
  const order = new Int32Array(n);
  const pos = buckets.slice(0, 1 << BITS);
  for (let i = 0; i < n; i++) order[pos[key[i]!]!++] = i;
  // insertion sort within buckets (stable: equal ids keep index order), then drop repeats
  const out = new Int32Array(n);
  let m = 0;
  for (let b = 0; b < 1 << BITS; b++) {
    const lo = buckets[b]!, hi = buckets[b + 1]!;
    for (let i = lo + 1; i < hi; i++) {
      const x = order[i]!; const xs = ids[x]!;
      let j = i - 1;
      while (j >= lo && ids[order[j]!]! > xs) { order[j + 1] = order[j]!; j--; }
      order[j + 1] = x;
    }
    for (let i = lo; i < hi; i++) {
      const x = order[i]!;
      if (i > lo && ids[order[i - 1]!] === ids[x]) continue;
      out[m++] = x;
    }
  }
  return out.subarray(0, m);
}
for (let k = 0; k < 20; k++) buildChunk();
const N = 100;
const chunks: Chunk[] = [];
for (let k = 0; k < N; k++) chunks.push(buildChunk());
for (let rep = 0; rep < 3; rep++) {
let t = performance.now();
const sorted = chunks.map((c) => sortedFirsts(c.ids));
const tSort = ((performance.now() - t) / (N * 10000)) * 1000;
t = performance.now();
let bytes = 0;
for (let c = 0; c < N; c++) {
  const chunk = chunks[c]!; const idx = sorted[c]!;
  let buf = Buffer.allocUnsafe(1 << 20); let off = 0;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    if (off + 4096 > buf.length) { bytes += off; buf = Buffer.allocUnsafe(1 << 20); off = 0; }
    off += buf.latin1Write(chunk.texts[i]!, off);
    off += buf.latin1Write(chunk.parts[chunk.partOf[i]!]!.source, off);
    off += buf.latin1Write(String(chunk.lines[i]), off);
    buf[off++] = 10;
  }
  bytes += off;
}
const tBuf = ((performance.now() - t) / (N * 10000)) * 1000;
t = performance.now();
for (let c = 0; c < N; c++) {
  const chunk = chunks[c]!; const idx = sorted[c]!;
  const parts: string[] = new Array(idx.length);
  for (let k = 0; k < idx.length; k++) { const i = idx[k]!; parts[k] = chunk.texts[i]! + chunk.parts[chunk.partOf[i]!]!.source + chunk.lines[i] + '\n'; }
  bytes += Buffer.from(parts.join('')).length;
}
const tJoin = ((performance.now() - t) / (N * 10000)) * 1000;
console.log({ tSort, tBuf, tJoin });
}
