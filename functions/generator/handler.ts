import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { s3Client } from '../shared/aws.ts';
import { observabilityFromEnv } from '../shared/observability.ts';
import { type GeneratorConfig, readGeneratorConfig } from './config.ts';
import { createGenerator } from './generate.ts';
import { publishBatch } from './publish.ts';

export { type GeneratorConfig, readGeneratorConfig };

/** Everything the generator handler works with; the caller creates each of them. */
export interface GeneratorHandlerDeps {
  s3: S3Client;
  logger: Logger;
  metrics: Metrics;
  clock: () => number;
  config: GeneratorConfig;
}

/** What one invocation wrote. */
export interface GeneratorResult {
  bucket: string;
  key: string;
  events: number;
  bad: number;
  duplicates: number;
}

/** A scheduled handler: writes one CSV object of `eventsPerObject` events per invocation. */
export type GeneratorHandler = (event: ScheduledEvent, context: Context) => Promise<GeneratorResult>;

/**
 * The generator function over the given dependencies. Its catalog and its memory of recent
 * event_ids (for duplicates across objects) live as long as the handler it returns.
 */
export function createGeneratorHandler(deps: GeneratorHandlerDeps): GeneratorHandler {
  const { s3, logger, metrics, clock, config } = deps;
  const target = {
    bucket: config.bucket,
    prefix: config.prefix,
    events: config.eventsPerObject,
    ...(config.compress ? { compress: config.compress } : {}),
  };
  const generator = createGenerator({
    badRate: config.badRate,
    duplicateRate: config.duplicateRate,
    clock,
    ...(config.seed !== undefined ? { seed: config.seed } : {}),
  });
  return async (_event, context) => {
    logger.addContext(context);
    const written = await publishBatch({ s3, logger, clock }, generator, target);
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
}

let deployed: GeneratorHandler | undefined;

/**
 * The Lambda entry point: {@link createGeneratorHandler} applied once per container to the
 * environment the CDK stack sets (see {@link readGeneratorConfig}; `POWERTOOLS_SERVICE_NAME`,
 * `POWERTOOLS_METRICS_NAMESPACE`, and `AWS_ENDPOINT_URL` for an emulator).
 */
export const handler: GeneratorHandler = async (event, context) => {
  deployed ??= fromEnvironment(process.env);
  return deployed(event, context);
};

function fromEnvironment(env: NodeJS.ProcessEnv): GeneratorHandler {
  const config = readGeneratorConfig(env);
  const { logger, metrics } = observabilityFromEnv(env, 'ecommerce-pipeline-generator');
  return createGeneratorHandler({ s3: s3Client(env), logger, metrics, clock: Date.now, config });
}
