import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createPool, redactUrl } from '../../functions/shared/db.ts';
import { loadMigrations, migrate } from '../../functions/shared/migrate.ts';
import { ROOT } from '../../infra/paths.ts';
import { reconcileStaleSeconds, topology } from '../../infra/topology.ts';
import { type Dashboard, startDashboard } from './dashboard/server.ts';
import { localDatabase } from './database.ts';
import { type EmbeddedEndpoint, startEmbeddedEndpoint } from './endpoint.ts';
import { databaseStartError, endpointStartError, portTaken, StartAborted, throwIfAborted } from './errors.ts';
import { localFunctions } from './functions.ts';
import { lambdaContext, scheduledEvent } from './lambda.ts';
import { acquireDataDirLock } from './lock.ts';
import { NotificationBridge } from './notifications.ts';
import type { LocalPipeline, LocalPipelineOptions } from './pipeline.ts';
import { SqsPoller } from './poller.ts';
import { scheduleReconcile } from './reconcile-timer.ts';
import { configureBucketNotification, ensureResources } from './resources.ts';
import { readStatus } from './status.ts';

export type { LocalPipeline, LocalPipelineOptions };

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

/** A queue URL of the embedded endpoint with its port set to `port`. */
function onPort(url: string, port: number): string {
  return url.replace(/^(https?:\/\/[^/]+?)(:\d+)?\//, `$1:${port}/`);
}

/** One line for humans; the database URL never appears with its password. */
export function describeDatabase(url: string): string {
  return redactUrl(url);
}
