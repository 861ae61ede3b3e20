import type { LogItem } from '@aws-lambda-powertools/logger';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type pg from 'pg';
import {
  createGeneratorHandler,
  type GeneratorConfig,
  type GeneratorHandler,
} from '../../functions/generator/handler.ts';
import { createIngestHandler, type IngestHandler } from '../../functions/ingest/handler.ts';
import {
  createReconcileHandler,
  type ReconcileConfig,
  type ReconcileHandler,
} from '../../functions/reconcile/handler.ts';
import { type AwsClientOptions, createS3Client, createSqsClient } from '../../functions/shared/aws.ts';
import { createPool, poolConfig } from '../../functions/shared/db.ts';
import { topology } from '../../infra/topology.ts';

/** What the local runtime gives its two functions, as the CDK stack gives them on AWS. */
export interface LocalFunctionsOptions {
  /** The S3+SQS endpoint, region and credentials the functions' clients use. */
  aws: AwsClientOptions;
  databaseUrl: string;
  queueUrl: string;
  dlqUrl: string;
  generator: GeneratorConfig;
  reconcile: ReconcileConfig;
  /** Connections of the ingest pool (default 4). */
  poolMax?: number;
  /** Lowest level of the functions' JSON logs; unset, `POWERTOOLS_LOG_LEVEL` (default INFO). */
  logLevel?: LogLevel;
}

/** The generator, ingest and reconcile handlers of one local pipeline, and the pool it owns. */
export interface LocalFunctions {
  generator: GeneratorHandler;
  ingest: IngestHandler;
  reconcile: ReconcileHandler;
  /** Close the pool and the clients; call it once nothing invokes the handlers any more. */
  close(): Promise<void>;
}

/**
 * A Powertools logger writing every level to stdout. Powertools writes WARN and ERROR to stderr,
 * which on Lambda lands in the same log stream; locally stdout is the machine-readable stream (JSON
 * logs and EMF metrics) and stderr the human one, so all JSON lines go to stdout.
 */
export class StdoutLogger extends Logger {
  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    process.stdout.write(`${JSON.stringify(log.getAttributes(), this.getJsonReplacer())}\n`);
  }
}

/**
 * The real handlers, made by their factories with this pipeline's own clients, pool and loggers,
 * named as on AWS (`<service>-generator`, `<service>-ingest`, `<service>-reconcile`, the topology's
 * namespace). Nothing is shared with another pipeline in the same process.
 */
export function localFunctions(options: LocalFunctionsOptions): LocalFunctions {
  const { serviceName, metricsNamespace: namespace } = topology.observability;
  const named = (fn: string) => ({
    logger: new StdoutLogger({
      serviceName: `${serviceName}-${fn}`,
      ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    }),
    metrics: new Metrics({ serviceName: `${serviceName}-${fn}`, namespace }),
  });
  const generatorObservability = named('generator');
  const ingestObservability = named('ingest');
  const reconcileObservability = named('reconcile');
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
    reconcile: createReconcileHandler({
      s3,
      sqs,
      db: pool,
      ...reconcileObservability,
      clock: Date.now,
      config: options.reconcile,
    }),
    close: async () => {
      await pool.end();
      s3.destroy();
      sqs.destroy();
    },
  };
}
