import { createGenerator } from './functions/generator/generate.ts';
import { Chunk } from './functions/ingest/chunk.ts';
import { ObjectReader } from './functions/ingest/reader.ts';
const gen = createGenerator({ seed: 1 });
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
const N = 50;
let t = performance.now();
let chunks: Chunk[] = [];
for (let k = 0; k < N; k++) chunks.push(buildChunk());
const tRead = (performance.now() - t) / (N * 10000) * 1000;
t = performance.now();
for (const chunk of chunks) {
  const { ids } = chunk; const seen = new Set<string>(); const keep: number[] = [];
  for (let i = 0; i < ids.length; i++) { const id = ids[i]!; if (seen.has(id)) continue; seen.add(id); keep.push(i); }
}
const tSeen = (performance.now() - t) / (N * 10000) * 1000;
t = performance.now();
let total = 0;
for (const chunk of chunks) { const s = `{${chunk.ids.join(',')}}`; total += s.length; }
const tJoin = (performance.now() - t) / (N * 10000) * 1000;
t = performance.now();
const outs: string[][] = [];
for (const chunk of chunks) {
  const out: string[] = [];
  for (let i = 0; i < chunk.ids.length; i++) out.push(`${chunk.texts[i]}${chunk.parts[chunk.partOf[i]!]!.source}${chunk.lines[i]}\n`);
  outs.push(out);
}
const tConcat = (performance.now() - t) / (N * 10000) * 1000;
t = performance.now();
for (const out of outs) out.sort();
const tSort = (performance.now() - t) / (N * 10000) * 1000;
t = performance.now();
for (const out of outs) { let piece = ''; for (const l of out) { piece += l; if (piece.length > 262144) { Buffer.from(piece); piece = ''; } } Buffer.from(piece); }
const tPiece = (performance.now() - t) / (N * 10000) * 1000;
console.log({ tRead, tSeen, tJoin, tConcat, tSort, tPiece });
