// scratch: CPU per row of ingestObjects with an in-memory S3
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createGenerator } from './functions/generator/generate.ts';
import { ingestObjects } from './functions/ingest/ingest.ts';
import { createScratchDatabase } from './scripts/local/scratch-db.ts';

const files = Number(process.argv[2] ?? 200);
const rowsPer = Number(process.argv[3] ?? 1000);
const batch = Number(process.argv[4] ?? 10);
const chunkRows = Number(process.argv[5] ?? 50000);
const gen = createGenerator({ seed: 1, badRate: 0.01, duplicateRate: 0.01 });
const bodies = Array.from({ length: files }, () => Buffer.from(gen.batch(rowsPer).csv));
const s3 = {
  send: async (c: unknown) => {
    if (c instanceof GetObjectCommand) {
      const i = Number(c.input.Key?.split('/').pop()?.split('.')[0]);
      const b = bodies[i] as Buffer;
      const range = c.input.Range ? Number(/bytes=(\d+)-/.exec(c.input.Range)?.[1]) : 0;
      const body = b.subarray(range);
      const pieces: Buffer[] = [];
      for (let o = 0; o < body.length; o += 65536) pieces.push(body.subarray(o, o + 65536));
      return { Body: Readable.from(pieces) };
    }
    throw new Error('unexpected');
  },
} as unknown as S3Client;
const db = await createScratchDatabase('postgres://postgres@127.0.0.1:5432/postgres', { prefix: 'scratch' });
const logger = { debug() {}, info() {}, warn(...a: unknown[]) { console.error(a); }, error(...a: unknown[]) { console.error(a); } };
const deps = { s3, db: db.pool, logger, clock: Date.now };
const refs = bodies.map((b, i) => ({ bucket: 'b', key: `events/x/${i}.csv`, etag: `e${i}`, size: b.length }));
// warm
await ingestObjects(deps, [{ bucket: 'b', key: 'events/x/0.csv', etag: 'warm', size: bodies[0]!.length }], { chunkRows, maxRejectRatio: 1 });
await db.pool.query('TRUNCATE user_events, rejected_events, ingested_objects');
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let rows = 0;
for (let i = 0; i < refs.length; i += batch) {
  const out = await ingestObjects(deps, refs.slice(i, i + batch), { chunkRows, maxRejectRatio: 1 });
  for (const o of out) { if (o.status !== 'ingested') console.error(o); rows += o.rowsTotal; }
}
const secs = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ rows, secs: +secs.toFixed(2), rowsPerSec: Math.round(rows / secs), cpuUsPerRow: +((cpu.user + cpu.system) / rows).toFixed(2), userUs: +(cpu.user/rows).toFixed(2), sysUs: +(cpu.system/rows).toFixed(2) }));
await db.drop();
