import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Log } from '../shared/observability.ts';
import type { ObjectOutcome } from './outcome.ts';

/** What happens to an object once it is ingested. */
export type AfterIngest = 'keep' | 'delete' | 'archive';

/** Where {@link afterIngest} acts, and how. */
export interface AfterIngestConfig {
  afterIngest: AfterIngest;
  /** `archive` moves `key` to `<archivePrefix><key>` in the same bucket. */
  archivePrefix: string;
}

/**
 * Act on the source of every ingested object (also one a redelivery finds already ingested, so an
 * action cut short is finished by the next delivery): keep it, delete it, or move it under the
 * archive prefix (outside the notification prefix, so it raises no new notification). Only the
 * version that was ingested is touched: the copy is pinned to its etag, and the delete happens only
 * while that version is still the current one. A failure is logged and counted, never retried here:
 * the rows are safe, the object is merely still there.
 */
export async function afterIngest(
  s3: S3Client,
  config: AfterIngestConfig,
  outcomes: ObjectOutcome[],
  logger: Log,
): Promise<void> {
  if (config.afterIngest === 'keep') return;
  for (const o of outcomes) {
    if (!o.etag || !(o.status === 'ingested' || (o.status === 'skipped' && o.previously === 'ingested')))
      continue;
    try {
      if (config.afterIngest === 'archive') {
        await s3.send(
          new CopyObjectCommand({
            Bucket: o.bucket,
            Key: `${config.archivePrefix}${o.key}`,
            CopySource: `${o.bucket}/${o.key.split('/').map(encodeURIComponent).join('/')}`,
            CopySourceIfMatch: `"${o.etag}"`,
          }),
        );
      }
      const head = await s3.send(new HeadObjectCommand({ Bucket: o.bucket, Key: o.key }));
      if ((head.ETag ?? '').replace(/"/g, '') !== o.etag) continue; // overwritten meanwhile: keep the new one
      await s3.send(new DeleteObjectCommand({ Bucket: o.bucket, Key: o.key }));
      o.afterIngest = config.afterIngest === 'archive' ? 'archived' : 'deleted';
    } catch (e: unknown) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // Gone already (an earlier delivery finished the job) or not that version any more: nothing to do.
      if (status === 404 || status === 412) continue;
      o.afterIngest = 'failed';
      logger.warn(`could not ${config.afterIngest} the ingested object; it stays in the bucket`, {
        bucket: o.bucket,
        key: o.key,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }
}
