import path from 'node:path';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createPool, redactUrl } from '../../functions/shared/db.ts';
import { loadMigrations, migrate } from '../../functions/shared/migrate.ts';
import { ROOT } from '../../infra/paths.ts';
import { topology } from '../../infra/topology.ts';
import { type Dashboard, startDashboard } from './dashboard/server.ts';
import { localDatabase } from './database.ts';
import { type EmbeddedEndpoint, startEmbeddedEndpoint } from './endpoint.ts';
import { localFunctions } from './functions.ts';
import { lambdaContext, scheduledEvent } from './lambda.ts';
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
  /** Folder of the embedded PostgreSQL (default `.data/`). */
  dataDir?: string;
  pgPort?: number;
  generator?: {
    /** Milliseconds between generator invocations; 0 turns the schedule off. */
    intervalMs?: number;
    eventsPerObject?: number;
    badRate?: number;
    duplicateRate?: number;
    seed?: number;
  };
  ingest?: { batchSize?: number; batchingWindowMs?: number; concurrency?: number; poolMax?: number };
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
  /** Invoke the generator handler once, as the schedule does. */
  generateOnce(): Promise<{ key: string; events: number }>;
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
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse())
      await stop().catch((e: unknown) => log(`stop: ${(e as Error).message}`));
    stops.length = 0;
  };
  try {
    let endpoint: EmbeddedEndpoint | undefined;
    let endpointUrl = options.endpointUrl;
    if (!endpointUrl) {
      endpoint = await startEmbeddedEndpoint({ port: options.port ?? 4566 });
      stops.push(() => endpoint?.stop() ?? Promise.resolve());
      endpointUrl = endpoint.url;
    }
    const region = process.env.AWS_REGION ?? 'us-east-1';
    const credentials = {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    };
    const s3 = new S3Client({ endpoint: endpointUrl, forcePathStyle: true, region, credentials });
    const sqs = new SQSClient({ endpoint: endpointUrl, region, credentials });
    const resources = await ensureResources(s3, sqs, options.resources);

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

    const db = await localDatabase({
      ...(options.databaseUrl ? { url: options.databaseUrl } : {}),
      dataDir: options.dataDir ?? path.join(ROOT, '.data'),
      port: options.pgPort ?? 54329,
      database: 'ecommerce',
    });
    stops.push(() => db.stop());
    const admin = createPool({ connectionString: db.url, max: 2 }, (e) => log(`database: ${e.message}`));
    stops.push(() => admin.end());
    const migrationClient = await admin.connect();
    try {
      const applied = await migrate(migrationClient, await loadMigrations(path.join(ROOT, 'sql')));
      if (applied.length) log(`migrations applied: ${applied.join(', ')}`);
    } finally {
      migrationClient.release();
    }

    // The handlers' factories get what the CDK stack gives the functions on AWS; the pool is
    // this pipeline's own, closed after the poller has stopped.
    const gen = options.generator ?? {};
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
      timeoutMs: ingestTopology.timeoutSeconds * 1000,
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

    return {
      endpointUrl,
      embeddedEndpoint: endpoint !== undefined,
      ...(dashboard ? { dashboardUrl: dashboard.url } : {}),
      databaseUrl: db.url,
      embeddedDatabase: db.embedded,
      resources,
      poller,
      generateOnce,
      stopSchedule,
      status,
      stop: stopAll,
    };
  } catch (e: unknown) {
    await stopAll();
    throw e;
  }
}

/** One line for humans; the database URL never appears with its password. */
export function describeDatabase(url: string): string {
  return redactUrl(url);
}
