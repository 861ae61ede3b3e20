import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type LedgerCounts, type Queryable, readCounts } from './dashboard/queries.ts';

/** Counts shown by the status line and the dashboard: the runtime's, the ledger's and the queues'. */
export interface PipelineStatus extends LedgerCounts {
  generatedObjects: number;
  generatedEvents: number;
  queueDepth: number;
  inFlight: number;
  dlqDepth: number;
}

/** Visible and in-flight messages of a queue. */
export async function queueCounts(
  sqs: SQSClient,
  url: string,
): Promise<{ visible: number; inFlight: number }> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

/** The status now: the runtime's generator counters, the ledger totals and both queues' depths. */
export async function readStatus(source: {
  sqs: SQSClient;
  db: Queryable;
  queueUrl: string;
  dlqUrl: string;
  generated: { objects: number; events: number };
}): Promise<PipelineStatus> {
  const [counts, q, d] = await Promise.all([
    readCounts(source.db),
    queueCounts(source.sqs, source.queueUrl),
    queueCounts(source.sqs, source.dlqUrl),
  ]);
  return {
    generatedObjects: source.generated.objects,
    generatedEvents: source.generated.events,
    ...counts,
    queueDepth: q.visible,
    inFlight: q.inFlight,
    dlqDepth: d.visible + d.inFlight,
  };
}
