import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { createPool } from '../../../functions/shared/db.ts';
import { loadMigrations, migrate } from '../../../functions/shared/migrate.ts';
import { ROOT } from '../../../infra/paths.ts';
import { topology } from '../../../infra/topology.ts';
import { type LocalDatabase, startEmbeddedPostgres } from '../../local/database.ts';
import { type EmbeddedEndpoint, startEmbeddedEndpoint } from '../../local/endpoint.ts';
import { NotificationBridge } from '../../local/notifications.ts';
import { ensureResources, type LocalResources } from '../../local/resources.ts';
import { OutageProxy } from './proxy.ts';

/**
 * The pieces a fault-injection run is made of, shared by `npm run chaos` and the tests: the embedded
 * S3+SQS endpoint behind an {@link OutageProxy}, the S3 → SQS notification bridge, a PostgreSQL the
 * run may restart (or a fresh database on a given server, which it may not), and ingest workers as
 * child processes (`scripts/dev/worker.ts`) that can be killed.
 */

/** Credentials and region of the embedded endpoint (it accepts any). */
const AWS = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };

/** The `application_name` of the ingest workers' connections (db.ts uses the service name). */
export const INGEST_APPLICATION = `${topology.observability.serviceName}-ingest`;

const WORKER = path.join(ROOT, 'scripts', 'dev', 'worker.ts');

/** A PostgreSQL for one run: its URL, whether the run may restart it, and how to clean up. */
export interface ChaosDatabase {
  url: string;
  /** True for the embedded cluster the run owns; false for a database on someone else's server. */
  restartable: boolean;
  /** Fast-shutdown the server, keep it down for `downMs`, start it again on the same port and data. */
  restart(downMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A fresh, migrated database. With `serverUrl`, a new database on that server (dropped by `close`);
 * else an embedded cluster in `dataDir` on a free port, whose `chaos` database is recreated.
 */
export async function chaosDatabase(options: {
  serverUrl?: string;
  dataDir: string;
}): Promise<ChaosDatabase> {
  let server: LocalDatabase | undefined;
  let adminUrl: string;
  let port = 0;
  if (options.serverUrl) {
    adminUrl = options.serverUrl;
  } else {
    port = await freePort();
    server = await startEmbeddedPostgres({ dataDir: options.dataDir, port, database: 'postgres' });
    adminUrl = server.url;
  }
  // A name of our own making (not data), so building it into DDL is safe.
  const name = options.serverUrl ? `chaos_${randomBytes(5).toString('hex')}` : 'chaos';
  await withClient(adminUrl, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await withClient(url.toString(), async (c) => {
    await migrate(c, await loadMigrations(path.join(ROOT, 'sql')));
  });
  return {
    url: url.toString(),
    restartable: server !== undefined,
    restart: async (downMs: number) => {
      if (!server) throw new Error('Cannot restart a PostgreSQL server this run does not own');
      await server.stop();
      await sleep(downMs);
      server = await startEmbeddedPostgres({ dataDir: options.dataDir, port, database: 'postgres' });
    },
    close: async () => {
      if (server) return server.stop();
      await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A port nobody listens on right now (PostgreSQL cannot be told "any port"). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise((r) => server.close(r));
  return port;
}

/** Endpoint, proxy, bridge and resources. */
export interface ChaosEndpoint {
  endpoint: EmbeddedEndpoint;
  proxy: OutageProxy;
  /** Clients straight to the endpoint: the run's own bookkeeping, unaffected by outages. */
  direct: { s3: S3Client; sqs: SQSClient };
  /** Clients through the proxy, as the producer sees S3: outages hit them. */
  viaProxy: { s3: S3Client; sqs: SQSClient };
  resources: LocalResources;
  /** Visible and in-flight messages of a queue. */
  depth(queueUrl: string): Promise<{ visible: number; inFlight: number }>;
  stop(): Promise<void>;
}

/**
 * Start the embedded endpoint with its notification bridge and a proxy in front. The bridge sends
 * notifications straight to the endpoint: S3 delivers them internally, not through the client's
 * network path, so an outage delays what clients do but does not eat notifications.
 */
export async function chaosEndpoint(options: {
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
}): Promise<ChaosEndpoint> {
  const endpoint = await startEmbeddedEndpoint({ port: 0 });
  const proxy = await OutageProxy.start(endpoint.port);
  const clients = (url: string) => ({
    s3: new S3Client({ ...AWS, endpoint: url, forcePathStyle: true, maxAttempts: 1 }),
    sqs: new SQSClient({ ...AWS, endpoint: url, maxAttempts: 1 }),
  });
  const direct = clients(endpoint.url);
  const viaProxy = clients(proxy.url);
  const resources = await ensureResources(direct.s3, direct.sqs, {
    bucket: 'chaos-events',
    queue: 'chaos-ingest',
    dlq: 'chaos-ingest-dlq',
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
    maxReceiveCount: options.maxReceiveCount,
  });
  const bridge = new NotificationBridge(direct.sqs, { ...resources, region: AWS.region });
  endpoint.onObjectCreated((e) => bridge.notify(e));
  return {
    endpoint,
    proxy,
    direct,
    viaProxy,
    resources,
    depth: async (queueUrl) => {
      const out = await direct.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return {
        visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
      };
    },
    stop: async () => {
      await bridge.drain();
      await proxy.stop();
      for (const c of [direct, viaProxy]) {
        c.s3.destroy();
        c.sqs.destroy();
      }
      await endpoint.stop();
    },
  };
}

/** PUT an object, retrying the same key and body until it lands (an outage may be under way). */
export async function putWithRetry(
  s3: S3Client,
  bucket: string,
  key: string,
  body: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'text/csv' }));
      return;
    } catch (e: unknown) {
      // A PUT whose response was lost may have landed: the retry writes the same bytes (same ETag),
      // so S3 notifies twice for one version, which ingest must absorb.
      if (Date.now() > deadline) throw new Error(`PUT ${key} kept failing`, { cause: e });
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
  }
}

/** Settings of the workers (the event source mapping's, in effect). */
export interface WorkerSettings {
  endpointUrl: string;
  databaseUrl: string;
  resources: LocalResources;
  batchSize: number;
  batchingWindowMs: number;
  concurrency: number;
  poolMax?: number;
  /** Records per ingest transaction (default the topology's). */
  chunkRows?: number;
  /** The function timeout of the workers' Lambda-like context (default the topology's). */
  timeoutSeconds?: number;
  /** File descriptor for the workers' stdout/stderr (JSON logs); ignored when absent. */
  logFd?: number;
  logLevel?: string;
}

/** A running worker process and what it last told us. */
export interface Worker {
  child: ChildProcess;
  pid: number;
  /** True between its `busy` and `idle` messages: a batch is in flight. */
  busy: boolean;
  /** Invocations started (busy messages seen). */
  batches: number;
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves at the next `busy` message. */
  nextBusy(): Promise<void>;
}

/** Start one ingest worker (`scripts/dev/worker.ts`) configured as the Lambda would be. */
export function startWorker(s: WorkerSettings): Worker {
  const out = s.logFd ?? 'ignore';
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    cwd: ROOT,
    stdio: ['ignore', out, out, 'ipc'],
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: s.endpointUrl,
      AWS_REGION: AWS.region,
      AWS_ACCESS_KEY_ID: AWS.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: AWS.credentials.secretAccessKey,
      DATABASE_URL: s.databaseUrl,
      BUCKETS: s.resources.bucket,
      DLQ_URL: s.resources.dlqUrl,
      QUEUE_URL: s.resources.queueUrl,
      QUEUE_ARN: s.resources.queueArn,
      BATCH_SIZE: String(s.batchSize),
      BATCHING_WINDOW_MS: String(s.batchingWindowMs),
      CONCURRENCY: String(s.concurrency),
      DB_POOL_MAX: String(s.poolMax ?? s.concurrency + 1),
      ...(s.chunkRows ? { INGEST_CHUNK_ROWS: String(s.chunkRows) } : {}),
      ...(s.timeoutSeconds ? { TIMEOUT_SECONDS: String(s.timeoutSeconds) } : {}),
      // Chaos checks every row against the generator's manifest: no file may fail on its budget.
      MAX_REJECT_RATIO: '1',
      // Fail fast while PostgreSQL is down: the record is retried by SQS, not by a waiting worker.
      DB_CONNECT_TIMEOUT_MS: '3000',
      POWERTOOLS_SERVICE_NAME: INGEST_APPLICATION,
      POWERTOOLS_METRICS_NAMESPACE: topology.observability.metricsNamespace,
      POWERTOOLS_LOG_LEVEL: s.logLevel ?? process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
    },
  });
  let waiters: (() => void)[] = [];
  let markReady: () => void = () => {};
  const worker: Worker = {
    child,
    pid: child.pid ?? -1,
    busy: false,
    batches: 0,
    ready: new Promise<void>((r) => {
      markReady = r;
    }),
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    nextBusy: () => new Promise<void>((r) => waiters.push(r)),
  };
  child.on('message', (m: { type?: string }) => {
    if (m.type === 'ready') markReady();
    if (m.type === 'busy') {
      worker.busy = true;
      worker.batches++;
      const w = waiters;
      waiters = [];
      for (const r of w) r();
    }
    if (m.type === 'idle') worker.busy = false;
  });
  // A worker that dies before it is ready must not leave callers waiting for "ready" forever.
  void worker.exited.then(() => {
    worker.busy = false;
    markReady();
  });
  return worker;
}

/** SIGTERM a worker and wait for it to exit (SIGKILL after `graceMs`). */
export async function stopWorker(w: Worker, graceMs = 30_000): Promise<{ code: number | null }> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return { code: w.child.exitCode };
  w.child.kill('SIGTERM');
  const timer = setTimeout(() => w.child.kill('SIGKILL'), graceMs);
  const result = await w.exited;
  clearTimeout(timer);
  return result;
}

/** Poll `check` until it returns a value other than `undefined`, or fail after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (e: unknown) {
      last = e; // e.g. PostgreSQL restarting under the check: try again
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    await sleep(everyMs);
  }
}

/** A small pool for the run's own queries; its idle connections die with every PostgreSQL restart. */
export function adminPool(url: string): pg.Pool {
  return createPool({ connectionString: url, max: 2, connectionTimeoutMillis: 3000 }, () => {});
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
