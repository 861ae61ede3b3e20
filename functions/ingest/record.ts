import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { BadMessageError, PipelineError, TransientError } from '../shared/errors.ts';
import { type IngestDeps, ingestObject, type ObjectResult } from './ingest.ts';
import { parseMessageBody, preview } from './s3-event.ts';

/** Dependencies of {@link processRecord}: the ingest deps plus where poison messages go. */
export interface RecordDeps extends IngestDeps {
  sqs: SQSClient;
  /** When set, a message that can never succeed is sent here at once with its reason. */
  dlqUrl?: string;
}

/** What happened to one SQS record (when it did not throw). */
export type RecordOutcome =
  | { kind: 'objects'; objects: ObjectResult[] }
  | { kind: 'ignored'; reason: string }
  | { kind: 'dead-lettered'; reason: string };

/**
 * Handle one SQS record. Resolves when the record may be deleted; throws when it must be retried
 * (a transient failure of any object it names — objects already committed are skipped by the ledger
 * on redelivery) or, without a DLQ URL, when it is poison (SQS then moves it to the DLQ after
 * `maxReceiveCount` receives).
 */
export async function processRecord(deps: RecordDeps, record: SQSRecord): Promise<RecordOutcome> {
  const log = { messageId: record.messageId };
  let parsed: ReturnType<typeof parseMessageBody>;
  try {
    parsed = parseMessageBody(record.body);
  } catch (e: unknown) {
    if (!(e instanceof BadMessageError)) throw e;
    deps.logger.error('poison message: not an S3 event', { ...log, error: e.message });
    if (!deps.dlqUrl) throw e;
    await deadLetter(deps, record, e.message);
    return { kind: 'dead-lettered', reason: e.message };
  }
  if (parsed.kind === 'ignore') {
    deps.logger.info('message acknowledged without work', { ...log, reason: parsed.reason });
    return { kind: 'ignored', reason: parsed.reason };
  }

  const objects: ObjectResult[] = [];
  for (const ref of parsed.objects) {
    try {
      const result = await ingestObject(deps, ref);
      objects.push(result);
      deps.logger.info(`object ${result.status}`, { ...log, ...result });
    } catch (e: unknown) {
      const error = e instanceof PipelineError ? e : new TransientError(String(e), { cause: e });
      deps.logger.warn('object will be retried', {
        ...log,
        bucket: ref.bucket,
        key: ref.key,
        error: error.message,
      });
      throw error;
    }
  }
  return { kind: 'objects', objects };
}

async function deadLetter(deps: RecordDeps, record: SQSRecord, reason: string): Promise<void> {
  try {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.dlqUrl,
        MessageBody: record.body === '' ? '(empty)' : record.body,
        MessageAttributes: {
          reason: { DataType: 'String', StringValue: preview(reason, 1000) },
          sourceMessageId: { DataType: 'String', StringValue: record.messageId },
        },
      }),
    );
  } catch (e: unknown) {
    throw new TransientError(`Cannot send poison message to the DLQ: ${(e as Error).message}`, { cause: e });
  }
}
