import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type pg from 'pg';
import { s3Client, sqsClient } from '../shared/aws.ts';
import { createPool, resolvePoolConfig } from '../shared/db.ts';
import { type Log, observability } from '../shared/observability.ts';
import { type IngestConfig, readIngestConfig } from './config.ts';
import { countOutcome } from './outcome.ts';
import { ingestRecords } from './records.ts';

/** Everything the ingest handler works with, created once by its caller. */
export interface IngestHandlerDeps {
  s3: S3Client;
  sqs: SQSClient;
  db: pg.Pool;
  logger: Log & { addContext?(context: Context): void };
  metrics: Metrics;
  clock: () => number;
  config: IngestConfig;
}

/** An SQS batch handler, as deployed to Lambda. */
export type IngestHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * The ingest function: ingests the S3 objects named by a batch of SQS records and reports in
 * `batchItemFailures` only the records that must be retried.
 */
export function createIngestHandler(deps: IngestHandlerDeps): IngestHandler {
  const processor = new BatchProcessor(EventType.SQS);
  return async (event, context) => {
    deps.logger.addContext?.(context);
    const outcomes = await ingestRecords(deps, event.Records, () => context.getRemainingTimeInMillis());
    const recordHandler = async (record: SQSRecord) => {
      const outcome = outcomes.get(record.messageId);
      if (outcome instanceof Error) throw outcome;
      if (outcome?.kind === 'objects') for (const o of outcome.objects) countOutcome(deps.metrics, o);
      return outcome;
    };
    const response = await processPartialResponse(event, recordHandler, processor, {
      context,
      throwOnFullBatchFailure: false,
    });
    deps.metrics.addMetric('batchItemFailures', MetricUnit.Count, response.batchItemFailures.length);
    deps.metrics.publishStoredMetrics();
    return response;
  };
}

/** The dependencies of the deployed function, from its environment. */
async function fromEnvironment(env: NodeJS.ProcessEnv): Promise<IngestHandler> {
  const config = readIngestConfig(env);
  const { logger, metrics } = observability('ecommerce-pipeline-ingest');
  const db = createPool(await resolvePoolConfig(env), (e) =>
    logger.warn('idle database connection lost', { error: e.message }),
  );
  return createIngestHandler({
    s3: s3Client(env),
    sqs: sqsClient(env),
    db,
    logger,
    metrics,
    clock: Date.now,
    config,
  });
}

// Built on the first invocation and kept for the container's life; if building fails (the secret
// unreadable, say), the next invocation tries again instead of the container failing forever.
let ready: Promise<IngestHandler> | undefined;

/** The Lambda entry point. */
export const handler: IngestHandler = async (event, context) => {
  ready ??= fromEnvironment(process.env).catch((e: unknown) => {
    ready = undefined;
    throw e;
  });
  return (await ready)(event, context);
};
