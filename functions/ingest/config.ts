import { numberEnv, optionalEnv, optionalUrlEnv } from '../shared/env.ts';
import type { AfterIngest, AfterIngestConfig } from './after.ts';

/** The ingest function's own settings (its clients, pool and logger are passed separately). */
export interface IngestConfig extends AfterIngestConfig {
  /**
   * The buckets this function may read. A notification naming any other bucket is sent to the DLQ
   * (`unexpected_bucket`): the function's role may be able to read more than the pipeline's bucket.
   */
  buckets: readonly string[];
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

const AFTER_INGEST: readonly AfterIngest[] = ['keep', 'delete', 'archive'];

/** The reject budget when nothing says otherwise (the topology's; a test keeps them equal). */
export const DEFAULT_MAX_REJECT_RATIO = 0.5;

/**
 * The ingest configuration of a deployed function: `BUCKETS` (comma-separated; required),
 * `DLQ_URL` and `QUEUE_URL` (optional http(s) URLs), `INGEST_CHUNK_ROWS`, `MAX_REJECT_RATIO`,
 * `DEADLINE_RESERVE_MS`, `AFTER_INGEST` (keep, delete or archive) and `ARCHIVE_PREFIX`. Throws an
 * error naming the variable that is missing or set wrong.
 */
export function readIngestConfig(env: NodeJS.ProcessEnv): IngestConfig {
  const buckets = (env.BUCKETS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  if (buckets.length === 0)
    throw new Error('Environment variable BUCKETS is required: the bucket(s) this function may ingest from');
  const dlqUrl = optionalUrlEnv('DLQ_URL', env);
  const queueUrl = optionalUrlEnv('QUEUE_URL', env);
  const chunkRows = numberEnv('INGEST_CHUNK_ROWS', DEFAULT_CHUNK_ROWS, env);
  if (!Number.isInteger(chunkRows) || chunkRows < 1)
    throw new Error(`Environment variable INGEST_CHUNK_ROWS must be a positive integer, got ${chunkRows}`);
  const maxRejectRatio = numberEnv('MAX_REJECT_RATIO', DEFAULT_MAX_REJECT_RATIO, env);
  if (!(maxRejectRatio >= 0 && maxRejectRatio <= 1))
    throw new Error(`Environment variable MAX_REJECT_RATIO must be between 0 and 1, got ${maxRejectRatio}`);
  const reserveMs = numberEnv('DEADLINE_RESERVE_MS', Number.NaN, env);
  const after = optionalEnv('AFTER_INGEST', env) ?? 'keep';
  if (!AFTER_INGEST.includes(after as AfterIngest))
    throw new Error(
      `Environment variable AFTER_INGEST must be one of ${AFTER_INGEST.join(', ')}, got "${after}"`,
    );
  const archivePrefix = optionalEnv('ARCHIVE_PREFIX', env) ?? 'archive/';
  return {
    buckets,
    afterIngest: after as AfterIngest,
    archivePrefix,
    chunkRows,
    maxRejectRatio,
    ...(dlqUrl ? { dlqUrl } : {}),
    ...(queueUrl ? { queueUrl } : {}),
    ...(Number.isNaN(reserveMs) ? {} : { reserveMs }),
  };
}
