import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';
import { topology } from '../../infra/topology.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * No password and no full DATABASE_URL in any log line: run `npm start` (scripts/local/start.ts) as a
 * child process with a DATABASE_URL that carries a password and every log level on, drive it through
 * the paths that log errors (a poison message, a wrongly-headed and a non-UTF-8 object, its database
 * connections killed under it), stop it with SIGINT, and search everything it wrote to stdout and
 * stderr.
 */

let db: TestDatabase;
let child: ChildProcess | undefined;
let dataDir: string;
const out: string[] = [];
const err: string[] = [];

beforeAll(async () => {
  db = await freshDatabase({ migrate: false });
  dataDir = await mkdtemp(path.join(tmpdir(), 'logs-test-'));
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await db?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Poll until `check` returns a value, or fail at the deadline with what was seen. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; stderr: ${err.join('').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function ledger(): Promise<{ ingested: number; failed: number }> {
  const { rows } = await db.pool
    .query(
      "SELECT count(*) FILTER (WHERE status = 'ingested')::int AS ingested, count(*) FILTER (WHERE status = 'failed')::int AS failed FROM ingested_objects",
    )
    .catch(() => ({ rows: [{ ingested: 0, failed: 0 }] }));
  return rows[0];
}

it('npm start never logs the database password or URL, on success and error paths alike', async () => {
  // The test server trusts local connections, so an added password is accepted and ignored; an
  // embedded test server's URL already carries its generated password.
  const url = new URL(db.url);
  if (!url.password) url.password = `pw-${randomBytes(9).toString('base64url')}`;
  const password = decodeURIComponent(url.password);
  const databaseUrl = url.toString();

  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, POWERTOOLS_LOG_LEVEL: 'DEBUG' };
  delete env.AWS_ENDPOINT_URL;
  // tsx as a loader, not its CLI: the CLI relays SIGINT and SIGKILLs the child when it has not
  // acknowledged the signal within ~60 ms, which a loaded machine misses (exit 130, no clean stop).
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
      'off',
      '--interval',
      '0.3',
      '--events',
      '200',
      '--bad-rate',
      '0.05',
      '--duplicate-rate',
      '0.05',
      '--status',
      '1',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (b: Buffer) => out.push(b.toString('utf8')));
  child.stderr?.on('data', (b: Buffer) => err.push(b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

  const endpoint = await until(
    'the ready banner',
    () => /S3\+SQS endpoint\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(err.join(''))?.[1],
  );
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const s3 = new S3Client({ endpoint, region: 'us-east-1', credentials, forcePathStyle: true });
  const sqs = new SQSClient({ endpoint, region: 'us-east-1', credentials });
  try {
    const queueUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: topology.names.queue }))).QueueUrl;
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'not json' }));
    const put = (Key: string, Body: Uint8Array) =>
      s3.send(new PutObjectCommand({ Bucket: topology.names.bucket, Key, Body }));
    await put('events/2026/11/21/12/wrong-header.csv', Buffer.from('a,b\n1,2\n'));
    await put('events/2026/11/21/12/latin1.csv', Buffer.from([0x61, 0xe9, 0x0a]));
  } finally {
    s3.destroy();
    sqs.destroy();
  }
  const before = await until('objects ingested and failed', async () => {
    const l = await ledger();
    return l.ingested >= 3 && l.failed >= 2 ? l : undefined;
  });

  // Kill the pipeline's connections under it: the pool and the ingest path log what happened.
  await db.pool.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [url.pathname.slice(1)],
  );
  await until('ingest to go on after the connections were killed', async () => {
    const l = await ledger();
    return l.ingested >= before.ingested + 3 ? l : undefined;
  });

  child.kill('SIGINT');
  expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))])).toBe(0);

  const stdout = out.join('');
  const stderr = err.join('');
  // Every JSON line goes to stdout, WARN and ERROR included; stderr is for humans only.
  expect(stderr.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
  const jsonLines = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(jsonLines.some((l) => l.level === 'ERROR')).toBe(true);
  expect(jsonLines.some((l) => l.level === 'WARN')).toBe(true);
  // The capture saw the functions' logs, the error paths included (else the search below proves nothing).
  expect(jsonLines.filter((l) => String(l.service).endsWith('-ingest')).length).toBeGreaterThan(5);
  expect(jsonLines.some((l) => l.message === 'poison message: not an S3 event')).toBe(true);
  expect(jsonLines.some((l) => String(l.error ?? '').startsWith('header_mismatch'))).toBe(true);
  expect(jsonLines.some((l) => String(l.error ?? '').startsWith('invalid_utf8'))).toBe(true);
  expect(stderr).toContain('ready in');

  for (const secret of [password, encodeURIComponent(password), databaseUrl]) {
    expect([...stdout.split('\n'), ...stderr.split('\n')].filter((l) => l.includes(secret))).toEqual([]);
  }
});
