/**
 * An ingest worker as a process of its own: the Lambda-style {@link SqsPoller} driving the real
 * ingest handler (`functions/ingest/handler.ts`), configured only by environment variables, like
 * the function on AWS. The chaos run starts several of these and SIGKILLs them at random moments.
 *
 * Environment: everything the ingest handler reads (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials,
 * `DATABASE_URL`, `DLQ_URL`, `DB_POOL_MAX`, `POWERTOOLS_*`), plus the event source's settings:
 * `QUEUE_URL` (required), `QUEUE_ARN`, `BATCH_SIZE`, `BATCHING_WINDOW_MS`, `CONCURRENCY`.
 *
 * SIGTERM or SIGINT: stop receiving, finish the batch in flight (commit its objects and delete
 * their messages), exit 0. Messages received but not handled stay invisible until their visibility
 * timeout ends, then SQS redelivers them: nothing is lost, and no object is left half-written,
 * because each object commits in one transaction.
 *
 * When started with an IPC channel (`fork`, or `spawn` with `'ipc'` in stdio) it reports to its
 * parent: `{ type: 'ready' }` once it polls, `{ type: 'busy', records }` / `{ type: 'idle' }` around
 * every invocation (so a chaos run can kill it mid-batch on purpose), and `{ type: 'stopped' }`
 * before a graceful exit.
 */
import { sqsClient } from '../../../functions/shared/aws.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../../functions/shared/env.ts';
import { topology } from '../../../infra/topology.ts';
import { type SqsHandler, SqsPoller } from '../../local/poller.ts';

const queueUrl = requireEnv('QUEUE_URL');
process.env.POWERTOOLS_SERVICE_NAME ??= `${topology.observability.serviceName}-ingest`;
process.env.POWERTOOLS_METRICS_NAMESPACE ??= topology.observability.metricsNamespace;
// Imported after the service name is set: the handler reads it at cold start.
const { handler } = await import('../../../functions/ingest/handler.ts');

/** The real handler, wrapped only to tell the parent when a batch is in flight. */
const reporting: SqsHandler = async (event, context) => {
  process.send?.({ type: 'busy', records: event.Records.length });
  try {
    return await (handler as SqsHandler)(event, context);
  } finally {
    process.send?.({ type: 'idle' });
  }
};

const poller = new SqsPoller(sqsClient(), reporting, {
  queueUrl,
  queueArn: optionalEnv('QUEUE_ARN') ?? `arn:aws:sqs:local:000000000000:${queueUrl.split('/').pop()}`,
  batchSize: numberEnv('BATCH_SIZE', topology.ingest.batchSize),
  batchingWindowMs: numberEnv('BATCHING_WINDOW_MS', topology.ingest.batchingWindowSeconds * 1000),
  concurrency: numberEnv('CONCURRENCY', topology.ingest.maxConcurrency),
  timeoutMs: topology.ingest.timeoutSeconds * 1000,
  functionName: 'ingest',
  memoryMb: topology.ingest.memoryMb,
  region: process.env.AWS_REGION ?? 'us-east-1',
});
// The handler reports per-record failures itself; what reaches here is a receive or delete error
// (endpoint down), after which the poller backs off and retries. Report it on stderr, not stdout,
// which carries the handler's JSON logs.
poller.onError = (e: unknown) =>
  process.stderr.write(`worker ${process.pid}: ${e instanceof Error ? e.message : String(e)}\n`);
poller.start();
process.send?.({ type: 'ready', pid: process.pid });

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`worker ${process.pid}: ${signal}, finishing the batch in flight\n`);
  await poller.stop();
  process.stderr.write(`worker ${process.pid}: stopped cleanly ${JSON.stringify(poller.stats)}\n`);
  // The handler's pool keeps idle connections open; the batch is done, so leave without waiting
  // (but after the parent has the message, if it listens).
  const exit = () => process.exit(0);
  if (process.send && process.connected)
    process.send({ type: 'stopped', pid: process.pid, stats: poller.stats }, undefined, {}, exit);
  else exit();
}
process.on('SIGTERM', (s) => void shutdown(s));
process.on('SIGINT', (s) => void shutdown(s));
// A parent that goes away (its end of the IPC channel closes) must not leave the worker polling.
process.on('disconnect', () => void shutdown('SIGTERM'));
