import { optionalUrlEnv } from '../shared/env.ts';

/** The ingest function's own settings (its clients, pool and logger are passed separately). */
export interface IngestConfig {
  /**
   * The dead-letter queue. A message that can never work (not JSON, not an S3 event) is sent there
   * with its reason and acknowledged; without it, such a message fails until SQS moves it there.
   */
  dlqUrl?: string;
  /** The ingest queue itself, for messages the function sends back to its own queue. */
  queueUrl?: string;
}

/**
 * The ingest configuration of a deployed function: `DLQ_URL` and `QUEUE_URL`, both optional, each
 * checked to be an http(s) URL when set. Throws an error naming the variable otherwise.
 */
export function readIngestConfig(env: NodeJS.ProcessEnv): IngestConfig {
  const dlqUrl = optionalUrlEnv('DLQ_URL', env);
  const queueUrl = optionalUrlEnv('QUEUE_URL', env);
  return { ...(dlqUrl ? { dlqUrl } : {}), ...(queueUrl ? { queueUrl } : {}) };
}
