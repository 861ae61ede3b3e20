/**
 * `npm run bench`: end-to-end throughput and latency of the pipeline on this machine, against the
 * machine's own limit (plain COPY of the same files), written to `bench/results.json` and
 * `docs/performance.md` (with a generated SVG chart).
 *
 * Every scenario drives the real path: CSV objects PUT to the embedded S3 endpoint → S3-format
 * notification → SQS → Lambda-style poller → the ingest handler (in its own process) → PostgreSQL
 * (`DATABASE_URL`, a fresh database per repetition). Figures are medians over repetitions.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { createGenerator } from '../../../functions/generator/generate.ts';
import { putObject } from '../../../functions/shared/upload.ts';
import { ROOT } from '../../../infra/paths.ts';
import { topology } from '../../../infra/topology.ts';
import { DEFAULT_SERVER_SETTINGS, startEmbeddedPostgres } from '../../local/database.ts';
import { freePort } from '../chaos/harness.ts';
import {
  type BenchDatabase,
  type BenchEndpoint,
  benchEndpoint,
  copyBaseline,
  freshDatabase,
  type LedgerSummary,
  ledger,
  ledgerCount,
  put,
  queueDepth,
  serverVersion,
  startWorker,
  templateDatabase,
  until,
} from './harness.ts';
import { pgloaderPeer } from './pgloader.ts';
import {
  type BenchResults,
  renderMarkdown,
  renderSvg,
  renderTable,
  type ScalingPoint,
  type ScalingResults,
} from './report.ts';
import { dashboardQueryMs, type IdKind, prefill, useIndexesBefore } from './scaling.ts';

const HELP = `Usage: npm run bench -- [options]
  --quick                 small sizes (≤ 30 s), for CI; writes to .data/bench-quick/ unless told otherwise
  --reps <n>              repetitions per figure (default 3, quick 1; the median is reported)
  --objects <n>           objects per end-to-end run (default 200; quick 10)
  --rows-per-object <n>   rows per object (default ${topology.generator.eventsPerObject}, the generator's)
  --half-seconds <s>      duration of each half-load run (default 5; quick 1)
  --large-rows <n>        rows of the large object (default 500000; quick 20000)
  --large-reps <n>        repetitions of the large object (default = --reps)
  --scaling-rows <n>      rows of the object compared with the large one, read through continuations
                          under the topology's function timeout (default 5000000; quick 100000)
  --gzip-rows <n>         rows of the gzip object whose peak RSS is compared with the plain large
                          object's (default 7000000, about 1 GiB decompressed; quick 20000)
  --results <file>        where to write the JSON (default bench/results.json)
  --docs <dir>            where to write performance.md and performance.svg (default docs/)
  --render <results.json> only re-render performance.md and the chart from a results file
  --profile <dir>         write a CPU profile of every ingest worker there (node --cpu-prof)
  --scaling               table-size scaling instead of the other figures: the end-to-end run on an
                          empty user_events and on one prefilled with --prefill rows (default
                          50000000), on the embedded PostgreSQL with the project's settings; writes
                          bench/scaling.json, which the report reads
  --prefill <rows>        rows to prefill for --scaling (implies --scaling)
  --ids <v7|v4>           event_ids of the prefill and the files in --scaling (default v7, the generator's)
  --indexes <now|before>  --scaling with the schema's indexes, or with the three secondary B-trees user_events
                          had before sql/0005 (to measure what the change bought)
  --pg-defaults           --scaling with PostgreSQL's own defaults for the settings the topology owns
  --peers, --no-peers     load the same files with pgloader too, when installed (default on; off under --quick)
  --embedded              run on the embedded PostgreSQL with the project's settings (topology.database)
                          instead of DATABASE_URL's server
DATABASE_URL names the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres);
each repetition creates and drops its own database there.`;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    objects: { type: 'string' },
    'rows-per-object': { type: 'string' },
    'half-seconds': { type: 'string' },
    'large-rows': { type: 'string' },
    'large-reps': { type: 'string' },
    'scaling-rows': { type: 'string' },
    'gzip-rows': { type: 'string' },
    results: { type: 'string' },
    docs: { type: 'string' },
    profile: { type: 'string' },
    render: { type: 'string' },
    scaling: { type: 'boolean', default: false },
    prefill: { type: 'string' },
    ids: { type: 'string', default: 'v7' },
    indexes: { type: 'string', default: 'now' },
    'pg-defaults': { type: 'boolean', default: false },
    embedded: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
    peers: { type: 'boolean' },
  },
  allowNegative: true,
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

const quick = args.quick;
const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
const config = {
  reps: num(args.reps, quick ? 1 : 3),
  objects: num(args.objects, quick ? 10 : 200),
  rowsPerObject: num(args['rows-per-object'], topology.generator.eventsPerObject),
  halfSeconds: num(args['half-seconds'], quick ? 1 : 5),
  largeRows: num(args['large-rows'], quick ? 20_000 : 500_000),
  largeReps: num(args['large-reps'], num(args.reps, quick ? 1 : 3)),
  scalingRows: num(args['scaling-rows'], quick ? 100_000 : 5_000_000),
  gzipRows: num(args['gzip-rows'], quick ? 20_000 : 7_000_000),
  generatorSeconds: quick ? 0.3 : 1,
  batchSize: topology.ingest.batchSize,
  concurrency: topology.ingest.maxConcurrency,
  /** Max-rate runs fill batches as fast as the queue gives them: no batching window. */
  batchingWindowMs: 0,
};
for (const [k, v] of Object.entries(config))
  if (typeof v === 'number' && !(v >= 0)) throw new Error(`--${k} must be a non-negative number`);
const outDir = quick ? path.join(ROOT, '.data', 'bench-quick') : undefined;
const resultsPath = path.resolve(
  args.results ?? (outDir ? path.join(outDir, 'results.json') : path.join(ROOT, 'bench', 'results.json')),
);
const docsDir = path.resolve(args.docs ?? outDir ?? path.join(ROOT, 'docs'));
/** The server each repetition makes its databases on (`--embedded` replaces it at start). */
let adminUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
/** The server's settings when the bench started it (`--embedded`), for the report. */
let serverSettings: Record<string, string | number | boolean> | undefined;

const t0 = performance.now();
const progress = (line: string) =>
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);

/** The committed run on the machine's PostgreSQL with its default settings, if any (for the report). */
async function systemPostgresResults(): Promise<BenchResults | undefined> {
  const text = await readFile(path.join(ROOT, 'bench', 'results-system-postgres.json'), 'utf8').catch(
    () => undefined,
  );
  return text === undefined ? undefined : (JSON.parse(text) as BenchResults);
}

/** The committed table-scaling results (v7, then v4 if present), for the report. */
async function scalingResults(): Promise<ScalingResults[]> {
  const out: ScalingResults[] = [];
  for (const name of [
    'scaling.json',
    'scaling-pg-defaults.json',
    'scaling-v4.json',
    'scaling-v4-indexes-before.json',
  ]) {
    const file = path.join(ROOT, 'bench', name);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) out.push(JSON.parse(text) as ScalingResults);
  }
  return out;
}

/** Median of numbers (mean of the middle two for an even count). */
export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

const pcts = (xs: number[]) => ({
  p50: percentile(xs, 50),
  p95: percentile(xs, 95),
  p99: percentile(xs, 99),
});
const medianPcts = (runs: { p50: number; p95: number; p99: number }[]) => ({
  p50: median(runs.map((r) => r.p50)),
  p95: median(runs.map((r) => r.p95)),
  p99: median(runs.map((r) => r.p99)),
});
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A set of CSV objects, generated before any timing starts. */
interface Files {
  buffers: Buffer[];
  rows: number;
}

function makeFiles(
  count: number,
  rowsPerObject: number,
  rates: { badRate: number; duplicateRate: number },
  seed: number,
  eventIds: 'v7' | 'v4' = 'v7',
): Files {
  const gen = createGenerator({ seed, eventIds, ...rates });
  const buffers = Array.from({ length: count }, () => Buffer.from(gen.batch(rowsPerObject).csv, 'utf8'));
  return { buffers, rows: count * rowsPerObject };
}

/** One end-to-end run's figures. */
interface RunResult {
  seconds: number;
  rowsPerSec: number;
  objectsPerSec: number;
  latency: { p50: number; p95: number; p99: number };
  summary: LedgerSummary;
  replaySeconds?: number;
  /** CPU per row during the run (µs): the ingest process, this process (endpoint, bridge, PUTs), all cores × wall. */
  cpuUsPerRow: { ingestProcess: number; endpointAndDriver: number; available: number };
}

const RUN_PREFIX = 'events/run/';
/** The run's migrated template database: each repetition's fresh database is a copy of it. */
let template: string | undefined;
const WARMUP = makeFiles(1, 100, { badRate: 0, duplicateRate: 0 }, 7).buffers[0] as Buffer;

/**
 * One repetition: fresh database, lane and ingest worker; a warm-up object (so the figure is the
 * warm function's, not its cold start); then PUT the files — all at once with a few PUTs in flight,
 * or at `rate` objects/s — and wait until the ledger has every one. Optionally replay: re-send every
 * object's notification and time until the queue is empty again.
 */
async function endToEnd(
  ep: BenchEndpoint,
  files: Files,
  options: { rate?: number; replay?: boolean; batchingWindowMs?: number; db?: BenchDatabase },
): Promise<RunResult> {
  const db = options.db ?? (await freshDatabase(adminUrl, template));
  const lane = await ep.lane();
  const bucket = lane.resources.bucket;
  const worker = await startWorker({
    databaseUrl: db.url,
    endpointUrl: ep.url,
    lane,
    batchSize: config.batchSize,
    concurrency: config.concurrency,
    batchingWindowMs: options.batchingWindowMs ?? config.batchingWindowMs,
    ...(args.profile ? { profileDir: path.resolve(args.profile) } : {}),
  });
  try {
    await put(ep.s3, bucket, 'events/warmup/0.csv', WARMUP);
    await until(
      'the warm-up object',
      async () => ((await ledgerCount(db.pool, bucket, 'events/warmup/')) === 1 ? true : undefined),
      60_000,
    );
    await until(
      'an empty queue after warm-up',
      async () => ((await queueDepth(ep.sqs, lane.resources.queueUrl)) === 0 ? true : undefined),
      30_000,
    );

    const n = files.buffers.length;
    const key = (i: number) => `${RUN_PREFIX}${String(i).padStart(6, '0')}.csv`;
    const workerCpu0 = await worker.cpuSeconds();
    const ownCpu0 = process.cpuUsage();
    const started = Date.now();
    if (options.rate) {
      const interval = 1000 / options.rate;
      const puts: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const wait = started + i * interval - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        puts.push(put(ep.s3, bucket, key(i), files.buffers[i] as Buffer));
      }
      await Promise.all(puts);
    } else {
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = next++; i < n; i = next++)
            await put(ep.s3, bucket, key(i), files.buffers[i] as Buffer);
        }),
      );
    }
    const timeoutMs = 60_000 + (files.rows / 5_000) * 1000;
    await until(
      'every object in the ledger',
      async () => ((await ledgerCount(db.pool, bucket, RUN_PREFIX)) === n ? true : undefined),
      timeoutMs,
    );
    const summary = await ledger(db.pool, bucket, RUN_PREFIX);
    if (summary.rowsTotal !== files.rows || summary.failed > 0)
      throw new Error(
        `ledger has ${summary.rowsTotal} rows / ${summary.failed} failed objects; expected ${files.rows} rows`,
      );
    const seconds = (summary.lastIngestedMs - started) / 1000;
    const ownCpu = process.cpuUsage(ownCpu0);
    const workerCpu = (await worker.cpuSeconds()) - workerCpu0;
    const result: RunResult = {
      seconds,
      rowsPerSec: files.rows / seconds,
      objectsPerSec: n / seconds,
      latency: pcts(summary.latenciesMs),
      summary,
      cpuUsPerRow: {
        ingestProcess: (workerCpu * 1e6) / files.rows,
        endpointAndDriver: (ownCpu.user + ownCpu.system) / files.rows,
        available: (seconds * 1e6 * os.cpus().length) / files.rows,
      },
    };

    if (options.replay) {
      await until(
        'an empty queue before replay',
        async () => ((await queueDepth(ep.sqs, lane.resources.queueUrl)) === 0 ? true : undefined),
        30_000,
      );
      const events = lane.created.filter((e) => e.key.startsWith(RUN_PREFIX));
      const replayStarted = performance.now();
      for (const e of events) lane.bridge.notify(e);
      await lane.bridge.drain();
      await until(
        'the replayed notifications to be consumed',
        async () => ((await queueDepth(ep.sqs, lane.resources.queueUrl)) === 0 ? true : undefined),
        timeoutMs,
        5,
      );
      result.replaySeconds = (performance.now() - replayStarted) / 1000;
      const after = await ledger(db.pool, bucket, RUN_PREFIX);
      if (after.objects !== n || after.rowsInserted !== summary.rowsInserted)
        throw new Error('replay changed the ledger: exactly-once is broken');
    }
    return result;
  } finally {
    const { stats } = await worker.stop();
    if (stats.failed > 0)
      progress(`  note: ${stats.failed} records were retried (worker: ${worker.stderr().slice(-300)})`);
    await ep.empty(lane);
    if (!options.db) await db.drop();
  }
}

/** `rows` generated events as CSV pieces of about 7.5 MB, one header at the start. */
function* csvPieces(rows: number): Generator<Buffer> {
  const gen = createGenerator({ seed: 99, badRate: 0, duplicateRate: 0 });
  const PIECE_ROWS = 40_000;
  for (let done = 0; done < rows; done += PIECE_ROWS) {
    const csv = gen.batch(Math.min(PIECE_ROWS, rows - done)).csv;
    yield Buffer.from(done === 0 ? csv : csv.slice(csv.indexOf('\n') + 1), 'utf8');
  }
}

/**
 * The large object: generated piece by piece and streamed to the bucket by the project's uploader,
 * which sends it in parts (plain CSV, or one gzip stream as a `.csv.gz`); each repetition gets a fresh database and worker, re-sends the
 * object's notification and times it to the commit. The worker's peak RSS is read after the object
 * is done.
 */
async function largeObject(ep: BenchEndpoint, rows: number, reps: number, encoding?: 'gzip') {
  const lane = await ep.lane();
  const bucket = lane.resources.bucket;
  const key = encoding === 'gzip' ? 'events/large/object.csv.gz' : 'events/large/object.csv';
  lane.muted = true;
  const uploadStarted = performance.now();
  const csv = Readable.from(csvPieces(rows));
  await putObject(ep.s3, {
    bucket,
    key,
    body: encoding === 'gzip' ? csv.pipe(createGzip()) : csv,
    contentType: 'text/csv',
  });
  await until('the object-created event', async () => lane.created.find((e) => e.key === key), 10_000);
  const created = lane.created.find((e) => e.key === key);
  if (!created) throw new Error('no object-created event for the large object');
  lane.muted = false;
  progress(
    `  large object: ${fmt(rows)} rows, ${(created.size / 2 ** 20).toFixed(0)} MiB generated and uploaded in ${((performance.now() - uploadStarted) / 1000).toFixed(1)} s`,
  );

  const runs: LargeRun[] = [];
  try {
    for (let r = 0; r < reps; r++) {
      // A queue of its own per repetition: a long poll cut short when the previous worker stopped
      // can leave the endpoint holding a receive that would swallow the next message.
      const repLane = await ep.lane(bucket);
      const db = await freshDatabase(adminUrl, template);
      // The function timeout of the topology: a large object goes on in new invocations.
      const worker = await startWorker({
        databaseUrl: db.url,
        endpointUrl: ep.url,
        lane: repLane,
        batchingWindowMs: 0,
      });
      const run: LargeRun = {
        seconds: Number.NaN,
        peakRssMb: Number.NaN,
        continuations: 0,
        chunks: 0,
        contentMb: Number.NaN,
      };
      try {
        const started = Date.now();
        repLane.bridge.notify(created);
        await until(
          'the large object in the ledger',
          async () => ((await ledgerCount(db.pool, bucket, key)) === 1 ? true : undefined),
          60_000 + rows / 5,
          100,
        );
        const s = await ledger(db.pool, bucket, key);
        if (s.rowsTotal !== rows || s.failed)
          throw new Error(`large object: ledger has ${s.rowsTotal} rows, failed ${s.failed}`);
        run.seconds = (s.lastIngestedMs - started) / 1000;
        const { rows: l } = await db.pool.query<{ continuations: number; chunks: number; content: string }>(
          'SELECT continuations, chunks, resume_offset AS content FROM ingested_objects WHERE bucket = $1 AND key = $2',
          [bucket, key],
        );
        run.continuations = l[0]?.continuations ?? 0;
        run.chunks = l[0]?.chunks ?? 0;
        // Once an object is finished its resume offset is its content's size (decompressed).
        run.contentMb = Number(l[0]?.content ?? Number.NaN) / 2 ** 20;
      } finally {
        run.peakRssMb = (await worker.stop()).peakRssMb;
        runs.push(run);
        await db.drop();
      }
      progress(
        `  large object rep ${r + 1}/${reps}: ${run.seconds.toFixed(1)} s (${fmt(rows / run.seconds)} rows/s), ${run.chunks} chunks, ${run.continuations} continuations, peak RSS ${run.peakRssMb.toFixed(0)} MB`,
      );
    }
  } finally {
    await ep.empty(lane);
  }
  const seconds = median(runs.map((r) => r.seconds));
  return {
    rows,
    seconds,
    rowsPerSec: rows / seconds,
    peakRssMb: median(runs.map((r) => r.peakRssMb)),
    continuations: median(runs.map((r) => r.continuations)),
    chunks: median(runs.map((r) => r.chunks)),
    sizeMb: created.size / 2 ** 20,
    contentMb: median(runs.map((r) => r.contentMb)),
  };
}

/** One repetition of a large object. */
interface LargeRun {
  seconds: number;
  peakRssMb: number;
  continuations: number;
  chunks: number;
  /** Size of the object's content after decompression, from the ledger. */
  contentMb: number;
}

/** CSV events generated per second by the generator's domain function (no I/O). */
function generatorRate(seconds: number): number {
  const gen = createGenerator({
    seed: 5,
    badRate: topology.generator.badRate,
    duplicateRate: topology.generator.duplicateRate,
  });
  gen.batch(topology.generator.eventsPerObject); // catalog built, JIT warm
  let events = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    gen.batch(topology.generator.eventsPerObject);
    events += topology.generator.eventsPerObject;
  }
  return events / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  if (!args.embedded) return measure();
  await withEmbeddedServer('bench-embedded', {}, async (url, settings) => {
    adminUrl = url;
    serverSettings = settings;
    await measure();
  });
}

/**
 * Run `work` against a throwaway embedded PostgreSQL with the project's settings (overridden by
 * `settings`; `work` gets the settings in force), its cluster under `.data/<name>`; the server is
 * stopped and the folder removed after.
 */
async function withEmbeddedServer(
  name: string,
  settings: Record<string, string | number | boolean>,
  work: (url: string, settings: Record<string, string | number | boolean>) => Promise<void>,
): Promise<void> {
  const dataDir = path.join(ROOT, '.data', name);
  await rm(dataDir, { recursive: true, force: true });
  const server = await startEmbeddedPostgres({
    dataDir,
    port: await freePort(),
    database: 'postgres',
    settings,
    log: (line) => progress(`  postgres: ${line}`),
  });
  try {
    await work(server.url, { ...DEFAULT_SERVER_SETTINGS, ...settings });
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function measure(): Promise<void> {
  const reps = config.reps;
  progress(
    `bench ${quick ? '(quick) ' : ''}on ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; PostgreSQL ${adminUrl.replace(/:[^:@/]*@/, ':***@')}`,
  );
  const postgres = await serverVersion(adminUrl);
  const loadBefore = os.loadavg()[0] ?? 0;
  const tpl = await templateDatabase(adminUrl);
  template = tpl.name;
  try {
    await scenarios(reps, postgres, loadBefore);
  } finally {
    await tpl.drop();
  }
}

async function scenarios(reps: number, postgres: string, loadBefore: number): Promise<void> {
  progress(`generator: ${reps} × ${config.generatorSeconds} s`);
  const generatorRuns = Array.from({ length: reps }, () => generatorRate(config.generatorSeconds));
  progress(`  generator: ${generatorRuns.map(fmt).join(', ')} events/s`);

  const clean = makeFiles(config.objects, config.rowsPerObject, { badRate: 0, duplicateRate: 0 }, 1);
  const dupMix = makeFiles(config.objects, config.rowsPerObject, { badRate: 0, duplicateRate: 0.3 }, 2);
  const badMix = makeFiles(config.objects, config.rowsPerObject, { badRate: 0.05, duplicateRate: 0 }, 3);
  progress(
    `files: ${config.objects} objects × ${fmt(config.rowsPerObject)} rows (${(clean.buffers.reduce((a, b) => a + b.length, 0) / 2 ** 20).toFixed(1)} MiB) per scenario`,
  );

  const cores = os.cpus().length;
  const copyRuns: number[] = [];
  for (let r = 0; r < reps; r++) {
    copyRuns.push(await copyBaseline(adminUrl, clean.buffers, clean.rows, cores, template));
    progress(
      `  COPY baseline rep ${r + 1}/${reps} (${cores} connections): ${fmt(copyRuns[r] as number)} rows/s`,
    );
  }

  const peers = {
    pgloader:
      (args.peers ?? !quick)
        ? await pgloaderPeer(adminUrl, clean, { reps, template, workers: config.concurrency, progress })
        : { absent: `not run (${quick ? '--quick without --peers' : '--no-peers'})` },
  };

  const ep = await benchEndpoint();
  try {
    const e2eRuns: RunResult[] = [];
    for (let r = 0; r < reps; r++) {
      const run = await endToEnd(ep, clean, { replay: true });
      e2eRuns.push(run);
      progress(
        `  end-to-end rep ${r + 1}/${reps}: ${fmt(run.rowsPerSec)} rows/s, ${run.objectsPerSec.toFixed(0)} objects/s, p50/p95/p99 ${fmt(run.latency.p50)}/${fmt(run.latency.p95)}/${fmt(run.latency.p99)} ms; replay ${run.replaySeconds?.toFixed(2)} s`,
      );
    }
    const maxObjectsPerSec = median(e2eRuns.map((r) => r.objectsPerSec));
    const halfRate = maxObjectsPerSec / 2;
    const halfObjects = Math.max(5, Math.round(halfRate * config.halfSeconds));
    const halfFiles: Files = {
      buffers: clean.buffers.slice(0, halfObjects),
      rows: Math.min(halfObjects, clean.buffers.length) * config.rowsPerObject,
    };
    if (halfObjects > clean.buffers.length) {
      const more = makeFiles(
        halfObjects - clean.buffers.length,
        config.rowsPerObject,
        { badRate: 0, duplicateRate: 0 },
        4,
      );
      halfFiles.buffers.push(...more.buffers);
      halfFiles.rows += more.rows;
    }
    const halfRuns: RunResult[] = [];
    for (let r = 0; r < reps; r++) {
      const run = await endToEnd(ep, halfFiles, { rate: halfRate });
      halfRuns.push(run);
      progress(
        `  half load rep ${r + 1}/${reps} (${halfRate.toFixed(1)} objects/s, ${halfObjects} objects): p50/p95/p99 ${fmt(run.latency.p50)}/${fmt(run.latency.p95)}/${fmt(run.latency.p99)} ms`,
      );
    }
    const halfDefaultRuns: RunResult[] = [];
    // Not a target, and slow (each batch waits out the window): left out of the quick run.
    for (let r = 0; r < (quick ? 0 : reps); r++) {
      const run = await endToEnd(ep, halfFiles, {
        rate: halfRate,
        batchingWindowMs: topology.ingest.batchingWindowSeconds * 1000,
      });
      halfDefaultRuns.push(run);
      progress(
        `  half load, topology window ${topology.ingest.batchingWindowSeconds} s, rep ${r + 1}/${reps}: p50/p95/p99 ${fmt(run.latency.p50)}/${fmt(run.latency.p95)}/${fmt(run.latency.p99)} ms`,
      );
    }
    const mixRuns = { duplicate: [] as RunResult[], bad: [] as RunResult[] };
    for (const [name, files] of [
      ['duplicate', dupMix],
      ['bad', badMix],
    ] as const) {
      for (let r = 0; r < reps; r++) {
        const run = await endToEnd(ep, files, {});
        mixRuns[name].push(run);
        progress(
          `  ${name === 'duplicate' ? '30 % duplicate event_ids' : '5 % bad rows'} rep ${r + 1}/${reps}: ${fmt(run.rowsPerSec)} rows/s (inserted ${fmt(run.summary.rowsInserted)}, duplicate ${fmt(run.summary.rowsDuplicate)}, rejected ${fmt(run.summary.rowsRejected)})`,
        );
      }
    }

    progress(`large object: ${fmt(config.largeRows)} rows × ${config.largeReps}`);
    const large = await largeObject(ep, config.largeRows, config.largeReps);
    progress(
      `large object scaling: ${fmt(config.scalingRows)} rows × 1, function timeout ${topology.ingest.timeoutSeconds} s`,
    );
    const scaled = await largeObject(ep, config.scalingRows, 1);
    progress(`gzip object: ${fmt(config.gzipRows)} rows × 1`);
    const gzipped = await largeObject(ep, config.gzipRows, 1, 'gzip');
    const scale = (o: typeof large) => ({
      rows: o.rows,
      seconds: o.seconds,
      rowsPerSec: o.rowsPerSec,
      peakRssMb: o.peakRssMb,
      continuations: o.continuations,
      chunks: o.chunks,
      sizeMb: o.sizeMb,
      contentMb: o.contentMb,
    });

    const copyRowsPerSec = median(copyRuns);
    const endToEndRowsPerSec = median(e2eRuns.map((r) => r.rowsPerSec));
    const results: BenchResults = {
      copyRowsPerSec,
      endToEndRowsPerSec,
      ratioToCopy: endToEndRowsPerSec / copyRowsPerSec,
      endToEndObjectsPerSec: maxObjectsPerSec,
      latencyMs: medianPcts(e2eRuns.map((r) => r.latency)),
      halfLoadLatencyMs: medianPcts(halfRuns.map((r) => r.latency)),
      halfLoadObjectsPerSec: halfRate,
      halfLoadDefaultWindowLatencyMs: medianPcts(halfDefaultRuns.map((r) => r.latency)),
      cpuUsPerRowAtMaxRate: {
        ingestProcess: median(e2eRuns.map((r) => r.cpuUsPerRow.ingestProcess)),
        endpointAndDriver: median(e2eRuns.map((r) => r.cpuUsPerRow.endpointAndDriver)),
        available: median(e2eRuns.map((r) => r.cpuUsPerRow.available)),
      },
      replaySpeedup: median(e2eRuns.map((r) => r.seconds / (r.replaySeconds ?? Number.NaN))),
      replaySeconds: median(e2eRuns.map((r) => r.replaySeconds ?? Number.NaN)),
      firstIngestSeconds: median(e2eRuns.map((r) => r.seconds)),
      duplicateMixRowsPerSec: median(mixRuns.duplicate.map((r) => r.rowsPerSec)),
      badRowMixRowsPerSec: median(mixRuns.bad.map((r) => r.rowsPerSec)),
      ingestCpuUsPerRow: median(e2eRuns.map((r) => r.cpuUsPerRow.ingestProcess)),
      largeObject: scale(large),
      largeObjectScaling: {
        functionTimeoutSeconds: topology.ingest.timeoutSeconds,
        chunkRows: topology.ingest.chunkRows,
        small: scale(large),
        large: scale(scaled),
        rowsPerSecRatio: scaled.rowsPerSec / large.rowsPerSec,
      },
      gzipLargeObject: scale(gzipped),
      generatorEventsPerSec: median(generatorRuns),
      peers,
      machine: {
        cpus: cores,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memGb: os.totalmem() / 2 ** 30,
        node: process.version,
        postgres,
        loadAverageAtStart: loadBefore,
        ...(serverSettings ? { serverSettings } : {}),
      },
      config: { ...config, quick },
      runs: {
        copyRowsPerSec: copyRuns,
        endToEndRowsPerSec: e2eRuns.map((r) => r.rowsPerSec),
        replaySeconds: e2eRuns.map((r) => r.replaySeconds ?? Number.NaN),
        halfLoadP50Ms: halfRuns.map((r) => r.latency.p50),
        duplicateMixRowsPerSec: mixRuns.duplicate.map((r) => r.rowsPerSec),
        badRowMixRowsPerSec: mixRuns.bad.map((r) => r.rowsPerSec),
        generatorEventsPerSec: generatorRuns,
      },
      totalSeconds: (performance.now() - t0) / 1000,
      at: new Date().toISOString(),
    };
    await mkdir(path.dirname(resultsPath), { recursive: true });
    await writeFile(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
    await mkdir(docsDir, { recursive: true });
    await writeFile(path.join(docsDir, 'performance.svg'), renderSvg(results));
    await writeFile(
      path.join(docsDir, 'performance.md'),
      renderMarkdown(results, await scalingResults(), await systemPostgresResults()),
    );
    process.stdout.write(`${renderTable(results)}\n`);
    progress(
      `wrote ${path.relative(ROOT, resultsPath)}, ${path.relative(ROOT, path.join(docsDir, 'performance.md'))} and performance.svg`,
    );
  } finally {
    await ep.stop();
  }
}

/** PostgreSQL's own defaults for the settings `topology.database` sets (`--pg-defaults`). */
const POSTGRES_DEFAULTS = {
  shared_buffers: '128MB',
  max_wal_size: '1GB',
  checkpoint_timeout: '5min',
  checkpoint_completion_target: 0.9,
};

/**
 * `--scaling`: the end-to-end run (clean files, the topology's batching and concurrency) on an empty
 * `user_events` and on one prefilled with `prefillRows`, each on a database of its own on the
 * embedded PostgreSQL with the project's settings; `reps` runs of different files on each, so the
 * table grows by the run's rows each time (small next to the prefill). Then the dashboard's refresh
 * queries are timed on each. Written to bench/scaling.json (or --results).
 */
async function scalingMain(prefillRows: number, ids: IdKind, indexesBefore: boolean): Promise<void> {
  const settings = args['pg-defaults'] ? POSTGRES_DEFAULTS : {};
  await withEmbeddedServer('bench-scaling', settings, (url, inForce) =>
    scalingRun(url, inForce, prefillRows, ids, indexesBefore),
  );
}

async function scalingRun(
  adminUrl: string,
  settings: Record<string, string | number | boolean>,
  prefillRows: number,
  ids: IdKind,
  indexesBefore: boolean,
): Promise<void> {
  const loadBefore = os.loadavg()[0] ?? 0;
  const tpl = await templateDatabase(adminUrl);
  const ep = await benchEndpoint();
  const reps = args.reps === undefined ? Math.max(5, config.reps) : config.reps;
  const out: ScalingPoint[] = [];
  const empty = await freshDatabase(adminUrl, tpl.name);
  const full = await freshDatabase(adminUrl, tpl.name);
  try {
    const postgres = await serverVersion(adminUrl);
    const filesPerRep = Array.from({ length: reps }, (_, r) =>
      makeFiles(config.objects, config.rowsPerObject, { badRate: 0, duplicateRate: 0 }, 100 + r, ids),
    );
    const warmup = makeFiles(config.objects, config.rowsPerObject, { badRate: 0, duplicateRate: 0 }, 99, ids);
    if (indexesBefore) for (const db of [empty, full]) await useIndexesBefore(db.pool);
    progress(
      `table scaling: ${fmt(prefillRows)} rows prefilled (${ids} ids${indexesBefore ? ', indexes as before' : ''})`,
    );
    const filled = await prefill(full.pool, prefillRows, ids, progress);
    progress(
      `  prefilled in ${filled.seconds.toFixed(0)} s: table ${fmt(filled.tableMb)} MB, primary key ${fmt(filled.primaryKeyMb)} MB`,
    );
    // One unmeasured run on each (processes, caches and both tables warm), then the measured runs
    // alternate between the two tables, so a drift of the machine's speed weighs on both alike.
    for (const db of [empty, full]) await endToEnd(ep, warmup, { db });
    const runs = { empty: [] as number[], full: [] as number[] };
    for (const files of filesPerRep)
      for (const [name, db] of [
        ['empty', empty],
        ['full', full],
      ] as const) {
        const run = await endToEnd(ep, files, { db });
        runs[name].push(run.rowsPerSec);
        progress(`  end-to-end on the ${name} table: ${fmt(run.rowsPerSec)} rows/s`);
      }
    for (const [name, db, rows] of [
      ['empty', empty, 0],
      ['full', full, prefillRows],
    ] as const) {
      const dashboardMs = await dashboardQueryMs(db.pool);
      progress(`  dashboard refresh on the ${name} table: ${dashboardMs.toFixed(1)} ms`);
      out.push({
        prefillRows: rows,
        endToEndRowsPerSec: median(runs[name]),
        runs: runs[name],
        dashboardQueryMs: dashboardMs,
        ...(rows > 0
          ? { prefillSeconds: filled.seconds, tableMb: filled.tableMb, primaryKeyMb: filled.primaryKeyMb }
          : {}),
      });
    }
    const [at0, atN] = [out[0] as ScalingPoint, out[1] as ScalingPoint];
    const results: ScalingResults = {
      ids,
      indexes: indexesBefore ? 'before' : 'now',
      settings: args['pg-defaults'] ? 'postgres-defaults' : 'project',
      tableScaling: out,
      tableScalingRatio: atN.endToEndRowsPerSec / at0.endToEndRowsPerSec,
      ...(prefillRows >= 50_000_000
        ? { tableScaling50M: atN.endToEndRowsPerSec / at0.endToEndRowsPerSec }
        : {}),
      dashboardQueryMs: { empty: at0.dashboardQueryMs, full: atN.dashboardQueryMs },
      dashboardQueryRatio: atN.dashboardQueryMs / at0.dashboardQueryMs,
      serverSettings: settings,
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memGb: os.totalmem() / 2 ** 30,
        node: process.version,
        postgres,
        loadAverageAtStart: loadBefore,
      },
      config: { reps, objects: config.objects, rowsPerObject: config.rowsPerObject },
      totalSeconds: (performance.now() - t0) / 1000,
      at: new Date().toISOString(),
    };
    const variant = `${ids === 'v7' ? '' : `-${ids}`}${indexesBefore ? '-indexes-before' : ''}${args['pg-defaults'] ? '-pg-defaults' : ''}`;
    const file = path.resolve(args.results ?? path.join(ROOT, 'bench', `scaling${variant}.json`));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
    progress(
      `table scaling: ${fmt(atN.endToEndRowsPerSec)} rows/s at ${fmt(atN.prefillRows)} rows vs ${fmt(at0.endToEndRowsPerSec)} at 0 (${results.tableScalingRatio.toFixed(2)} ×); dashboard ${atN.dashboardQueryMs.toFixed(1)} vs ${at0.dashboardQueryMs.toFixed(1)} ms; wrote ${path.relative(ROOT, file)}`,
    );
  } finally {
    await empty.drop().catch(() => {});
    await full.drop().catch(() => {});
    await ep.stop();
    await tpl.drop().catch(() => {});
  }
}

if (args.render) {
  // Re-render the report from a results file (e.g. after editing the report's text), no measuring.
  const results = JSON.parse(await readFile(path.resolve(args.render), 'utf8')) as BenchResults;
  await mkdir(docsDir, { recursive: true });
  await writeFile(path.join(docsDir, 'performance.svg'), renderSvg(results));
  await writeFile(
    path.join(docsDir, 'performance.md'),
    renderMarkdown(results, await scalingResults(), await systemPostgresResults()),
  );
  process.stdout.write(`${renderTable(results)}\n`);
} else if (args.scaling || args.prefill !== undefined) {
  if (args.ids !== 'v7' && args.ids !== 'v4') throw new Error('--ids must be v7 or v4');
  if (args.indexes !== 'now' && args.indexes !== 'before') throw new Error('--indexes must be now or before');
  await scalingMain(num(args.prefill, quick ? 200_000 : 50_000_000), args.ids, args.indexes === 'before');
} else {
  await main();
}
