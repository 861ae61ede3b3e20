import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { putObject } from '../../functions/shared/upload.ts';
import { ROOT } from '../../infra/paths.ts';
import {
  MAX_REQUEST_BYTES,
  type ObjectCreated,
  startEmbeddedEndpoint,
} from '../../scripts/local/endpoint.ts';
import { tempDataDir } from '../helpers/npm-start.ts';

/**
 * The embedded endpoint keeps what it acknowledged: objects and queued messages survive a
 * `kill -9` of its process, messages in flight come back after their visibility timeout (or at once
 * when the runtime says the previous run is gone), and an object of any size can be written.
 */
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
function clients(url: string) {
  const s3 = new S3Client({ region: 'us-east-1', endpoint: url, forcePathStyle: true, credentials });
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: url, credentials });
  cleanups.push(async () => {
    s3.destroy();
    sqs.destroy();
  });
  return { s3, sqs };
}

/** The endpoint in a child process; resolves with its URL once it listens. */
async function endpointProcess(dir: string, release = false): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'tests/helpers/endpoint-process.ts', dir, ...(release ? ['release'] : [])],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  cleanups.push(async () => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`endpoint process exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Receive until the queue answers empty; what is received stays in flight for a minute. */
async function receiveAll(sqs: SQSClient, queueUrl: string, waitSeconds = 1): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: waitSeconds,
        VisibilityTimeout: 60,
      }),
    );
    if (!out.Messages?.length) return bodies;
    bodies.push(...out.Messages.map((m) => m.Body ?? ''));
  }
}

describe('persistence across kill -9', () => {
  it('keeps every acknowledged object and queued message; in-flight messages return after their visibility timeout', async () => {
    const { dir, remove } = await tempDataDir('endpoint-');
    cleanups.push(remove);
    const first = await endpointProcess(dir);
    const a = clients(first.url);
    await a.s3.send(new CreateBucketCommand({ Bucket: 'kept-bucket' }));
    const queueUrl = (
      await a.sqs.send(
        new CreateQueueCommand({ QueueName: 'kept-queue', Attributes: { VisibilityTimeout: '3' } }),
      )
    ).QueueUrl as string;
    const bodies: string[] = [];
    for (let i = 0; i < 50; i++) {
      await a.s3.send(
        new PutObjectCommand({ Bucket: 'kept-bucket', Key: `events/k-${i}.csv`, Body: `object ${i}\n` }),
      );
    }
    for (let i = 0; i < 30; i += 10) {
      const entries = Array.from({ length: 10 }, (_, j) => ({
        Id: String(j),
        MessageBody: `message ${i + j}`,
      }));
      await a.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      bodies.push(...entries.map((e) => e.MessageBody));
    }
    // Five are in flight (received, not deleted) when the process dies.
    const inFlight = await a.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 5, VisibilityTimeout: 3 }),
    );
    expect(inFlight.Messages).toHaveLength(5);
    const receivedAt = Date.now();
    await kill9(first.child);

    const second = await endpointProcess(dir);
    const b = clients(second.url);
    const listed = await b.s3.send(new ListObjectsV2Command({ Bucket: 'kept-bucket' }));
    expect(listed.KeyCount).toBe(50);
    const body = await b.s3.send(new GetObjectCommand({ Bucket: 'kept-bucket', Key: 'events/k-49.csv' }));
    expect(await body.Body?.transformToString()).toBe('object 49\n');
    // The 25 that were waiting are there at once; the 5 in flight only after their timeout.
    const waiting = await receiveAll(b.sqs, queueUrl, 0);
    expect(waiting).toHaveLength(25);
    expect(Date.now() - receivedAt).toBeLessThan(3000);
    const returned = await receiveAll(b.sqs, queueUrl, 5);
    expect(returned).toHaveLength(5);
    expect(Date.now() - receivedAt).toBeGreaterThanOrEqual(3000);
    expect([...waiting, ...returned].sort()).toEqual([...bodies].sort());
    await kill9(second.child);

    // All 30 are in flight now. Released at start: the runtime holds the folder's lock, so no one can
    // still be working on them.
    const third = await endpointProcess(dir, true);
    const c = clients(third.url);
    expect(await receiveAll(c.sqs, queueUrl, 0)).toHaveLength(30);
  }, 60_000);

  it('removes what a PUT cut short by a crash left behind, and loads the rest', async () => {
    const { dir, remove } = await tempDataDir('endpoint-');
    cleanups.push(remove);
    const endpoint = await startEmbeddedEndpoint({ port: 0, dataDir: dir });
    const { s3 } = clients(endpoint.url);
    await s3.send(new CreateBucketCommand({ Bucket: 'torn-bucket' }));
    await s3.send(new PutObjectCommand({ Bucket: 'torn-bucket', Key: 'events/whole.csv', Body: 'ok\n' }));
    await endpoint.stop();
    const objects = path.join(dir, 's3', 'buckets', 'torn-bucket', 'objects', 'events');
    await writeFile(path.join(objects, 'torn.csv.data'), 'half');
    await writeFile(path.join(objects, 'torn.csv.meta.json'), '{"key":"events/to');

    const lines: string[] = [];
    const again = await startEmbeddedEndpoint({ port: 0, dataDir: dir, log: (l) => lines.push(l) });
    cleanups.push(() => again.stop());
    const c = clients(again.url);
    const listed = await c.s3.send(new ListObjectsV2Command({ Bucket: 'torn-bucket' }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['events/whole.csv']);
    expect(lines.join('\n')).toContain('torn.csv.meta.json, the remains of a PUT cut short');
    expect((await readdir(objects)).sort()).toEqual(['whole.csv.data', 'whole.csv.meta.json']);
  });
});

describe('objects of any size', () => {
  it('a PUT above the limit gets a clear EntityTooLarge, and the same object goes in parts', async () => {
    const endpoint = await startEmbeddedEndpoint({ port: 0 });
    cleanups.push(() => endpoint.stop());
    const seen: ObjectCreated[] = [];
    endpoint.onObjectCreated((e) => seen.push(e));
    const { s3 } = clients(endpoint.url);
    await s3.send(new CreateBucketCommand({ Bucket: 'big-bucket' }));
    const body = Buffer.alloc(MAX_REQUEST_BYTES + 9 * 1024 * 1024, 'a');

    const error = await s3
      .send(new PutObjectCommand({ Bucket: 'big-bucket', Key: 'events/big.csv', Body: body }))
      .then(
        () => undefined,
        (e: unknown) => e as Error & { Code?: string },
      );
    expect(error?.name).toBe('EntityTooLarge');
    expect(error?.message).toMatch(/at most 11\.0 MiB per request .* upload the object in parts/);

    const etag = await putObject(s3, { bucket: 'big-bucket', key: 'events/big.csv', body });
    expect(etag).toMatch(/-3$/); // three parts
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'big-bucket', Key: 'events/big.csv' }));
    expect(head.ContentLength).toBe(body.length);
    expect(seen).toEqual([
      expect.objectContaining({
        key: 'events/big.csv',
        size: body.length,
        etag,
        kind: 'CompleteMultipartUpload',
      }),
    ]);
    // Small objects stay one PutObject.
    expect(await putObject(s3, { bucket: 'big-bucket', key: 'events/small.csv', body: 'x\n' })).not.toContain(
      '-',
    );
  }, 60_000);
});
