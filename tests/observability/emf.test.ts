import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * What `npm start` writes, read from the real process: stdout must carry the functions' JSON logs
 * and one EMF line per invocation with the pipeline's metric names in the EcommercePipeline namespace,
 * exactly as CloudWatch would receive them on AWS; stderr the human "ready" block with the
 * dashboard's URL.
 */

/**
 * The pipeline's metrics (the names the CloudWatch dashboard and alarms use), plus objectsFailed (a
 * failed object is also counted in objectsIngested).
 */
const METRICS = [
  'eventsGenerated',
  'objectsWritten',
  'eventsInserted',
  'eventsDuplicate',
  'eventsRejected',
  'objectsIngested',
  'objectsSkippedReplay',
  'batchItemFailures',
  'ingestLatencyMs',
  'eventLagMs',
  'objectsFailed',
  'chunksCommitted',
  'objectsReconciled',
  'objectsListed',
];
/** Metrics that only some runs raise: an object not there yet, one continued past a deadline. */
const OCCASIONAL = ['objectsMissing', 'objectsContinued'];

interface Emf {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
  };
  service: string;
  [metric: string]: unknown;
}
type LogLine = Record<string, unknown>;

let db: TestDatabase;
let child: ChildProcess;
let stdout = '';
let stderr = '';
let exited: Promise<number | null>;
let dataDir: string;

beforeAll(async () => {
  db = await freshDatabase({ migrate: false });
  dataDir = await mkdtemp(path.join(tmpdir(), 'emf-test-'));
  child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'scripts/local/start.ts',
      '--data-dir',
      dataDir,
      '--port',
      '0',
      '--dashboard-port',
      '0',
      '--interval',
      '0.3',
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        AWS_ENDPOINT_URL: '',
        POWERTOOLS_DEV: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
  await db?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Every complete JSON line on stdout so far. */
function jsonLines(): LogLine[] {
  const out: LogLine[] = [];
  for (const line of stdout.split('\n').slice(0, -1)) {
    if (!line.startsWith('{')) continue;
    out.push(JSON.parse(line) as LogLine);
  }
  return out;
}
const emfLines = () => jsonLines().filter((l): l is Emf => '_aws' in l);
const logLines = () => jsonLines().filter((l) => !('_aws' in l));
const metricNames = () =>
  new Set(emfLines().flatMap((l) => l._aws.CloudWatchMetrics.flatMap((m) => m.Metrics.map((x) => x.Name))));

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (child.exitCode !== null)
      throw new Error(`npm start exited (${child.exitCode}) while waiting for ${what}:\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('writes EMF metrics with the pipeline metric names, one line per invocation, and JSON logs with the same keys', async () => {
  const ready = await until(
    'the ready block',
    () => /\n {2}dashboard +(http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr) ?? undefined,
  );
  const dashboardUrl = ready[1] as string;
  const endpoint = /S3\+SQS endpoint +(http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1] as string;
  const queueUrl = /\n {2}queue +(\S+)/.exec(stderr)?.[1] as string;
  expect(endpoint).toBeTruthy();
  expect(queueUrl).toBeTruthy();
  // The URL printed is the dashboard, answering.
  expect((await fetch(dashboardUrl)).status).toBe(200);

  const written = await until('three generated objects to be ingested', () => {
    const keys = logLines()
      .filter((l) => l.message === 'object written')
      .map((l) => l.key as string);
    const ingested = new Set(
      logLines()
        .filter((l) => l.message === 'object ingested')
        .map((l) => l.key),
    );
    return keys.filter((k) => ingested.has(k)).length >= 3 ? keys : undefined;
  });

  // A replay (a second notification for an ingested object) and an object that fails as a whole
  // make the two metrics a quiet run never emits.
  const common = {
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  const sqs = new SQSClient(common);
  const s3 = new S3Client({ ...common, forcePathStyle: true });
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify({
        Records: [
          {
            eventVersion: '2.1',
            eventSource: 'aws:s3',
            awsRegion: 'us-east-1',
            eventTime: new Date().toISOString(),
            eventName: 'ObjectCreated:Put',
            s3: { bucket: { name: 'ecommerce-events' }, object: { key: written[0], size: 1 } },
          },
        ],
      }),
    }),
  );
  await s3.send(
    new PutObjectCommand({
      Bucket: 'ecommerce-events',
      Key: 'events/observability/bad-header.csv',
      Body: 'not,a,header\n1,2,3\n',
    }),
  );
  await until('objectsSkippedReplay and objectsFailed', () => {
    const names = metricNames();
    return names.has('objectsSkippedReplay') && names.has('objectsFailed') ? true : undefined;
  });
  sqs.destroy();
  s3.destroy();

  child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(stderr).toContain('stopped cleanly.');

  // Metrics: one namespace, the pipeline's names and nothing else, all of them seen.
  const emf = emfLines();
  for (const line of emf) {
    for (const m of line._aws.CloudWatchMetrics) {
      expect(m.Namespace).toBe('EcommercePipeline');
      expect(m.Dimensions).toEqual([['service']]);
      for (const { Name } of m.Metrics) {
        expect([...METRICS, ...OCCASIONAL]).toContain(Name);
        // A metric added for several objects of one batch is an EMF array of values.
        const value = line[Name];
        const values = Array.isArray(value) ? value : [value];
        expect(values.length).toBeGreaterThan(0);
        for (const v of values) expect(typeof v).toBe('number');
      }
    }
  }
  expect([...metricNames()].filter((n) => !OCCASIONAL.includes(n)).sort()).toEqual([...METRICS].sort());

  // Flushed per invocation: one generator EMF line per object written, each with both metrics.
  const generatorEmf = emf.filter((l) => l.service === 'ecommerce-pipeline-generator');
  const writtenLogs = logLines().filter((l) => l.message === 'object written');
  expect(generatorEmf.length).toBe(writtenLogs.length);
  for (const l of generatorEmf) expect(l).toMatchObject({ objectsWritten: 1, eventsGenerated: 1000 });
  // Every ingest invocation reports batchItemFailures, even when it is 0.
  const ingestEmf = emf.filter((l) => l.service === 'ecommerce-pipeline-ingest');
  expect(ingestEmf.length).toBeGreaterThan(0);
  for (const l of ingestEmf) expect(typeof l.batchItemFailures).toBe('number');

  // Logs: the same keys everywhere, and the Lambda request id on every function line.
  const logs = logLines();
  for (const l of logs) {
    expect(l).toEqual(
      expect.objectContaining({
        level: expect.any(String),
        message: expect.any(String),
        service: expect.any(String),
        timestamp: expect.any(String),
      }),
    );
    expect(l.function_request_id).toEqual(expect.any(String));
  }
  for (const l of writtenLogs)
    expect(l).toEqual(
      expect.objectContaining({ bucket: 'ecommerce-events', key: expect.stringMatching(/^events\//) }),
    );
  const ingested = logs.filter((l) => l.message === 'object ingested');
  expect(ingested.length).toBeGreaterThanOrEqual(3);
  for (const l of ingested) {
    expect(Object.keys(l)).toEqual(
      expect.arrayContaining([
        'bucket',
        'key',
        'messageId',
        'rowsTotal',
        'rowsInserted',
        'rowsDuplicate',
        'rowsRejected',
        'durationMs',
      ]),
    );
  }
  const failed = logs.find((l) => l.message === 'object failed');
  expect(failed).toMatchObject({ key: 'events/observability/bad-header.csv', status: 'failed' });
  // A child process compiles and starts the whole pipeline: room for a loaded CI machine.
}, 120_000);
