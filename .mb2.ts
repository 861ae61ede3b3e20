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
for (let k = 0; k < 30; k++) buildChunk();
const N = 200;
const t = performance.now();
for (let k = 0; k < N; k++) buildChunk();
console.log('read µs/row', ((performance.now() - t) / (N * 10000)) * 1000);
