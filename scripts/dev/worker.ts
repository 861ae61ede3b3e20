/**
 * An ingest worker as a process of its own: the Lambda-style {@link SqsPoller} driving the real
 * ingest handler, made by `createIngestHandler` from the environment exactly as the deployed function
 * makes it (`readIngestEnvironment`). Its CPU and memory are its own, as a Lambda container's are
 * separate from S3 and SQS, and it can be killed: the chaos run starts several and SIGKILLs them at
 * random moments, the benchmark starts one and measures it.
 *
 * Environment: everything the deployed ingest function reads (`AWS_ENDPOINT_URL`, `AWS_REGION`,
 * credentials, `DATABASE_URL`, `DLQ_URL`, `DB_POOL_MAX`, `DB_CONNECT_TIMEOUT_MS`, `POWERTOOLS_*`,
 * `INGEST_CHUNK_ROWS`, `MAX_REJECT_RATIO`), plus the event source's settings: `QUEUE_URL` (required),
 * `QUEUE_ARN`, `BATCH_SIZE`, `BATCHING_WINDOW_MS`, `CONCURRENCY`, and the function's `TIMEOUT_SECONDS`.
 *
 * SIGTERM, SIGINT, a `stop` message or the parent going away: stop receiving, finish the batch in
 * flight (commit its objects and delete their messages), close the pool, exit 0. Messages received
 * but not handled stay invisible until their visibility timeout ends, then SQS redelivers them:
 * nothing is lost, and no object is left half-written: every chunk commits its rows with the
 * object's checkpoint, and the redelivered record resumes there.
 *
 * With an IPC channel (`fork`, or `spawn` with `'ipc'` in stdio) it reports to its parent in
 * {@link WorkerMessage}s: `ready` once it polls, `busy` / `idle` around every invocation (so a chaos
 * run can kill it mid-batch on purpose), `cpu` when asked, and `stopped` before a graceful exit.
 */
import { readFileSync } from 'node:fs';
import { createIngestHandler, readIngestEnvironment } from '../../functions/ingest/handler.ts';
import { sqsClient } from '../../functions/shared/aws.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../functions/shared/env.ts';
import { topology } from '../../infra/topology.ts';
import { type PollerStats, type SqsHandler, SqsPoller } from '../local/poller.ts';

/** What the worker tells its parent. */
export type WorkerMessage =
  | { type: 'ready'; pid: number; rssMb: number }
  | { type: 'busy'; records: number }
  | { type: 'idle' }
  | { type: 'cpu'; cpuSeconds: number }
  | { type: 'stopped'; pid: number; peakRssMb: number; cpuSeconds: number; stats: PollerStats };

/** What the parent may tell the worker. */
export type WorkerCommand = { type: 'cpu' } | { type: 'stop' };

const send = (m: WorkerMessage) => process.send?.(m);

const env = process.env;
const queueUrl = requireEnv('QUEUE_URL', env);
// The deployed function's own service name, unless the parent names it otherwise.
const ingestEnv = readIngestEnvironment({
  ...env,
  POWERTOOLS_SERVICE_NAME: env.POWERTOOLS_SERVICE_NAME || `${topology.observability.serviceName}-ingest`,
  POWERTOOLS_METRICS_NAMESPACE: env.POWERTOOLS_METRICS_NAMESPACE || topology.observability.metricsNamespace,
});
const pool = await ingestEnv.pool();
const handler = createIngestHandler({ ...ingestEnv.deps, db: pool });

/** The real handler, wrapped only to tell the parent when a batch is in flight. */
const reporting: SqsHandler = async (event, context) => {
  send({ type: 'busy', records: event.Records.length });
  try {
    return await handler(event, context);
  } finally {
    send({ type: 'idle' });
  }
};

const sqs = sqsClient(env);
const poller = new SqsPoller(sqs, reporting, {
  queueUrl,
  queueArn: optionalEnv('QUEUE_ARN', env) ?? `arn:aws:sqs:local:000000000000:${queueUrl.split('/').pop()}`,
  batchSize: numberEnv('BATCH_SIZE', topology.ingest.batchSize, env),
  batchingWindowMs: numberEnv('BATCHING_WINDOW_MS', topology.ingest.batchingWindowSeconds * 1000, env),
  concurrency: numberEnv('CONCURRENCY', topology.ingest.maxConcurrency, env),
  timeoutMs: numberEnv('TIMEOUT_SECONDS', topology.ingest.timeoutSeconds, env) * 1000,
  functionName: 'ingest',
  memoryMb: topology.ingest.memoryMb,
  region: env.AWS_REGION ?? 'us-east-1',
});
// The handler reports per-record failures itself; what reaches here is a receive or delete error
// (endpoint down), after which the poller backs off and retries. Report it on stderr, not stdout,
// which carries the handler's JSON logs.
poller.onError = (e: unknown) =>
  process.stderr.write(`worker ${process.pid}: ${e instanceof Error ? e.message : String(e)}\n`);
poller.start();
/** CPU used from here on (after start-up and module loading): the ingest work itself. */
const startCpu = process.cpuUsage();
const cpuSeconds = () => {
  const cpu = process.cpuUsage(startCpu);
  return (cpu.user + cpu.system) / 1e6;
};
send({ type: 'ready', pid: process.pid, rssMb: process.memoryUsage().rss / 2 ** 20 });

/** Peak RSS of this process in MB: VmHWM where /proc exists, else the kernel's maxrss. */
function peakRssMb(): number {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm?.[1]) return Number(hwm[1]) / 1024;
  } catch {
    // Not Linux: fall through to resourceUsage (also kB).
  }
  return process.resourceUsage().maxRSS / 1024;
}

let stopping = false;
async function shutdown(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`worker ${process.pid}: ${reason}, finishing the batch in flight\n`);
  await poller.stop();
  const stopped: WorkerMessage = {
    type: 'stopped',
    pid: process.pid,
    peakRssMb: peakRssMb(),
    cpuSeconds: cpuSeconds(),
    stats: poller.stats,
  };
  await pool.end().catch((e: unknown) => process.stderr.write(`worker ${process.pid}: ${String(e)}\n`));
  process.stderr.write(`worker ${process.pid}: stopped cleanly ${JSON.stringify(poller.stats)}\n`);
  // The SDK clients keep sockets open for the process's life: leave once the parent has the message.
  const exit = () => process.exit(0);
  if (process.send && process.connected) process.send(stopped, undefined, {}, exit);
  else exit();
}
process.on('SIGTERM', (s) => void shutdown(s));
process.on('SIGINT', (s) => void shutdown(s));
process.on('message', (m: WorkerCommand) => {
  if (m?.type === 'cpu') send({ type: 'cpu', cpuSeconds: cpuSeconds() });
  if (m?.type === 'stop') void shutdown('stop requested');
});
// A parent that goes away (its end of the IPC channel closes) must not leave the worker polling.
process.on('disconnect', () => void shutdown('parent gone'));
