/**
 * `npm run generate`: write CSV objects of fake events to the bucket (or a folder), as the scheduled
 * generator function does, with options for how many, how fast, how bad and how repeatable.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { createGenerator, objectKey } from '../../functions/generator/generate.ts';
import { encode, publishBatch } from '../../functions/generator/publish.ts';
import { topology } from '../../infra/topology.ts';

const HELP = `Usage: npm run generate -- [options]
  --events <n>          events per object (default 100)
  --batches <n>         objects to write (default 1; ignored with --continuous)
  --interval <s>        seconds between objects (default 0)
  --continuous          keep writing until Ctrl+C
  --seed <n>            reproducible output
  --bad-rate <r>        share of deliberately bad rows (default 0)
  --duplicate-rate <r>  share of repeated event_ids, also across objects (default 0)
  --compress <c>        gzip or zstd: write .csv.gz / .csv.zst objects (ingest decompresses them)
  --out <dir>           write files to this folder instead of the bucket
  --bucket <name>       bucket (default ${topology.names.bucket})
  --prefix <p>          key prefix (default ${topology.notification.prefix})
The bucket is reached at AWS_ENDPOINT_URL, else at the embedded endpoint http://127.0.0.1:4566 of
a running \`npm start\`; with --aws, at AWS itself (standard credentials).`;

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100' },
    batches: { type: 'string', default: '1' },
    interval: { type: 'string', default: '0' },
    continuous: { type: 'boolean', default: false },
    seed: { type: 'string' },
    'bad-rate': { type: 'string', default: '0' },
    'duplicate-rate': { type: 'string', default: '0' },
    out: { type: 'string' },
    compress: { type: 'string' },
    bucket: { type: 'string', default: topology.names.bucket },
    prefix: { type: 'string', default: topology.notification.prefix },
    aws: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

const compress = values.compress;
if (compress !== undefined && compress !== 'gzip' && compress !== 'zstd') {
  console.error(`--compress must be gzip or zstd, got "${compress}"`);
  process.exit(1);
}
const events = Number(values.events);
const batches = values.continuous ? Number.POSITIVE_INFINITY : Number(values.batches);
const intervalMs = Number(values.interval) * 1000;
const generator = createGenerator({
  ...(values.seed ? { seed: Number(values.seed) } : {}),
  badRate: Number(values['bad-rate']),
  duplicateRate: Number(values['duplicate-rate']),
});
const endpoint = values.aws ? undefined : (process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:4566');
const s3 = new S3Client({
  region: process.env.AWS_REGION ?? 'us-east-1',
  ...(endpoint
    ? {
        endpoint,
        forcePathStyle: true,
        credentials: {
          accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test',
          secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
        },
      }
    : {}),
});
const quiet = { debug() {}, info() {}, warn: console.warn, error: console.error };

let stop = false;
process.on('SIGINT', () => {
  stop = true;
});
const tty = process.stderr.isTTY;
const started = Date.now();
let written = 0;
let totals = { events: 0, bad: 0, duplicates: 0, bytes: 0 };
for (let i = 0; i < batches && !stop; i++) {
  let where: string;
  if (values.out) {
    const batch = generator.batch(events);
    const key = objectKey(values.prefix, new Date(), String(i).padStart(6, '0'), compress);
    const file = path.join(values.out, key);
    await mkdir(path.dirname(file), { recursive: true });
    const body = encode(batch.csv, compress);
    await writeFile(file, body);
    where = file;
    totals = add(totals, { ...batch, bytes: body.length });
  } else {
    const out = await publishBatch({ s3, logger: quiet, clock: Date.now }, generator, {
      bucket: values.bucket,
      prefix: values.prefix,
      events,
      ...(compress ? { compress } : {}),
    });
    where = `s3://${out.bucket}/${out.key}`;
    totals = add(totals, out);
  }
  written++;
  const rate = totals.events / Math.max(0.001, (Date.now() - started) / 1000);
  const of = Number.isFinite(batches) ? `/${batches}` : '';
  const line = `[${written}${of}] ${totals.events} events (${totals.bad} bad, ${totals.duplicates} duplicates), ${(totals.bytes / 1e6).toFixed(1)} MB, ${Math.round(rate)} events/s → ${where}`;
  if (tty) process.stderr.write(`\r\x1b[K${line}`);
  else console.error(line);
  if (intervalMs > 0 && i + 1 < batches && !stop) await new Promise((r) => setTimeout(r, intervalMs));
}
if (tty) process.stderr.write('\n');
console.error(
  `done: ${written} objects, ${totals.events} events in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);

function add(t: typeof totals, b: { events: number; bad: number; duplicates: number; bytes: number }) {
  return {
    events: t.events + b.events,
    bad: t.bad + b.bad,
    duplicates: t.duplicates + b.duplicates,
    bytes: t.bytes + b.bytes,
  };
}
