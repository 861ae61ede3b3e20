import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * Logger and Metrics for one function, created once per cold start. Service name and namespace come
 * from `POWERTOOLS_SERVICE_NAME` / `POWERTOOLS_METRICS_NAMESPACE`, which every runtime sets from the
 * topology, so the JSON log lines and EMF metrics are identical on AWS, LocalStack and locally.
 */
export function observability(defaultService: string): { logger: Logger; metrics: Metrics } {
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? defaultService;
  const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'EcommercePipeline';
  return {
    logger: new Logger({ serviceName }),
    metrics: new Metrics({ serviceName, namespace }),
  };
}

/** The subset of the Powertools Logger the domain uses; lets tests pass a recording fake. */
export interface Log {
  debug(message: string, ...attributes: Record<string, unknown>[]): void;
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}
