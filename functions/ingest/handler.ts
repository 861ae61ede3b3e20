import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type pg from 'pg';
import { s3Client, sqsClient } from '../shared/aws.ts';
import { createPool, resolvePoolConfig } from '../shared/db.ts';
import { observabilityFromEnv } from '../shared/observability.ts';
import { type IngestConfig, readIngestConfig } from './config.ts';
import { countOutcome } from './outcome.ts';
import { ingestRecords } from './records.ts';

export { type IngestConfig, readIngestConfig };

/** Everything the ingest handler works with; the caller creates (and owns) each of them. */
export interface IngestHandlerDeps {
  s3: S3Client;
  sqs: SQSClient;
  /** The pool the objects are written through; the caller closes it. */
  db: pg.Pool;
  logger: Logger;
  metrics: Metrics;
  clock: () => number;
  config: IngestConfig;
}

/** An SQS batch handler: reports only the records that must be retried in `batchItemFailures`. */
export type IngestHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * The ingest function over the given dependencies: ingests the S3 objects named by a batch of SQS
 * records (see `ingestRecords`), watching the invocation's deadline, and reports in
 * `batchItemFailures` only the records that must be retried. Each call gets its own batch
 * processor, so concurrent invocations (the local poller runs several) never mix their records'
 * results, and two handlers made by this factory share nothing.
 */
export function createIngestHandler(deps: IngestHandlerDeps): IngestHandler {
  return async (event, context) => {
    deps.logger.addContext(context);
    const outcomes = await ingestRecords(deps, event.Records, () => context.getRemainingTimeInMillis());
    const recordHandler = async (record: SQSRecord) => {
      const outcome = outcomes.get(record.messageId);
      if (outcome instanceof Error) throw outcome;
      if (outcome?.kind === 'objects') for (const o of outcome.objects) countOutcome(deps.metrics, o);
      return outcome;
    };
    const response = await processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), {
      context,
      throwOnFullBatchFailure: false,
    });
    deps.metrics.addMetric('batchItemFailures', MetricUnit.Count, response.batchItemFailures.length);
    deps.metrics.publishStoredMetrics();
    return response;
  };
}

/** What a deployed function builds once from its environment: all but the pool, and how to make it. */
export interface IngestEnvironment {
  deps: Omit<IngestHandlerDeps, 'db'>;
  /** A new pool as the environment describes it (on AWS this reads a secret); the caller owns it. */
  pool(): Promise<pg.Pool>;
}

/**
 * The ingest dependencies as the deployed function reads them, from the variables the CDK stack
 * sets: `DLQ_URL`, `QUEUE_URL`, `INGEST_CHUNK_ROWS`, `MAX_REJECT_RATIO` (see {@link readIngestConfig}); `DATABASE_URL`, or `DB_SECRET_ARN`
 * with `DB_HOST` and `DB_NAME`, plus `DB_POOL_MAX` and `DB_CONNECT_TIMEOUT_MS` (see
 * `resolvePoolConfig`); `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE` and
 * `POWERTOOLS_LOG_LEVEL`; `AWS_ENDPOINT_URL` for an emulator (the SDK reads the region and
 * credentials itself). Throws an error naming a variable that is set wrong.
 */
export function readIngestEnvironment(env: NodeJS.ProcessEnv): IngestEnvironment {
  const config = readIngestConfig(env);
  const { logger, metrics } = observabilityFromEnv(env, 'ecommerce-pipeline-ingest');
  return {
    deps: { s3: s3Client(env), sqs: sqsClient(env), logger, metrics, clock: Date.now, config },
    pool: async () =>
      createPool(await resolvePoolConfig(env), (e) =>
        logger.warn('idle database connection lost', { error: e.message }),
      ),
  };
}

let container: IngestEnvironment | undefined;
let pool: Promise<pg.Pool> | undefined;
let deployed: IngestHandler | undefined;

/**
 * The Lambda entry point: {@link createIngestHandler} applied once per container to dependencies
 * read from the environment. The pool is made on first use and kept; if making it fails (secret
 * unreadable, say), the next invocation tries again instead of the container failing forever.
 */
export const handler: IngestHandler = async (event, context) => {
  container ??= readIngestEnvironment(process.env);
  const start = container;
  pool ??= start.pool().catch((e: unknown) => {
    pool = undefined;
    throw e;
  });
  const db = await pool;
  deployed ??= createIngestHandler({ ...start.deps, db });
  return deployed(event, context);
};
