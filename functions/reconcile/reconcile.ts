import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Log } from '../shared/observability.ts';
import { s3NotificationBody } from '../shared/s3-notification.ts';
import {
  type ListedObject,
  type Queryable,
  type ReconcileReason,
  reasonsFor,
  recordReconciled,
} from './ledger.ts';

/** What a reconciliation needs; the caller creates (and owns) each of them. */
export interface ReconcileDeps {
  s3: S3Client;
  sqs: SQSClient;
  db: Queryable;
  logger: Log;
  /** Milliseconds since the epoch (object ages are measured against it). */
  clock: () => number;
}

/** What one run looks at, and how far it may go. */
export interface ReconcileOptions {
  bucket: string;
  prefix: string;
  suffixes: readonly string[];
  queueUrl: string;
  /** Only objects in the bucket at least this long (seconds). */
  graceSeconds: number;
  /** An `in_progress` object without a commit for this long is sent again (seconds). */
  staleSeconds: number;
  /** Keys listed in this run, at most. */
  maxObjects: number;
  /** Notifications sent in this run, at most. */
  maxNotifications: number;
  /** The bucket's region, written into the notifications. */
  region?: string | undefined;
  /** Start listing after this key (where the previous run stopped); unset, at the beginning. */
  startAfter?: string | undefined;
  /** Only objects last modified at or after this time. */
  since?: Date | undefined;
  /** Find what would be sent, send nothing, record nothing. */
  dryRun?: boolean;
  /** Milliseconds left in the invocation; the run stops listing with `reserveMs` to spare. */
  remainingMs?: () => number;
  reserveMs?: number;
  /** Called for every object sent (or, in a dry run, that would be sent), in key order. */
  onObject?: (o: ReconciledObject) => void;
}

/** An object version sent to the ingest queue again, and why. */
export interface ReconciledObject extends ListedObject {
  reason: ReconcileReason;
}

/** What one run did. */
export interface ReconcileSummary {
  /** Keys listed. */
  listed: number;
  /** Listed keys the bucket notifies for, older than the grace period (and newer than `since`). */
  eligible: number;
  /** Notifications sent (in a dry run: that would have been sent). */
  reconciled: number;
  byReason: Record<ReconcileReason, number>;
  dryRun: boolean;
  /** True when the listing reached its end; the next run starts at the beginning. */
  complete: boolean;
  /** Where the next run starts listing when this one stopped early. */
  nextStartAfter?: string;
  /** What stopped the run before the end of the listing. */
  stoppedBy?: 'maxObjects' | 'maxNotifications' | 'deadline';
}

/** Keys per ListObjectsV2 page (S3's maximum). */
const PAGE = 1000;

/**
 * Find the objects in the bucket whose notification was lost, and notify the ingest queue of them
 * again, exactly as S3 would have: list the keys under the prefix page by page (bounded per run),
 * keep those the bucket notifies for that have been there longer than the grace period, ask the
 * ledger about all of a page's versions in one query, and send an `ObjectCreated` notification for
 * each version that has no ledger row (`unrecorded`), is recorded as not found when its notification
 * came (`missing`, now it is there), or is `in_progress` with no commit for longer than its
 * continuation could take (`stalled`). Each notification sent is recorded in `reconciled_objects`.
 *
 * Safe to run at any time and twice at once: a notification for an object being ingested or already
 * done is a no-op for ingest, whose ledger serializes work on an object version.
 */
export async function reconcile(deps: ReconcileDeps, options: ReconcileOptions): Promise<ReconcileSummary> {
  const summary: ReconcileSummary = {
    listed: 0,
    eligible: 0,
    reconciled: 0,
    byReason: { unrecorded: 0, missing: 0, stalled: 0 },
    dryRun: options.dryRun ?? false,
    complete: false,
  };
  const cutoff = deps.clock() - options.graceSeconds * 1000;
  const since = options.since?.getTime() ?? Number.NEGATIVE_INFINITY;
  const deadlineNear = () => {
    const left = options.remainingMs?.();
    return left !== undefined && left < (options.reserveMs ?? 0);
  };
  let token: string | undefined;
  let lastKey = options.startAfter;
  for (;;) {
    if (deadlineNear()) return stop(summary, 'deadline', lastKey);
    const page = await deps.s3.send(
      new ListObjectsV2Command({
        Bucket: options.bucket,
        Prefix: options.prefix,
        MaxKeys: Math.min(PAGE, options.maxObjects - summary.listed),
        ...(token ? { ContinuationToken: token } : lastKey ? { StartAfter: lastKey } : {}),
      }),
    );
    const listed: ListedObject[] = [];
    for (const o of page.Contents ?? []) {
      if (!o.Key) continue;
      summary.listed++;
      const modified = o.LastModified?.getTime() ?? 0;
      if (!options.suffixes.some((s) => o.Key?.endsWith(s))) continue;
      if (modified > cutoff || modified < since) continue;
      listed.push({
        key: o.Key,
        etag: (o.ETag ?? '').replace(/"/g, ''),
        size: o.Size ?? 0,
        lastModified: o.LastModified ?? new Date(0),
      });
    }
    summary.eligible += listed.length;
    const reasons = await reasonsFor(deps.db, options.bucket, listed, options.staleSeconds);
    const due: ReconciledObject[] = [];
    // At the cap, stop before the first object that would go over it: everything listed before it
    // is decided, so the next run starts right after the last of those.
    let cut: { at: string | undefined } | undefined;
    for (const [i, o] of listed.entries()) {
      const reason = reasons[i];
      if (!reason) continue;
      if (summary.reconciled + due.length >= options.maxNotifications) {
        cut = { at: i > 0 ? listed[i - 1]?.key : lastKey };
        break;
      }
      due.push({ ...o, reason });
    }
    await send(deps, options, due);
    for (const o of due) {
      summary.byReason[o.reason]++;
      options.onObject?.(o);
    }
    summary.reconciled += due.length;
    if (cut) return stop(summary, 'maxNotifications', cut.at);
    lastKey = page.Contents?.at(-1)?.Key ?? lastKey;
    if (!page.IsTruncated) {
      summary.complete = true;
      return summary;
    }
    if (summary.listed >= options.maxObjects) return stop(summary, 'maxObjects', lastKey);
    token = page.NextContinuationToken;
  }
}

function stop(
  summary: ReconcileSummary,
  by: NonNullable<ReconcileSummary['stoppedBy']>,
  next: string | undefined,
): ReconcileSummary {
  return { ...summary, stoppedBy: by, ...(next !== undefined ? { nextStartAfter: next } : {}) };
}

/** Send one notification per object (in batches of ten), then record them; nothing in a dry run. */
async function send(deps: ReconcileDeps, options: ReconcileOptions, due: readonly ReconciledObject[]) {
  if (due.length === 0 || options.dryRun) return;
  for (let i = 0; i < due.length; i += 10) {
    const entries = due.slice(i, i + 10).map(
      (o, j): SendMessageBatchRequestEntry => ({
        Id: String(j),
        MessageBody: s3NotificationBody(
          { bucket: options.bucket, key: o.key, size: o.size, etag: o.etag, kind: 'Put', at: o.lastModified },
          { region: options.region, configurationId: 'reconcile' },
        ),
        MessageAttributes: { reconcileReason: { DataType: 'String', StringValue: o.reason } },
      }),
    );
    await sendAll(deps.sqs, options.queueUrl, entries);
  }
  await recordReconciled(deps.db, options.bucket, due);
  for (const o of due)
    deps.logger.info('object reconciled', {
      bucket: options.bucket,
      key: o.key,
      etag: o.etag,
      reason: o.reason,
    });
}

/** Send a batch, retrying the entries SQS reports as failed; throws when some still fail. */
async function sendAll(sqs: SQSClient, queueUrl: string, entries: SendMessageBatchRequestEntry[]) {
  let pending = entries;
  for (let attempt = 1; pending.length > 0; attempt++) {
    const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
    const failed = new Set((out.Failed ?? []).map((f) => f.Id));
    if (failed.size > 0 && attempt >= 5) {
      const first = out.Failed?.[0];
      throw new Error(`SendMessageBatch failed for ${failed.size} entries: ${first?.Code} ${first?.Message}`);
    }
    pending = pending.filter((e) => failed.has(e.Id));
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 200 * attempt));
  }
}
