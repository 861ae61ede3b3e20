/**
 * Building blocks of the benchmark: fresh databases, the embedded endpoint with per-run buckets and
 * queues, the ingest worker process, and the plain-COPY baseline. Kept apart from the scenarios
 * (`index.ts`) so each scenario reads as "load → wait for the signal → read the ledger".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { build } from 'esbuild';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { EVENT_COLUMNS } from '../../../functions/shared/event.ts';
import { ROOT } from '../../../infra/paths.ts';
import { topology } from '../../../infra/topology.ts';
import { type EmbeddedEndpoint, type ObjectCreated, startEmbeddedEndpoint } from '../../local/endpoint.ts';
import { NotificationBridge } from '../../local/notifications.ts';
import { ensureResources, type LocalResources } from '../../local/resources.ts';
import { createScratchDatabase, dropDatabase, type ScratchDatabase } from '../scratch-db.ts';
import type { WorkerMessage } from '../worker.ts';

/** A database of its own for one repetition, migrated; dropped afterwards. */
export type BenchDatabase = ScratchDatabase;

/**
 * Create and migrate a fresh database on the server of `adminUrl`. With `template` (a database made
 * by {@link templateDatabase}), the new one is a copy of it: already migrated, and quicker to make.
 */
export function freshDatabase(adminUrl: string, template?: string): Promise<BenchDatabase> {
  return createScratchDatabase(adminUrl, { prefix: 'bench', template, migrate: template === undefined });
}

/** A migrated database to copy fresh ones from; `drop` removes it at the end of the run. */
export async function templateDatabase(adminUrl: string): Promise<{ name: string; drop(): Promise<void> }> {
  const db = await freshDatabase(adminUrl);
  // A template must have no connections when it is copied.
  await db.pool.end();
  return { name: db.name, drop: () => dropDatabase(adminUrl, db.name) };
}

/** The server's version string, e.g. "15.10". */
export async function serverVersion(adminUrl: string): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? 'unknown';
  } finally {
    await c.end();
  }
}

/** One bucket + queue + DLQ of the shared embedded endpoint, with its notification bridge. */
export interface Lane {
  resources: LocalResources;
  bridge: NotificationBridge;
  /** Every object-created event seen for this lane's bucket, in order. */
  created: ObjectCreated[];
  /** While true, objects created in the bucket raise no notification (a large upload done ahead). */
  muted: boolean;
}

/** The embedded S3+SQS endpoint of the run and clients pointed at it. */
export interface BenchEndpoint {
  url: string;
  s3: S3Client;
  sqs: SQSClient;
  /**
   * New queue/DLQ with S3 → SQS notifications, named uniquely, for a new bucket or for `bucket`
   * (then this lane takes over the bucket's notifications).
   */
  lane(bucket?: string): Promise<Lane>;
  /** Delete the lane's objects (the endpoint keeps them in memory). */
  empty(lane: Lane): Promise<void>;
  stop(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const REGION = 'us-east-1';

/** Start the embedded endpoint on a free port; one for the whole run, a lane per repetition. */
export async function benchEndpoint(): Promise<BenchEndpoint> {
  const endpoint: EmbeddedEndpoint = await startEmbeddedEndpoint({ port: 0 });
  const s3 = new S3Client({
    endpoint: endpoint.url,
    forcePathStyle: true,
    region: REGION,
    credentials: CREDENTIALS,
  });
  const sqs = new SQSClient({ endpoint: endpoint.url, region: REGION, credentials: CREDENTIALS });
  const lanes = new Map<string, Lane>();
  endpoint.onObjectCreated((e) => {
    const lane = lanes.get(e.bucket);
    if (!lane) return;
    lane.created.push(e);
    if (!lane.muted) lane.bridge.notify(e);
  });
  return {
    url: endpoint.url,
    s3,
    sqs,
    lane: async (bucket?: string) => {
      const id = randomBytes(4).toString('hex');
      const resources = await ensureResources(s3, sqs, {
        bucket: bucket ?? `bench-${id}`,
        queue: `bench-${id}`,
        dlq: `bench-${id}-dlq`,
      });
      const bridge = new NotificationBridge(sqs, { ...resources, region: REGION });
      const lane: Lane = { resources, bridge, created: [], muted: false };
      lanes.set(resources.bucket, lane);
      return lane;
    },
    empty: async (lane) => {
      await lane.bridge.drain();
      for (;;) {
        const list = await s3.send(
          new ListObjectsV2Command({ Bucket: lane.resources.bucket, MaxKeys: 1000 }),
        );
        const keys = (list.Contents ?? []).map((o) => ({ Key: o.Key as string }));
        if (keys.length === 0) break;
        await s3.send(new DeleteObjectsCommand({ Bucket: lane.resources.bucket, Delete: { Objects: keys } }));
      }
      lanes.delete(lane.resources.bucket);
    },
    stop: async () => {
      s3.destroy();
      sqs.destroy();
      await endpoint.stop();
    },
  };
}

/** Visible + in-flight messages of a queue. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/** PUT one object. */
export async function put(s3: S3Client, bucket: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'text/csv' }));
}

/** Settings of the ingest worker (the event source mapping). */
export interface WorkerOptions {
  databaseUrl: string;
  endpointUrl: string;
  lane: Lane;
  batchSize?: number;
  batchingWindowMs?: number;
  concurrency?: number;
  /** Write a V8 CPU profile of the worker here (`node --cpu-prof`). */
  profileDir?: string;
}

/** A running ingest worker process. */
export interface IngestWorker {
  /** Stop polling after the batches in flight; resolves with the worker's peak RSS (MB). */
  stop(): Promise<{
    peakRssMb: number;
    cpuSeconds: number;
    stats: Extract<WorkerMessage, { type: 'stopped' }>['stats'];
  }>;
  /** CPU seconds the worker has used since it started polling. */
  cpuSeconds(): Promise<number>;
  /** Last lines the worker wrote to stderr (warnings, errors). */
  stderr(): string;
}

const WORKER = path.join(ROOT, 'scripts', 'dev', 'worker.ts');
const BUNDLED_WORKER = path.join(ROOT, '.data', 'bench', 'worker.mjs');
let bundled: Promise<string> | undefined;

/**
 * The worker as the deployed function runs: one ESM file bundled by esbuild with the settings of
 * the CDK functions (minified, names kept, node24), not TypeScript compiled on the fly. Built once
 * per run. A profiled run bundles without minifying, so the profile names the functions.
 */
function bundledWorker(profiled: boolean): Promise<string> {
  bundled ??= build({
    entryPoints: [WORKER],
    outfile: BUNDLED_WORKER,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    mainFields: ['module', 'main'],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    minify: !profiled,
    keepNames: true,
    sourcemap: true,
    external: ['pg-native'],
    logLevel: 'warning',
  }).then(() => BUNDLED_WORKER);
  return bundled;
}

/** Start the ingest function in a child process, polling the lane's queue; resolves when it polls. */
export async function startWorker(options: WorkerOptions): Promise<IngestWorker> {
  const { resources } = options.lane;
  const profile = options.profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, '--enable-source-maps']
    : [];
  const worker = await bundledWorker(options.profileDir !== undefined);
  const child: ChildProcess = spawn(process.execPath, [...profile, worker], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: options.endpointUrl,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      DATABASE_URL: options.databaseUrl,
      BUCKETS: resources.bucket,
      DLQ_URL: resources.dlqUrl,
      POWERTOOLS_SERVICE_NAME: `${topology.observability.serviceName}-ingest`,
      POWERTOOLS_METRICS_NAMESPACE: topology.observability.metricsNamespace,
      QUEUE_URL: resources.queueUrl,
      QUEUE_ARN: resources.queueArn,
      BATCH_SIZE: String(options.batchSize ?? topology.ingest.batchSize),
      BATCHING_WINDOW_MS: String(options.batchingWindowMs ?? 0),
      CONCURRENCY: String(options.concurrency ?? topology.ingest.maxConcurrency),
    },
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const next = (type: WorkerMessage['type']) =>
    new Promise<WorkerMessage>((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.type !== type) return;
        child.off('message', onMessage);
        resolve(m);
      };
      child.on('message', onMessage);
      void exited.then((code) => reject(new Error(`ingest worker exited (code ${code}): ${err}`)));
    });
  await next('ready');
  return {
    stderr: () => err,
    cpuSeconds: async () => {
      const reply = next('cpu');
      child.send({ type: 'cpu' });
      return ((await reply) as Extract<WorkerMessage, { type: 'cpu' }>).cpuSeconds;
    },
    stop: async () => {
      const stopped = next('stopped');
      child.send({ type: 'stop' });
      const m = (await stopped) as Extract<WorkerMessage, { type: 'stopped' }>;
      await exited;
      return { peakRssMb: m.peakRssMb, cpuSeconds: m.cpuSeconds, stats: m.stats };
    },
  };
}

/** Poll `check` until it returns a value (the signal), or fail at the deadline. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** What the ledger says about a run's objects (keys under `prefix`). */
export interface LedgerSummary {
  objects: number;
  failed: number;
  rowsTotal: number;
  rowsInserted: number;
  rowsDuplicate: number;
  rowsRejected: number;
  /** Epoch ms of the last commit. */
  lastIngestedMs: number;
  /** ingested_at − object_created_at of every object, ms. */
  latenciesMs: number[];
}

/** Read the ledger for the objects under `prefix`. */
export async function ledger(pool: pg.Pool, bucket: string, prefix: string): Promise<LedgerSummary> {
  const { rows } = await pool.query<{
    status: string;
    t: string;
    i: string;
    d: string;
    r: string;
    at: string;
    lat: string | null;
  }>(
    `SELECT status, rows_total AS t, rows_inserted AS i, rows_duplicate AS d, rows_rejected AS r,
            extract(epoch FROM ingested_at) * 1000 AS at,
            extract(epoch FROM ingested_at - object_created_at) * 1000 AS lat
       FROM ingested_objects WHERE bucket = $1 AND key LIKE $2 || '%'`,
    [bucket, prefix],
  );
  const s: LedgerSummary = {
    objects: rows.length,
    failed: 0,
    rowsTotal: 0,
    rowsInserted: 0,
    rowsDuplicate: 0,
    rowsRejected: 0,
    lastIngestedMs: 0,
    latenciesMs: [],
  };
  for (const r of rows) {
    if (r.status === 'failed') s.failed++;
    s.rowsTotal += Number(r.t);
    s.rowsInserted += Number(r.i);
    s.rowsDuplicate += Number(r.d);
    s.rowsRejected += Number(r.r);
    s.lastIngestedMs = Math.max(s.lastIngestedMs, Number(r.at));
    if (r.lat !== null) s.latenciesMs.push(Number(r.lat));
  }
  return s;
}

/** Number of finished objects (ingested or failed) under `prefix` in the ledger (cheap, for polling). */
export async function ledgerCount(pool: pg.Pool, bucket: string, prefix: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ingested_objects
      WHERE bucket = $1 AND key LIKE $2 || '%' AND status IN ('ingested', 'failed')`,
    [bucket, prefix],
  );
  return rows[0]?.n ?? 0;
}

/**
 * The limit: plain COPY of the same CSV files into an empty table identical to `user_events`
 * (same columns, constraints and indexes; the source columns get defaults because plain COPY has
 * no object to name), one connection per core, each copying its share of the files one by one.
 * Returns rows/s.
 */
export async function copyBaseline(
  adminUrl: string,
  files: Buffer[],
  rows: number,
  connections: number,
  template?: string,
): Promise<number> {
  const db = await freshDatabase(adminUrl, template);
  try {
    await db.pool.query(`CREATE TABLE copy_baseline (LIKE user_events INCLUDING ALL);
      ALTER TABLE copy_baseline ALTER COLUMN source_bucket SET DEFAULT 'baseline',
        ALTER COLUMN source_key SET DEFAULT 'baseline', ALTER COLUMN source_line SET DEFAULT 0`);
    const clients = await Promise.all(
      Array.from({ length: connections }, async () => {
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        return c;
      }),
    );
    const sql = `COPY copy_baseline (${EVENT_COLUMNS.join(', ')}) FROM STDIN (FORMAT csv, HEADER true)`;
    try {
      const started = performance.now();
      await Promise.all(
        clients.map(async (c, k) => {
          for (let i = k; i < files.length; i += connections) {
            const stream = c.query(copyFrom(sql));
            await pipeline(
              (async function* () {
                yield files[i] as Buffer;
              })(),
              stream,
            );
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const { rows: count } = await db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM copy_baseline',
      );
      if (count[0]?.n !== rows) throw new Error(`baseline copied ${count[0]?.n} rows, expected ${rows}`);
      return rows / seconds;
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  } finally {
    await db.drop();
  }
}
