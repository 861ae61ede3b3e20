import { numberEnv, optionalEnv } from '../shared/env.ts';

/** Settings of the ingest function, read once at cold start (or passed in by the local runtime and tests). */
export interface IngestConfig {
  /** The ingest queue itself: an object stopped before the deadline is continued through it. */
  queueUrl?: string;
  /** Where a message that can never succeed goes at once, with its reason. */
  dlqUrl?: string;
  /** Records per transaction, at most. */
  chunkRows: number;
  /** An object whose rejected share is above this commits no rows and fails (1 = no budget). */
  maxRejectRatio: number;
  /** Stop reading this long before the invocation's deadline; default a quarter of it, at most 10 s. */
  reserveMs?: number;
}

/**
 * Records per transaction when nothing says otherwise. Measured here (`npm run bench`): 50,000 rows
 * keep a transaction's fixed cost (claim, probe, ledger, commit) under 1 % of its time, while a
 * chunk stays a few MB in memory and one commit stays well inside a function's timeout.
 */
export const DEFAULT_CHUNK_ROWS = 50_000;

/** The configuration from environment variables; throws naming a variable that is set wrong. */
export function readIngestConfig(env: NodeJS.ProcessEnv): IngestConfig {
  const chunkRows = numberEnv('INGEST_CHUNK_ROWS', DEFAULT_CHUNK_ROWS, env);
  if (!Number.isInteger(chunkRows) || chunkRows < 1)
    throw new Error(`Environment variable INGEST_CHUNK_ROWS must be a positive integer, got ${chunkRows}`);
  const maxRejectRatio = numberEnv('MAX_REJECT_RATIO', 1, env);
  if (!(maxRejectRatio >= 0 && maxRejectRatio <= 1))
    throw new Error(`Environment variable MAX_REJECT_RATIO must be between 0 and 1, got ${maxRejectRatio}`);
  const reserveMs = optionalEnv('DEADLINE_RESERVE_MS', env);
  const queueUrl = optionalEnv('QUEUE_URL', env);
  const dlqUrl = optionalEnv('DLQ_URL', env);
  return {
    chunkRows,
    maxRejectRatio,
    ...(queueUrl ? { queueUrl } : {}),
    ...(dlqUrl ? { dlqUrl } : {}),
    ...(reserveMs ? { reserveMs: numberEnv('DEADLINE_RESERVE_MS', 0, env) } : {}),
  };
}
