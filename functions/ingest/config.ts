import { numberEnv, optionalUrlEnv } from '../shared/env.ts';

/** The ingest function's own settings (its clients, pool and logger are passed separately). */
export interface IngestConfig {
  /**
   * The dead-letter queue. A message that can never work (not JSON, not an S3 event) is sent there
   * with its reason and acknowledged; without it, such a message fails until SQS moves it there.
   */
  dlqUrl?: string;
  /**
   * The ingest queue itself: an object stopped before the deadline is continued by sending its
   * notification there again. Without it, the record is redelivered after its visibility timeout.
   */
  queueUrl?: string;
  /** Records per transaction, at most. */
  chunkRows: number;
  /** An object whose rejected share is above this commits no rows and fails (1 = no budget). */
  maxRejectRatio: number;
  /** Stop reading this long before the invocation's deadline; default a quarter of it, at most 10 s. */
  reserveMs?: number;
}

/**
 * Records per transaction when nothing says otherwise: enough that a transaction's fixed cost
 * (claim, probe, ledger, commit) is small next to its rows, few enough that a chunk stays a few MB
 * in memory and its commit a fraction of a function's timeout.
 */
export const DEFAULT_CHUNK_ROWS = 50_000;

/** The reject budget when nothing says otherwise (the topology's; a test keeps them equal). */
export const DEFAULT_MAX_REJECT_RATIO = 0.5;

/**
 * The ingest configuration of a deployed function: `DLQ_URL` and `QUEUE_URL` (optional http(s)
 * URLs), `INGEST_CHUNK_ROWS`, `MAX_REJECT_RATIO` and `DEADLINE_RESERVE_MS`. Throws an error naming
 * the variable that is set wrong.
 */
export function readIngestConfig(env: NodeJS.ProcessEnv): IngestConfig {
  const dlqUrl = optionalUrlEnv('DLQ_URL', env);
  const queueUrl = optionalUrlEnv('QUEUE_URL', env);
  const chunkRows = numberEnv('INGEST_CHUNK_ROWS', DEFAULT_CHUNK_ROWS, env);
  if (!Number.isInteger(chunkRows) || chunkRows < 1)
    throw new Error(`Environment variable INGEST_CHUNK_ROWS must be a positive integer, got ${chunkRows}`);
  const maxRejectRatio = numberEnv('MAX_REJECT_RATIO', DEFAULT_MAX_REJECT_RATIO, env);
  if (!(maxRejectRatio >= 0 && maxRejectRatio <= 1))
    throw new Error(`Environment variable MAX_REJECT_RATIO must be between 0 and 1, got ${maxRejectRatio}`);
  const reserveMs = numberEnv('DEADLINE_RESERVE_MS', Number.NaN, env);
  return {
    chunkRows,
    maxRejectRatio,
    ...(dlqUrl ? { dlqUrl } : {}),
    ...(queueUrl ? { queueUrl } : {}),
    ...(Number.isNaN(reserveMs) ? {} : { reserveMs }),
  };
}
