import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';

/** Who a function's logs and metrics belong to. */
export interface ObservabilityOptions {
  /** The `service` key of every JSON log line and EMF metric, e.g. `ecommerce-pipeline-ingest`. */
  serviceName: string;
  /** The CloudWatch metrics namespace. */
  namespace: string;
  /** Lowest level written; unset, Powertools reads `POWERTOOLS_LOG_LEVEL` (default INFO). */
  logLevel?: LogLevel;
}

/**
 * Logger and Metrics for one function, named explicitly by the caller, so the JSON log lines and
 * EMF metrics are identical on AWS, LocalStack and locally, and two functions (or two pipelines) in
 * one process never take each other's names.
 */
export function observability(options: ObservabilityOptions): { logger: Logger; metrics: Metrics } {
  const { serviceName, namespace, logLevel } = options;
  return {
    logger: new Logger({ serviceName, ...(logLevel ? { logLevel } : {}) }),
    metrics: new Metrics({ serviceName, namespace }),
  };
}

/** The metrics namespace when the environment names none. */
export const DEFAULT_METRICS_NAMESPACE = 'EcommercePipeline';

/**
 * {@link observability} as a deployed function is configured: `POWERTOOLS_SERVICE_NAME` (else
 * `defaultService`) and `POWERTOOLS_METRICS_NAMESPACE`, which the CDK stack sets from the topology.
 */
export function observabilityFromEnv(
  env: NodeJS.ProcessEnv,
  defaultService: string,
): { logger: Logger; metrics: Metrics } {
  return observability({
    serviceName: env.POWERTOOLS_SERVICE_NAME || defaultService,
    namespace: env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE,
  });
}

/** The subset of the Powertools Logger the domain uses; lets tests pass a recording fake. */
export interface Log {
  debug(message: string, ...attributes: Record<string, unknown>[]): void;
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}
