/**
 * The benchmark's ingest process: the deployed ingest function, run as its own process so that its
 * CPU and memory are its own (the S3+SQS endpoint and the load driver live in the parent), exactly as
 * a Lambda container is separate from S3 and SQS.
 *
 * It imports the real handler (`functions/ingest/handler.ts`, which reads its configuration from the
 * environment like on AWS) and feeds it with the Lambda-style poller. The parent talks to it over IPC:
 * it says `ready` once polling, and on `stop` it finishes the batches in flight and reports its poller
 * counters and its peak resident set size.
 */
import { readFileSync } from 'node:fs';
import { SQSClient } from '@aws-sdk/client-sqs';
import { numberEnv, requireEnv } from '../../../functions/shared/env.ts';
import { type SqsHandler, SqsPoller } from '../../local/poller.ts';

/** What the worker tells the parent. */
export type WorkerMessage =
  | { type: 'ready'; rssMb: number }
  | { type: 'cpu'; cpuSeconds: number }
  | { type: 'stopped'; peakRssMb: number; cpuSeconds: number; stats: SqsPoller['stats'] };

const send = (m: WorkerMessage) => process.send?.(m);

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

const ingest = await import('../../../functions/ingest/handler.ts');
const sqs = new SQSClient({ endpoint: requireEnv('AWS_ENDPOINT_URL') });
const poller = new SqsPoller(sqs, ingest.handler as SqsHandler, {
  queueUrl: requireEnv('BENCH_QUEUE_URL'),
  queueArn: requireEnv('BENCH_QUEUE_ARN'),
  batchSize: numberEnv('BENCH_BATCH_SIZE', 10),
  batchingWindowMs: numberEnv('BENCH_BATCHING_WINDOW_MS', 0),
  concurrency: numberEnv('BENCH_CONCURRENCY', 2),
  timeoutMs: 60_000,
  functionName: 'ingest',
  memoryMb: 1024,
});
poller.onError = (e: unknown) => process.stderr.write(`ingest worker: ${(e as Error).message}\n`);
poller.start();
/** CPU used from here on (after start-up and module loading): the ingest work itself. */
const startCpu = process.cpuUsage();

const cpuSeconds = () => {
  const cpu = process.cpuUsage(startCpu);
  return (cpu.user + cpu.system) / 1e6;
};
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'cpu') send({ type: 'cpu', cpuSeconds: cpuSeconds() });
  if (m?.type !== 'stop') return;
  void poller.stop().then(() => {
    send({ type: 'stopped', peakRssMb: peakRssMb(), cpuSeconds: cpuSeconds(), stats: poller.stats });
    sqs.destroy();
    // The handler's pool and clients live for the container's life; the process ends here.
    process.disconnect?.();
    setTimeout(() => process.exit(0), 50).unref();
  });
});
send({ type: 'ready', rssMb: process.memoryUsage().rss / 2 ** 20 });
