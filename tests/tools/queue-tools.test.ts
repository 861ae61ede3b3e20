import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordOutcome, RecordsDeps } from '../../functions/ingest/records.ts';
import { ROOT } from '../../infra/paths.ts';
import { ensureResources, type LocalResources } from '../../scripts/local/resources.ts';
import { redriveMessages, replayNotifications } from '../../scripts/ops/queue-tools.ts';
import { doc, ev, NOW } from '../fixtures/cases.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { type TestEndpoint, testEndpoint } from '../helpers/endpoint.ts';
import { recordingLogger, s3Notification, sqsRecord } from '../helpers/factories.ts';
import { handleRecord, testConfig } from '../helpers/ingest.ts';

/**
 * `npm run replay` and `npm run redrive` against the embedded endpoint (which, unlike S3, sends no
 * notifications by itself here: the tests' PUTs are silent, exactly the "lost notification" case a
 * replay exists for) and a fresh database, through the real ingest path.
 */

const run = promisify(execFile);
let db: TestDatabase;
let aws: TestEndpoint;
let res: LocalResources;
let deps: RecordsDeps;

beforeAll(async () => {
  [db, aws] = await Promise.all([freshDatabase(), testEndpoint()]);
  res = await ensureResources(aws.s3, aws.sqs, { bucket: 'tools', queue: 'tools-q', dlq: 'tools-dlq' });
  deps = {
    s3: aws.s3,
    sqs: aws.sqs,
    config: testConfig(res.bucket, { dlqUrl: res.dlqUrl }),
    db: db.pool,
    logger: recordingLogger(),
    clock: () => NOW,
  };
});
afterAll(async () => {
  await aws?.stop();
  await db?.drop();
});

async function put(key: string, body: string): Promise<string> {
  const out = await aws.s3.send(
    new PutObjectCommand({ Bucket: res.bucket, Key: key, Body: Buffer.from(body) }),
  );
  return (out.ETag ?? '').replace(/"/g, '');
}

interface Handled {
  body: string;
  reason: string | undefined;
  outcome: RecordOutcome;
}

/** Receive until the queue is empty, run each message through the ingest path, delete it. */
async function drain(sqs: SQSClient, queueUrl: string): Promise<Handled[]> {
  const handled: Handled[] = [];
  for (;;) {
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages: Message[] = got.Messages ?? [];
    if (messages.length === 0) return handled;
    for (const m of messages) {
      const outcome = await handleRecord(deps, sqsRecord(m.Body ?? ''));
      handled.push({ body: m.Body ?? '', reason: m.MessageAttributes?.reason?.StringValue, outcome });
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
}

async function depth(url: string): Promise<number> {
  const out = await aws.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

async function countEvents(prefix: string): Promise<number> {
  const { rows } = await db.pool.query(
    'SELECT count(*)::int AS n FROM user_events WHERE source_key LIKE $1',
    [`${prefix}%`],
  );
  return rows[0].n;
}

const statuses = (handled: { outcome: RecordOutcome }[]) =>
  handled
    .flatMap((h) =>
      h.outcome.kind === 'objects' ? h.outcome.objects.map((o) => `${o.key}:${o.status}`) : [],
    )
    .sort();

describe('replay', () => {
  it('re-emits one S3-format notification per object under the prefix; a second replay adds nothing', async () => {
    const keys = [
      'events/2026/11/20/10/a.csv',
      'events/2026/11/21/12/b with space+plus é.csv',
      'events/2026/11/21/13/c.csv',
    ];
    for (const [i, k] of keys.entries()) await put(k, doc(Array.from({ length: i + 1 }, () => ev())));
    await put('events/2026/10/31/23/outside-prefix.csv', doc([ev()]));
    await put('events/2026/11/21/12/notes.txt', 'not a csv');

    const first = await replayNotifications(
      { s3: aws.s3, sqs: aws.sqs },
      { bucket: res.bucket, prefix: 'events/2026/11/', queueUrl: res.queueUrl },
    );
    expect(first).toEqual({ listed: 4, sent: 3, filtered: 1 });
    const ingested = await drain(aws.sqs, res.queueUrl);
    expect(statuses(ingested)).toEqual(keys.map((k) => `${k}:ingested`).sort());
    expect(await countEvents('events/2026/11/')).toBe(6);
    expect(await countEvents('events/2026/10/')).toBe(0);

    const again = await replayNotifications(
      { s3: aws.s3, sqs: aws.sqs },
      { bucket: res.bucket, prefix: 'events/2026/11/', queueUrl: res.queueUrl },
    );
    expect(again.sent).toBe(3);
    expect(statuses(await drain(aws.sqs, res.queueUrl))).toEqual(keys.map((k) => `${k}:skipped`).sort());
    expect(await countEvents('events/2026/11/')).toBe(6);
    const { rows } = await db.pool.query(
      "SELECT count(*)::int AS n FROM ingested_objects WHERE key LIKE 'events/2026/11/%'",
    );
    expect(rows[0].n).toBe(3);
  });
});

describe('redrive', () => {
  it('moves DLQ messages back with their attributes; valid ones get ingested, poison ones return to the DLQ', async () => {
    const key = 'events/2026/11/22/09/redriven.csv';
    const etag = await put(key, doc([ev(), ev()]));
    const valid = s3Notification(res.bucket, key, etag);
    const poison = ['not json at all', JSON.stringify({ hello: 'world' })];
    for (const body of [valid, ...poison]) {
      await aws.sqs.send(
        new SendMessageCommand({
          QueueUrl: res.dlqUrl,
          MessageBody: body,
          MessageAttributes: { reason: { DataType: 'String', StringValue: 'test' } },
        }),
      );
    }
    expect(await redriveMessages(aws.sqs, { from: res.dlqUrl, to: res.queueUrl })).toEqual({
      moved: 3,
      limit: 3,
    });
    expect(await depth(res.dlqUrl)).toBe(0);

    const handled = await drain(aws.sqs, res.queueUrl);
    expect(handled.map((h) => h.body).sort()).toEqual([valid, ...poison].sort());
    expect(handled.map((h) => h.reason)).toEqual(['test', 'test', 'test']);
    expect(statuses(handled)).toEqual([`${key}:ingested`]);
    expect(handled.filter((h) => h.outcome.kind === 'dead-lettered')).toHaveLength(2);
    expect(await countEvents(key)).toBe(2);
    expect(await depth(res.dlqUrl)).toBe(2);

    // Clean up for the next test: move the two poison messages out of the way.
    const left = await redriveMessages(aws.sqs, { from: res.dlqUrl, to: res.queueUrl, max: 1 });
    expect(left).toEqual({ moved: 1, limit: 1 });
    expect(await depth(res.dlqUrl)).toBe(1);
    await drain(aws.sqs, res.queueUrl);
    expect(await depth(res.dlqUrl)).toBe(2);
    await drainWithoutIngest(res.dlqUrl);
  });

  it('is safe to interrupt: a crash between send and delete only duplicates a notification, which the ledger skips', async () => {
    const key = 'events/2026/11/22/10/interrupted.csv';
    const etag = await put(key, doc([ev(), ev(), ev()]));
    await aws.sqs.send(
      new SendMessageCommand({ QueueUrl: res.dlqUrl, MessageBody: s3Notification(res.bucket, key, etag) }),
    );
    // An SQS client that dies on delete: the message was sent to the queue but stays in the DLQ.
    const crashing = {
      send: (command: { constructor: { name: string } }) => {
        if (command.constructor.name === 'DeleteMessageBatchCommand') throw new Error('killed');
        return aws.sqs.send(command as never);
      },
    } as unknown as SQSClient;
    await expect(
      redriveMessages(crashing, { from: res.dlqUrl, to: res.queueUrl, visibilityTimeoutSeconds: 1 }),
    ).rejects.toThrow('killed');
    // The message reappears in the DLQ once its visibility timeout ends (the signal); run again.
    const deadline = Date.now() + 10_000;
    let moved = 0;
    while (moved === 0 && Date.now() < deadline) {
      moved = (await redriveMessages(aws.sqs, { from: res.dlqUrl, to: res.queueUrl, max: 1 })).moved;
    }
    expect(moved).toBe(1);
    const handled = await drain(aws.sqs, res.queueUrl);
    expect(statuses(handled)).toEqual([`${key}:ingested`, `${key}:skipped`]);
    expect(await countEvents(key)).toBe(3);
    expect(await depth(res.dlqUrl)).toBe(0);
  });
});

async function drainWithoutIngest(url: string): Promise<void> {
  for (;;) {
    const got = await aws.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    if (!got.Messages?.length) return;
    for (const m of got.Messages)
      await aws.sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
  }
}

describe('the npm scripts', () => {
  const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
  const env = () => ({ ...process.env, AWS_ENDPOINT_URL: aws.endpoint.url, AWS_REGION: 'us-east-1' });

  it('npm run replay -- --prefix … lists, filters and sends', async () => {
    await put('events/2026/12/01/00/cli.csv', doc([ev()]));
    const out = await run(
      tsx,
      ['scripts/ops/replay.ts', '--prefix', 'events/2026/12/', '--bucket', res.bucket, '--queue', 'tools-q'],
      { cwd: ROOT, env: env() },
    );
    expect(out.stdout).toContain(
      'replay: 1 objects listed, 1 notifications sent, 0 outside the notification filter',
    );
    expect(statuses(await drain(aws.sqs, res.queueUrl))).toEqual(['events/2026/12/01/00/cli.csv:ingested']);
  });

  it('npm run redrive resolves queue names and moves the DLQ back', async () => {
    await aws.sqs.send(new SendMessageCommand({ QueueUrl: res.dlqUrl, MessageBody: 'poison' }));
    const out = await run(tsx, ['scripts/ops/redrive.ts', '--dlq', 'tools-dlq', '--queue', 'tools-q'], {
      cwd: ROOT,
      env: env(),
    });
    expect(out.stdout).toContain('redrive: 1 messages moved back to the queue (limit 1)');
    expect(await depth(res.dlqUrl)).toBe(0);
    expect((await drain(aws.sqs, res.queueUrl)).map((h) => h.body)).toEqual(['poison']);
    await drainWithoutIngest(res.dlqUrl);
  });
});
