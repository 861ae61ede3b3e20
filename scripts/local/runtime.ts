import path from 'node:path';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { ReconcileSummary } from '../../functions/reconcile/reconcile.ts';
import { createPool, redactUrl } from '../../functions/shared/db.ts';
import { loadMigrations, migrate } from '../../functions/shared/migrate.ts';
import { ROOT } from '../../infra/paths.ts';
import { reconcileStaleSeconds, topology } from '../../infra/topology.ts';
import { type Dashboard, startDashboard } from './dashboard/server.ts';
import { localDatabase, type ServerSetting } from './database.ts';
import { type EmbeddedEndpoint, startEmbeddedEndpoint } from './endpoint.ts';
import {
  databaseStartError,
  endpointStartError,
  oneLine,
  portTaken,
  StartAborted,
  throwIfAborted,
} from './errors.ts';
import { localFunctions } from './functions.ts';
import { lambdaContext, scheduledEvent } from './lambda.ts';
import { acquireDataDirLock } from './lock.ts';
import { NotificationBridge } from './notifications.ts';
import { SqsPoller } from './poller.ts';
import {
  configureBucketNotification,
  ensureResources,
  type LocalResources,
  type ResourceOptions,
} from './resources.ts';
import { type PipelineStatus, readStatus } from './status.ts';

/** Everything the local runtime can be told; unset fields come from the topology. */
export interface LocalPipelineOptions {
  /** Use this S3+SQS endpoint (e.g. LocalStack) instead of starting the embedded one. */
  endpointUrl?: string;
  /** Port of the embedded endpoint (default 4566; 0 = any free port). */
  port?: number;
  /** Use this PostgreSQL instead of the embedded one. */
  databaseUrl?: string;
  /**
   * The runtime's folder: the embedded PostgreSQL's cluster and credentials, the embedded endpoint's
   * objects and queues, and the lock that keeps a second runtime off it. Default `.data/`. Without
   * it and with `databaseUrl`, the embedded endpoint keeps everything in memory (tests).
   */
  dataDir?: string;
  pgPort?: number;
  /** Server parameters of the embedded PostgreSQL (see `DEFAULT_SERVER_SETTINGS`). */
  pgSettings?: Readonly<Record<string, ServerSetting>>;
  generator?: {
    /** Milliseconds between generator invocations; 0 turns the schedule off. */
    intervalMs?: number;
    eventsPerObject?: number;
    badRate?: number;
    duplicateRate?: number;
    seed?: number;
  };
  ingest?: {
    batchSize?: number;
    batchingWindowMs?: number;
    concurrency?: number;
    poolMax?: number;
    /**
     * The timeout of the ingest function's Lambda-like context (default the topology's): a smaller
     * one makes a large object stop at its deadline and go on in a new invocation, as on AWS.
     */
    timeoutMs?: number;
  };
  reconcile?: {
    /** Milliseconds between runs after the one at start; 0 turns reconciliation off. */
    intervalMs?: number;
    /** Only objects in the bucket at least this long are reconciled (seconds). */
    graceSeconds?: number;
  };
  resources?: ResourceOptions;
  /** Human-readable progress lines (not the JSON logs, which the handlers write to stdout). */
  log?: (line: string) => void;
  /**
   * Serve the live dashboard on 127.0.0.1 at this port (0 = any free port). Off unless asked for:
   * `npm start` asks for 8080 (falling back to a free port when it is taken); tests ask for 0.
   */
  dashboardPort?: number | false;
  /** Lowest level of the functions' JSON logs; unset, `POWERTOOLS_LOG_LEVEL` (default INFO). */
  logLevel?: LogLevel;
  /** Aborting it during the start stops whatever was started, and the start rejects with `StartAborted`. */
  signal?: AbortSignal;
}

/** A running local pipeline. */
export interface LocalPipeline {
  endpointUrl: string;
  embeddedEndpoint: boolean;
  databaseUrl: string;
  embeddedDatabase: boolean;
  resources: LocalResources;
  poller: SqsPoller;
  /** The dashboard's address (`http://127.0.0.1:PORT/`), when it was asked for. */
  dashboardUrl?: string;
  /** The runtime's folder, when it uses one (see {@link LocalPipelineOptions.dataDir}). */
  dataDir?: string;
  /** Invoke the generator handler once, as the schedule does. */
  generateOnce(): Promise<{ key: string; events: number }>;
  /** Invoke the reconcile handler once, as its timer does (waits for a run in progress first). */
  reconcileOnce(): Promise<ReconcileSummary>;
  /** Reconciliation runs so far and notifications they sent (also counted in `objectsReconciled`). */
  reconciled: { runs: number; objects: number; last?: ReconcileSummary };
  /** Stop the generator schedule (waiting for a run in progress); ingest goes on. */
  stopSchedule(): Promise<void>;
  status(): Promise<PipelineStatus>;
  /** Stop the schedule and the poller (finishing batches in flight), then the endpoint and database. */
  stop(): Promise<void>;
}

/**
 * Start the whole pipeline in this process: the embedded S3+SQS endpoint (unless `endpointUrl`),
 * bucket/queue/DLQ from the topology, the S3 → SQS notification, PostgreSQL (given or embedded)
 * with migrations applied, the generator schedule and the Lambda-style SQS poller calling the real
 * ingest handler.
 */
export async function startLocalPipeline(options: LocalPipelineOptions = {}): Promise<LocalPipeline> {
  const log = options.log ?? (() => {});
  const { signal } = options;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse())
      await stop().catch((e: unknown) => log(`stop: ${(e as Error).message}`));
    stops.length = 0;
  };
  try {
    throwIfAborted(signal);
    const embeddedEndpoint = !options.endpointUrl;
    const embeddedDatabase = !options.databaseUrl;
    const dataDir = options.dataDir ?? (embeddedDatabase ? path.join(ROOT, '.data') : undefined);
    // One runtime per folder: a second one would stop the first one's PostgreSQL and share its files.
    const lock =
      dataDir && (embeddedEndpoint || embeddedDatabase) ? await acquireDataDirLock(dataDir) : undefined;
    if (lock) stops.push(() => lock.release());

    let endpoint: EmbeddedEndpoint | undefined;
    let endpointUrl = options.endpointUrl;
    if (!endpointUrl) {
      const port = options.port ?? 4566;
      endpoint = await startEmbeddedEndpoint({
        port,
        ...(dataDir ? { dataDir, releaseInFlight: true } : {}),
        log,
      }).catch((e: unknown) => {
        throw (e as NodeJS.ErrnoException).code === 'EADDRINUSE'
          ? portTaken('embedded S3+SQS endpoint', port, '--port')
          : e;
      });
      stops.push(() => endpoint?.stop() ?? Promise.resolve());
      endpointUrl = endpoint.url;
    }
    throwIfAborted(signal);
    const region = process.env.AWS_REGION ?? 'us-east-1';
    const credentials = {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    };
    const s3 = new S3Client({ endpoint: endpointUrl, forcePathStyle: true, region, credentials });
    const sqs = new SQSClient({ endpoint: endpointUrl, region, credentials });
    stops.push(async () => {
      s3.destroy();
      sqs.destroy();
    });
    const ensured = await ensureResources(s3, sqs, options.resources).catch((e: unknown) => {
      throw endpoint ? e : endpointStartError(e, endpointUrl as string);
    });
    // The embedded endpoint keeps the queue URLs it made on an earlier start, port included; the
    // port is not part of a queue's identity there, so show (and use) the one it listens on now.
    const resources = endpoint
      ? {
          ...ensured,
          queueUrl: onPort(ensured.queueUrl, endpoint.port),
          dlqUrl: onPort(ensured.dlqUrl, endpoint.port),
        }
      : ensured;

    const bridge = new NotificationBridge(sqs, { ...resources, region });
    if (endpoint) {
      bridge.onError = (e, ev) => log(`notification for ${ev.key} not delivered: ${(e as Error).message}`);
      endpoint.onObjectCreated((ev) => bridge.notify(ev));
      stops.push(() => bridge.drain());
      await bridge.sendTestEvent();
    } else {
      // A real S3 implementation (LocalStack) delivers notifications itself, test event included.
      await configureBucketNotification(s3, resources);
    }
    throwIfAborted(signal);

    const db = await localDatabase({
      ...(options.databaseUrl ? { url: options.databaseUrl } : {}),
      dataDir: dataDir ?? path.join(ROOT, '.data'),
      port: options.pgPort ?? 54329,
      database: 'ecommerce',
      ...(options.pgSettings ? { settings: options.pgSettings } : {}),
      ...(signal ? { signal } : {}),
      log,
    });
    stops.push(() => db.stop());
    throwIfAborted(signal);
    const admin = createPool({ connectionString: db.url, max: 2 }, (e) => log(`database: ${e.message}`));
    stops.push(() => admin.end());
    const where = db.embedded ? 'embedded PostgreSQL' : `DATABASE_URL (${redactUrl(db.url)})`;
    const migrationClient = await admin.connect().catch((e: unknown) => {
      throw databaseStartError(e, where);
    });
    try {
      const applied = await migrate(migrationClient, await loadMigrations(path.join(ROOT, 'sql')));
      if (applied.length) log(`migrations applied: ${applied.join(', ')}`);
    } finally {
      migrationClient.release();
    }
    throwIfAborted(signal);

    // The handlers' factories get what the CDK stack gives the functions on AWS; the pool is
    // this pipeline's own, closed after the poller and the reconcile timer have stopped.
    const gen = options.generator ?? {};
    const rec = options.reconcile ?? {};
    const functions = localFunctions({
      aws: { endpoint: endpointUrl, region, credentials },
      databaseUrl: db.url,
      queueUrl: resources.queueUrl,
      dlqUrl: resources.dlqUrl,
      generator: {
        bucket: resources.bucket,
        prefix: topology.notification.prefix,
        eventsPerObject: gen.eventsPerObject ?? topology.generator.eventsPerObject,
        badRate: gen.badRate ?? topology.generator.badRate,
        duplicateRate: gen.duplicateRate ?? topology.generator.duplicateRate,
        ...(gen.seed !== undefined ? { seed: gen.seed } : {}),
      },
      reconcile: {
        bucket: resources.bucket,
        prefix: topology.notification.prefix,
        suffixes: topology.notification.suffixes,
        queueUrl: resources.queueUrl,
        graceSeconds: rec.graceSeconds ?? topology.reconcile.graceSeconds,
        staleSeconds:
          options.resources?.visibilityTimeoutSeconds !== undefined
            ? 2 * options.resources.visibilityTimeoutSeconds
            : reconcileStaleSeconds(),
        maxObjects: topology.reconcile.maxObjectsPerRun,
        maxNotifications: topology.reconcile.maxNotificationsPerRun,
        region,
      },
      poolMax: options.ingest?.poolMax ?? 4,
      ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    });
    stops.push(() => functions.close());

    const ingestTopology = topology.ingest;
    const poller = new SqsPoller(sqs, functions.ingest, {
      queueUrl: resources.queueUrl,
      queueArn: resources.queueArn,
      batchSize: options.ingest?.batchSize ?? ingestTopology.batchSize,
      batchingWindowMs: options.ingest?.batchingWindowMs ?? ingestTopology.batchingWindowSeconds * 1000,
      concurrency: options.ingest?.concurrency ?? ingestTopology.maxConcurrency,
      timeoutMs: options.ingest?.timeoutMs ?? ingestTopology.timeoutSeconds * 1000,
      functionName: 'ingest',
      memoryMb: ingestTopology.memoryMb,
      region,
    });
    poller.onError = (e) => log(`ingest: ${(e as Error).message}`);
    poller.start();
    stops.push(() => poller.stop());

    const generated = { objects: 0, events: 0 };
    let generatorRun: Promise<unknown> = Promise.resolve();
    const generateOnce = async () => {
      const out = await functions.generator(
        scheduledEvent(region),
        lambdaContext({
          functionName: 'generator',
          memoryMb: topology.generator.memoryMb,
          timeoutMs: topology.generator.timeoutSeconds * 1000,
          region,
        }),
      );
      generated.objects++;
      generated.events += out.events;
      return { key: out.key, events: out.events };
    };
    const intervalMs = gen.intervalMs ?? topology.generator.localIntervalSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    if (intervalMs > 0) {
      timer = setInterval(() => {
        generatorRun = generateOnce().catch((e: unknown) => log(`generator: ${(e as Error).message}`));
      }, intervalMs);
    }
    const stopSchedule = async () => {
      clearInterval(timer);
      await generatorRun;
    };
    stops.push(stopSchedule);

    const reconciler = scheduleReconcile(functions.reconcile, {
      intervalMs: rec.intervalMs ?? topology.reconcile.localIntervalSeconds * 1000,
      region,
      log,
    });
    stops.push(() => reconciler.stop());

    const status = () =>
      readStatus({ sqs, db: admin, queueUrl: resources.queueUrl, dlqUrl: resources.dlqUrl, generated });

    let dashboard: Dashboard | undefined;
    if (options.dashboardPort !== undefined && options.dashboardPort !== false) {
      dashboard = await startDashboard({
        port: options.dashboardPort,
        fallbackToFreePort: options.dashboardPort !== 0,
        db: admin,
        status,
        onError: (e) => log(`dashboard: ${(e as Error).message}`),
      });
      if (options.dashboardPort !== 0 && dashboard.port !== options.dashboardPort)
        log(`dashboard: port ${options.dashboardPort} is taken, using ${dashboard.port}`);
      // Pushed last, so stopped first: it reads the pool and queues the other stops close.
      stops.push(() => dashboard?.stop() ?? Promise.resolve());
    }
    await lock?.update({
      ...(endpoint ? { endpoint: endpoint.port } : {}),
      ...(db.embedded ? { postgres: options.pgPort ?? 54329 } : {}),
      ...(dashboard ? { dashboard: dashboard.port } : {}),
    });
    throwIfAborted(signal);

    return {
      endpointUrl,
      embeddedEndpoint: endpoint !== undefined,
      ...(dashboard ? { dashboardUrl: dashboard.url } : {}),
      databaseUrl: db.url,
      embeddedDatabase: db.embedded,
      ...(dataDir ? { dataDir } : {}),
      resources,
      poller,
      generateOnce,
      stopSchedule,
      reconcileOnce: () => reconciler.runOnce(),
      reconciled: reconciler.stats,
      status,
      stop: stopAll,
    };
  } catch (e: unknown) {
    await stopAll();
    if (signal?.aborted && !(e instanceof StartAborted)) throw new StartAborted();
    throw e;
  }
}

/** The reconcile handler on a timer: once at start, then every `intervalMs` (0: never). */
function scheduleReconcile(
  handler: ReturnType<typeof localFunctions>['reconcile'],
  options: { intervalMs: number; region: string; log: (line: string) => void },
) {
  const stats: LocalPipeline['reconciled'] = { runs: 0, objects: 0 };
  let stopping = false;
  let running: Promise<ReconcileSummary> | undefined;
  const run = async (): Promise<ReconcileSummary> => {
    const context = lambdaContext({
      functionName: 'reconcile',
      memoryMb: topology.reconcile.memoryMb,
      timeoutMs: topology.reconcile.timeoutSeconds * 1000,
      region: options.region,
    });
    // A stop cuts a run short at its next page, as a deadline would.
    const remaining = context.getRemainingTimeInMillis;
    context.getRemainingTimeInMillis = () => (stopping ? 0 : remaining());
    const summary = await handler(scheduledEvent(options.region), context);
    stats.runs++;
    stats.objects += summary.reconciled;
    stats.last = summary;
    if (summary.reconciled > 0) {
      const reasons = Object.entries(summary.byReason)
        .filter(([, n]) => n > 0)
        .map(([reason, n]) => `${n} ${reason}`);
      options.log(
        `reconcile: ${summary.reconciled} object(s) whose notification was lost sent to ingest again (${reasons.join(', ')})`,
      );
    }
    return summary;
  };
  /** One run at a time: a run asked for while one is going waits for it, then runs. */
  const runOnce = async (): Promise<ReconcileSummary> => {
    while (running) await running.catch(() => {});
    const current = run();
    running = current;
    try {
      return await current;
    } finally {
      if (running === current) running = undefined;
    }
  };
  const tick = () => {
    if (stopping || running) return;
    void runOnce().catch((e: unknown) => options.log(`reconcile: ${oneLine(e)}`));
  };
  let timer: NodeJS.Timeout | undefined;
  if (options.intervalMs > 0) {
    tick();
    timer = setInterval(tick, options.intervalMs);
  }
  return {
    stats,
    runOnce,
    stop: async () => {
      stopping = true;
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}

/** A queue URL of the embedded endpoint with its port set to `port`. */
function onPort(url: string, port: number): string {
  return url.replace(/^(https?:\/\/[^/]+?)(:\d+)?\//, `$1:${port}/`);
}

/** One line for humans; the database URL never appears with its password. */
export function describeDatabase(url: string): string {
  return redactUrl(url);
}
