import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { lambdaContext } from './lambda.ts';

/** An SQS batch handler, as deployed to Lambda. */
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** Settings of the event-source emulation; defaults come from the topology. */
export interface PollerOptions {
  queueUrl: string;
  queueArn: string;
  /** Records per invocation, at most. */
  batchSize: number;
  /** How long to wait for a batch to fill once its first record arrived (ms). */
  batchingWindowMs: number;
  /** Concurrent poll loops = concurrent invocations. */
  concurrency: number;
  /** Function timeout, for the context's `getRemainingTimeInMillis`. */
  timeoutMs: number;
  functionName: string;
  memoryMb: number;
  region?: string;
}

/** Counters the status line and tests read. */
export interface PollerStats {
  invocations: number;
  received: number;
  deleted: number;
  failed: number;
  handlerErrors: number;
}

/**
 * A Lambda-style SQS event source in-process: C loops long-poll the queue, gather up to N records
 * within the batching window, invoke the handler with a real `SQSEvent` and a Lambda-like context,
 * and delete only the records not reported in `batchItemFailures`. Failed records stay invisible
 * until their visibility timeout ends, then SQS redelivers them (and after `maxReceiveCount`
 * receives moves them to the DLQ), exactly as with the AWS event source mapping. A handler that
 * throws fails the whole batch, as on Lambda.
 */
export class SqsPoller {
  readonly stats: PollerStats = { invocations: 0, received: 0, deleted: 0, failed: 0, handlerErrors: 0 };
  private stopping = false;
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  /** Called when the handler throws or deleting fails; the poller keeps going. */
  onError: (e: unknown) => void = () => {};

  constructor(
    private readonly sqs: SQSClient,
    private readonly handler: SqsHandler,
    private readonly options: PollerOptions,
  ) {}

  start(): void {
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop());
  }

  /** Stop receiving, let the batches in flight finish (and their deletes), then resolve. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let batch: Message[];
      try {
        batch = await this.collect();
      } catch (e: unknown) {
        if (this.stopping) break;
        this.onError(e);
        await sleep(1000);
        continue;
      }
      if (batch.length > 0) await this.invoke(batch);
    }
  }

  /** Long-poll for the first records, then top up until the batch is full or the window closes. */
  private async collect(): Promise<Message[]> {
    const { batchSize, batchingWindowMs } = this.options;
    const batch = await this.receive(Math.min(10, batchSize), 20);
    if (batch.length === 0) return batch;
    const deadline = Date.now() + batchingWindowMs;
    while (batch.length < batchSize && !this.stopping) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let more: Message[];
      try {
        more = await this.receive(Math.min(10, batchSize - batch.length), left >= 1000 ? 1 : 0);
      } catch (e: unknown) {
        // Records already received must still be handled: a stop finishes the batch in hand.
        if (this.stopping) break;
        throw e;
      }
      batch.push(...more);
      if (more.length === 0 && left < 1000) await sleep(Math.min(left, 20));
    }
    return batch;
  }

  private async receive(max: number, waitSeconds: number): Promise<Message[]> {
    const out = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.options.queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: this.abort.signal },
    );
    const messages = out.Messages ?? [];
    this.stats.received += messages.length;
    return messages;
  }

  private async invoke(messages: Message[]): Promise<void> {
    const event: SQSEvent = { Records: messages.map((m) => this.toRecord(m)) };
    this.stats.invocations++;
    let failedIds = new Set<string>();
    try {
      const response = await this.handler(event, this.context());
      failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (e: unknown) {
      this.stats.handlerErrors++;
      this.onError(e);
      failedIds = new Set(messages.map((m) => m.MessageId as string));
    }
    this.stats.failed += failedIds.size;
    const done = messages.filter((m) => !failedIds.has(m.MessageId as string));
    if (done.length === 0) return;
    try {
      const out = await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
        }),
      );
      this.stats.deleted += out.Successful?.length ?? 0;
      if (out.Failed?.length)
        this.onError(new Error(`DeleteMessageBatch failed for ${out.Failed.length} entries`));
    } catch (e: unknown) {
      // Not deleted means redelivered later; the ledger makes that harmless.
      this.onError(e);
    }
  }

  private toRecord(m: Message): SQSRecord {
    const a = m.Attributes ?? {};
    return {
      messageId: m.MessageId as string,
      receiptHandle: m.ReceiptHandle as string,
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
        SentTimestamp: a.SentTimestamp ?? String(Date.now()),
        SenderId: a.SenderId ?? 'LOCAL',
        ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [
          k,
          { dataType: v.DataType ?? 'String', stringValue: v.StringValue },
        ]),
      ),
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.options.queueArn,
      awsRegion: this.options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    };
  }

  private context(): Context {
    const { functionName, memoryMb, timeoutMs, region } = this.options;
    return lambdaContext({ functionName, memoryMb, timeoutMs, ...(region ? { region } : {}) });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
