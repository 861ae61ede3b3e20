import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Pool } from 'pg';
import { s3Client, sqsClient } from '../shared/aws.ts';
import { createPool, resolvePoolConfig } from '../shared/db.ts';
import { optionalEnv } from '../shared/env.ts';
import { observability } from '../shared/observability.ts';
import { ingestRecords } from './batch.ts';
import { processRecord, type RecordOutcome } from './record.ts';

// Created once per cold start and reused by every invocation of this container.
const { logger, metrics } = observability('ecommerce-pipeline-ingest');
const s3 = s3Client();
const sqs = sqsClient();
const dlqUrl = optionalEnv('DLQ_URL');
// The pool is made on first use and kept; if making it fails (secret unreadable, say), the next
// invocation tries again instead of the container failing forever.
let pool: Promise<Pool> | undefined;
const getPool = (): Promise<Pool> =>
  (pool ??= resolvePoolConfig()
    .then((config) =>
      createPool(config, (e) => logger.warn('idle database connection lost', { error: e.message })),
    )
    .catch((e: unknown) => {
      pool = undefined;
      throw e;
    }));
const processor = new BatchProcessor(EventType.SQS);

/** SQS batch handler: reports only the records that must be retried in `batchItemFailures`. */
export const handler = async (event: SQSEvent, context: Context) => {
  logger.addContext(context);
  const deps = { s3, sqs, dlqUrl, db: await getPool(), logger, clock: Date.now };
  // The batch's S3 notifications are ingested together, in one transaction (see ingestBatch); the
  // record handler then reports each record's share, and handles the other records itself.
  const ingested = await ingestRecords(deps, event.Records);
  const recordHandler = async (record: SQSRecord) => {
    const outcome = ingested.get(record.messageId);
    if (outcome instanceof Error) throw outcome;
    return count(outcome ?? (await processRecord(deps, record)));
  };
  const response = await processPartialResponse(event, recordHandler, processor, {
    context,
    throwOnFullBatchFailure: false,
  });
  metrics.addMetric('batchItemFailures', MetricUnit.Count, response.batchItemFailures.length);
  metrics.publishStoredMetrics();
  return response;
};

function count(outcome: RecordOutcome): RecordOutcome {
  if (outcome.kind !== 'objects') return outcome;
  for (const o of outcome.objects) {
    if (o.status === 'skipped') {
      metrics.addMetric('objectsSkippedReplay', MetricUnit.Count, 1);
      continue;
    }
    // Failed objects stay in objectsIngested (they are acknowledged and in the ledger) and are
    // counted here as well, so an alarm or the dashboard can show them without reading the ledger.
    if (o.status === 'failed') metrics.addMetric('objectsFailed', MetricUnit.Count, 1);
    metrics.addMetric('objectsIngested', MetricUnit.Count, 1);
    metrics.addMetric('eventsInserted', MetricUnit.Count, o.rowsInserted);
    metrics.addMetric('eventsDuplicate', MetricUnit.Count, o.rowsDuplicate);
    metrics.addMetric('eventsRejected', MetricUnit.Count, o.rowsRejected);
    if (o.latencyMs !== undefined) metrics.addMetric('ingestLatencyMs', MetricUnit.Milliseconds, o.latencyMs);
    if (o.eventLagMs !== undefined) metrics.addMetric('eventLagMs', MetricUnit.Milliseconds, o.eventLagMs);
  }
  return outcome;
}
