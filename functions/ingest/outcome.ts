import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { PartResult } from './commit.ts';
import type { ObjectRef } from './s3-event.ts';

/**
 * What one invocation did with one object: the one result type of ingest, read by the handler to
 * answer SQS, by the logs and by the metrics.
 *
 * - `ingested`, `failed`: the ledger's final word (a failed object is acknowledged: retrying cannot help).
 * - `missing`: the object version was not in the bucket; recorded, and ingested if it appears later.
 * - `skipped`: already finished (a redelivery or replay), or another worker is on it.
 * - `continue`: committed up to a checkpoint before the deadline; goes on in a new invocation.
 * - `deferred`: not started before the deadline.
 * - `retry`: a transient failure; SQS redelivers the record.
 * - `in_progress`: no word yet (only while the run is under way).
 */
export type ObjectStatus =
  | 'ingested'
  | 'failed'
  | 'missing'
  | 'skipped'
  | 'continue'
  | 'deferred'
  | 'retry'
  | 'in_progress';

/** One object's outcome. Row counts are this invocation's share (whole-object for one-shot objects). */
export interface ObjectOutcome {
  bucket: string;
  key: string;
  etag?: string;
  status: ObjectStatus;
  error?: string;
  rowsTotal: number;
  rowsInserted: number;
  rowsDuplicate: number;
  rowsRejected: number;
  /** Transactions that committed rows of it. */
  chunks: number;
  /** Byte offset it resumed from, when it did not start at the beginning. */
  resumedAt?: number;
  /** How it was compressed, when it was. */
  encoding?: 'gzip' | 'zstd';
  /** Columns of its header the event does not have (kept per row in `user_events.extra`). */
  extraColumns?: string[];
  /** For a `skipped` object: what the ledger already said of it. */
  previously?: 'ingested' | 'failed';
  /** What was done to the source once it was ingested (see `afterIngest`). */
  afterIngest?: 'deleted' | 'archived' | 'failed';
  /** Object created (per the notification) → last commit. */
  latencyMs?: number;
  /** Newest event_timestamp → last commit. */
  eventLagMs?: number;
  newestEventMs?: number;
  committedAt?: number;
  durationMs: number;
}

/** The outcome of an object not worked on yet. */
export function newOutcome(ref: ObjectRef): ObjectOutcome {
  return {
    bucket: ref.bucket,
    key: ref.key,
    ...(ref.etag ? { etag: ref.etag } : {}),
    status: 'in_progress',
    rowsTotal: 0,
    rowsInserted: 0,
    rowsDuplicate: 0,
    rowsRejected: 0,
    chunks: 0,
    durationMs: 0,
  };
}

/** An outcome with one commit's result for its object added. */
export function addCommit(
  o: ObjectOutcome,
  r: PartResult,
  newestMs: number | undefined,
  committedAt: number,
): ObjectOutcome {
  return {
    ...o,
    status: r.status === 'superseded' ? 'skipped' : r.status,
    ...(r.error ? { error: r.error } : {}),
    etag: r.plan.ref.etag,
    rowsTotal: o.rowsTotal + r.total,
    rowsInserted: o.rowsInserted + r.inserted,
    rowsDuplicate: o.rowsDuplicate + r.duplicate,
    rowsRejected: o.rowsRejected + r.rejected,
    chunks: o.chunks + (r.total > 0 ? 1 : 0),
    ...(r.plan.encoding ? { encoding: r.plan.encoding } : {}),
    ...(r.plan.columns?.extras.length ? { extraColumns: r.plan.columns.extras } : {}),
    newestEventMs: Math.max(
      o.newestEventMs ?? Number.NEGATIVE_INFINITY,
      newestMs ?? Number.NEGATIVE_INFINITY,
    ),
    committedAt,
  };
}

/** Latency and event lag of a committed outcome. */
export function withTimings(o: ObjectOutcome, eventTime: string | undefined): ObjectOutcome {
  if (o.committedAt === undefined) return o;
  const created = eventTime ? Date.parse(eventTime) : Number.NaN;
  const newest = o.newestEventMs ?? Number.NEGATIVE_INFINITY;
  return {
    ...o,
    ...(o.status === 'ingested' && !Number.isNaN(created)
      ? { latencyMs: Math.max(0, o.committedAt - created) }
      : {}),
    ...(Number.isFinite(newest) ? { eventLagMs: Math.max(0, o.committedAt - newest) } : {}),
  };
}

/** The EMF metrics of one outcome. */
export function countOutcome(metrics: Metrics, o: ObjectOutcome): void {
  const count = (name: string, n = 1) => metrics.addMetric(name, MetricUnit.Count, n);
  switch (o.status) {
    case 'skipped':
      count('objectsSkippedReplay');
      return;
    case 'ingested':
    case 'failed':
      // Failed objects are acknowledged and in the ledger: counted as ingested and as failed.
      count('objectsIngested');
      if (o.status === 'failed') count('objectsFailed');
      if (o.extraColumns) count('objectsWithExtraColumns');
      break;
    case 'missing':
      count('objectsMissing');
      break;
    case 'continue':
      count('objectsContinued');
      break;
    default:
      break;
  }
  if (o.chunks > 0) count('chunksCommitted', o.chunks);
  if (o.afterIngest === 'archived') count('objectsArchived');
  if (o.afterIngest === 'deleted') count('objectsDeleted');
  if (o.afterIngest === 'failed') count('afterIngestFailed');
  if (o.rowsTotal > 0 || o.status === 'ingested') {
    count('eventsInserted', o.rowsInserted);
    count('eventsDuplicate', o.rowsDuplicate);
    count('eventsRejected', o.rowsRejected);
  }
  if (o.latencyMs !== undefined) metrics.addMetric('ingestLatencyMs', MetricUnit.Milliseconds, o.latencyMs);
  if (o.eventLagMs !== undefined) metrics.addMetric('eventLagMs', MetricUnit.Milliseconds, o.eventLagMs);
}
