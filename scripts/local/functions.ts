import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import type pg from 'pg';
import {
  createGeneratorHandler,
  type GeneratorConfig,
  type GeneratorHandler,
} from '../../functions/generator/handler.ts';
import { createIngestHandler, type IngestHandler } from '../../functions/ingest/handler.ts';
import { type AwsClientOptions, createS3Client, createSqsClient } from '../../functions/shared/aws.ts';
import { createPool, poolConfig } from '../../functions/shared/db.ts';
import { observability } from '../../functions/shared/observability.ts';
import { topology } from '../../infra/topology.ts';

/** What the local runtime gives its two functions, as the CDK stack gives them on AWS. */
export interface LocalFunctionsOptions {
  /** The S3+SQS endpoint, region and credentials the functions' clients use. */
  aws: AwsClientOptions;
  databaseUrl: string;
  queueUrl: string;
  dlqUrl: string;
  generator: GeneratorConfig;
  /** Connections of the ingest pool (default 4). */
  poolMax?: number;
  /** Lowest level of the functions' JSON logs; unset, `POWERTOOLS_LOG_LEVEL` (default INFO). */
  logLevel?: LogLevel;
}

/** The generator and ingest handlers of one local pipeline, and the pool it owns. */
export interface LocalFunctions {
  generator: GeneratorHandler;
  ingest: IngestHandler;
  /** Close the ingest pool and the clients; call it once nothing invokes the handlers any more. */
  close(): Promise<void>;
}

/**
 * The real handlers, made by their factories with this pipeline's own clients, pool and loggers,
 * named as on AWS (`<service>-generator`, `<service>-ingest`, the topology's namespace). Nothing is
 * shared with another pipeline in the same process.
 */
export function localFunctions(options: LocalFunctionsOptions): LocalFunctions {
  const { serviceName, metricsNamespace: namespace } = topology.observability;
  const named = (fn: string) =>
    observability({
      serviceName: `${serviceName}-${fn}`,
      namespace,
      ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    });
  const generatorObservability = named('generator');
  const ingestObservability = named('ingest');
  const s3 = createS3Client(options.aws);
  const sqs = createSqsClient(options.aws);
  const pool: pg.Pool = createPool(
    poolConfig(
      { connectionString: options.databaseUrl },
      { max: options.poolMax ?? 4, applicationName: `${serviceName}-ingest` },
    ),
    (e) => ingestObservability.logger.warn('idle database connection lost', { error: e.message }),
  );
  return {
    generator: createGeneratorHandler({
      s3,
      ...generatorObservability,
      clock: Date.now,
      config: options.generator,
    }),
    ingest: createIngestHandler({
      s3,
      sqs,
      db: pool,
      ...ingestObservability,
      clock: Date.now,
      config: {
        buckets: [options.generator.bucket],
        dlqUrl: options.dlqUrl,
        queueUrl: options.queueUrl,
        chunkRows: topology.ingest.chunkRows,
        maxRejectRatio: topology.ingest.maxRejectRatio,
        afterIngest: topology.ingest.afterIngest,
        archivePrefix: topology.archive.prefix,
      },
    }),
    close: async () => {
      await pool.end();
      s3.destroy();
      sqs.destroy();
    },
  };
}
