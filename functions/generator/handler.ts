import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { s3Client } from '../shared/aws.ts';
import { numberEnv, optionalEnv, requireEnv } from '../shared/env.ts';
import { observability } from '../shared/observability.ts';
import { createGenerator } from './generate.ts';
import { publishBatch } from './publish.ts';

// Created once per cold start: the catalog and the duplicate memory live as long as the container.
const { logger, metrics } = observability('ecommerce-pipeline-generator');
const s3 = s3Client();
const target = {
  bucket: requireEnv('BUCKET_NAME'),
  prefix: optionalEnv('KEY_PREFIX') ?? 'events/',
  events: numberEnv('EVENTS_PER_OBJECT', 1000),
};
const seed = optionalEnv('SEED');
const generator = createGenerator({
  badRate: numberEnv('BAD_RATE', 0),
  duplicateRate: numberEnv('DUPLICATE_RATE', 0),
  ...(seed ? { seed: Number(seed) } : {}),
});

/** Scheduled handler: writes one CSV object of `EVENTS_PER_OBJECT` events per invocation. */
export const handler = async (_event: ScheduledEvent, context: Context) => {
  logger.addContext(context);
  const written = await publishBatch({ s3, logger, clock: Date.now }, generator, target);
  metrics.addMetric('eventsGenerated', MetricUnit.Count, written.events);
  metrics.addMetric('objectsWritten', MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
  return {
    bucket: written.bucket,
    key: written.key,
    events: written.events,
    bad: written.bad,
    duplicates: written.duplicates,
  };
};
