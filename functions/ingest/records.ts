import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { BadMessageError, TransientError } from '../shared/errors.ts';
import { afterIngest } from './after.ts';
import type { IngestConfig } from './config.ts';
import { type IngestDeps, ingestObjects } from './ingest.ts';
import { type ObjectOutcome, withTimings } from './outcome.ts';
import { type ObjectRef, parseMessageBody, preview } from './s3-event.ts';

/** What the records of a batch need: ingest's dependencies, SQS and the configuration. */
export interface RecordsDeps extends IngestDeps {
  sqs: SQSClient;
  config: IngestConfig;
}

/** What happened to one SQS record when it may be deleted. */
export type RecordOutcome =
  | { kind: 'objects'; objects: ObjectOutcome[] }
  | { kind: 'ignored'; reason: string }
  | { kind: 'dead-lettered'; reason: string };

/**
 * Handle the records of one SQS batch: every S3 notification among them is ingested together (one
 * run of {@link ingestObjects}); test events are acknowledged; poison goes to the DLQ with its
 * reason. Returns, per messageId, the record's outcome, or the error that must make SQS redeliver it.
 *
 * A record whose objects are `continue` or `deferred` (the deadline came first) is sent again to
 * the ingest queue as it is and then acknowledged: the ledger tells the next invocation where to
 * resume, and the object does not use up the message's receive count.
 */
export async function ingestRecords(
  deps: RecordsDeps,
  records: readonly SQSRecord[],
  remainingMs?: () => number,
): Promise<Map<string, RecordOutcome | Error>> {
  const out = new Map<string, RecordOutcome | Error>();
  const named: { record: SQSRecord; refs: ObjectRef[] }[] = [];
  for (const record of records) {
    const log = { messageId: record.messageId };
    try {
      const parsed = parseMessageBody(record.body);
      if (parsed.kind === 'ignore') {
        deps.logger.info('message acknowledged without work', { ...log, reason: parsed.reason });
        out.set(record.messageId, { kind: 'ignored', reason: parsed.reason });
        continue;
      }
      const foreign = parsed.objects.find((o) => !deps.config.buckets.includes(o.bucket));
      if (foreign)
        throw new BadMessageError(
          `unexpected_bucket: the notification names bucket "${foreign.bucket}"; this function ingests only ${deps.config.buckets.map((b) => `"${b}"`).join(', ')}`,
        );
      named.push({ record, refs: parsed.objects });
    } catch (e: unknown) {
      if (!(e instanceof BadMessageError)) throw e;
      deps.logger.error('poison message: not an S3 event', { ...log, error: e.message });
      out.set(record.messageId, await deadLetter(deps, record, e));
    }
  }

  const total = remainingMs?.();
  const outcomes = await ingestObjects(
    deps,
    named.flatMap((n) => n.refs),
    {
      chunkRows: deps.config.chunkRows,
      maxRejectRatio: deps.config.maxRejectRatio,
      ...(remainingMs && total !== undefined
        ? { remainingMs, reserveMs: deps.config.reserveMs ?? Math.min(10_000, total / 4) }
        : {}),
    },
  );

  await afterIngest(deps.s3, deps.config, outcomes, deps.logger);

  let next = 0;
  for (const { record, refs } of named) {
    const objects = refs.map((ref, i) => withTimings(outcomes[next + i] as ObjectOutcome, ref.eventTime));
    next += refs.length;
    for (const o of objects) log(deps, record.messageId, o);
    const retry = objects.find((o) => o.status === 'retry');
    if (retry) {
      out.set(record.messageId, new TransientError(retry.error ?? 'transient failure'));
      continue;
    }
    if (objects.some((o) => o.status === 'continue' || o.status === 'deferred')) {
      const failed = await continueLater(deps, record);
      if (failed) {
        out.set(record.messageId, failed);
        continue;
      }
    }
    out.set(record.messageId, { kind: 'objects', objects });
  }
  return out;
}

function log(deps: RecordsDeps, messageId: string, o: ObjectOutcome): void {
  const { committedAt: _c, newestEventMs: _n, ...fields } = o;
  const line = { messageId, ...fields };
  // A failed or missing object is an expected, acknowledged outcome (the ledger holds it): info.
  if (o.status === 'retry') deps.logger.warn('object will be retried', line);
  else deps.logger.info(`object ${o.status}`, line);
}

/** Send the record again to the ingest queue; an error when that is not possible (then SQS redelivers). */
async function continueLater(deps: RecordsDeps, record: SQSRecord): Promise<Error | undefined> {
  if (!deps.config.queueUrl)
    return new TransientError(
      'No ingest queue URL to continue on: the record is redelivered after its visibility timeout',
    );
  try {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.config.queueUrl,
        MessageBody: record.body,
        MessageAttributes: { continuationOf: { DataType: 'String', StringValue: record.messageId } },
      }),
    );
    return undefined;
  } catch (e: unknown) {
    return new TransientError(`Cannot send the continuation message: ${(e as Error).message}`, { cause: e });
  }
}

/** Send a poison message to the DLQ with its reason; without a DLQ, SQS moves it after maxReceiveCount. */
async function deadLetter(
  deps: RecordsDeps,
  record: SQSRecord,
  e: BadMessageError,
): Promise<RecordOutcome | Error> {
  if (!deps.config.dlqUrl) return e;
  try {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.config.dlqUrl,
        MessageBody: record.body === '' ? '(empty)' : record.body,
        MessageAttributes: {
          reason: { DataType: 'String', StringValue: preview(e.message, 1000) },
          sourceMessageId: { DataType: 'String', StringValue: record.messageId },
        },
      }),
    );
    return { kind: 'dead-lettered', reason: e.message };
  } catch (err: unknown) {
    return new TransientError(`Cannot send poison message to the DLQ: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
