import type { SQSRecord } from 'aws-lambda';
import { DEFAULT_CHUNK_ROWS, type IngestConfig } from '../../functions/ingest/config.ts';
import { type IngestDeps, type IngestOptions, ingestObjects } from '../../functions/ingest/ingest.ts';
import { type ObjectOutcome, withTimings } from '../../functions/ingest/outcome.ts';
import { ingestRecords, type RecordOutcome, type RecordsDeps } from '../../functions/ingest/records.ts';
import type { ObjectRef } from '../../functions/ingest/s3-event.ts';
import { TransientError } from '../../functions/shared/errors.ts';

/** Ingest options as the deployed function has them, without a deadline. */
export const OPTIONS: IngestOptions = { chunkRows: DEFAULT_CHUNK_ROWS, maxRejectRatio: 1 };

/** The configuration of the handler in tests: the test's bucket; no queues and no budget unless given. */
export function testConfig(bucket: string, overrides: Partial<IngestConfig> = {}): IngestConfig {
  return {
    buckets: [bucket],
    afterIngest: 'keep',
    archivePrefix: 'archive/',
    chunkRows: DEFAULT_CHUNK_ROWS,
    maxRejectRatio: 1,
    ...overrides,
  };
}

/** Ingest one object; a transient failure throws, as SQS would then redeliver. */
export async function ingestOne(
  deps: IngestDeps,
  ref: ObjectRef,
  options: Partial<IngestOptions> = {},
): Promise<ObjectOutcome> {
  return (await ingestMany(deps, [ref], options))[0] as ObjectOutcome;
}

/** Ingest objects together (one run of the algorithm); transient failures stay `retry` outcomes. */
export async function ingestMany(
  deps: IngestDeps,
  refs: readonly ObjectRef[],
  options: Partial<IngestOptions> = {},
): Promise<ObjectOutcome[]> {
  const out = await ingestObjects(deps, refs, { ...OPTIONS, ...options });
  const timed = out.map((o, i) => withTimings(o, refs[i]?.eventTime));
  if (refs.length === 1 && timed[0]?.status === 'retry') throw new TransientError(timed[0].error ?? 'retry');
  return timed;
}

/** Handle one SQS record as the handler does; an error is what would make SQS redeliver it. */
export async function handleRecord(deps: RecordsDeps, record: SQSRecord): Promise<RecordOutcome> {
  const outcome = (await ingestRecords(deps, [record])).get(record.messageId);
  if (outcome instanceof Error) throw outcome;
  if (!outcome) throw new Error('no outcome for the record');
  return outcome;
}
