import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseMessageBody } from '../../functions/ingest/s3-event.ts';
import { createReconcileHandler, type ReconcileConfig } from '../../functions/reconcile/handler.ts';
import { type ReconcileOptions, reconcile } from '../../functions/reconcile/reconcile.ts';
import { StdoutLogger } from '../../scripts/local/functions.ts';
import { lambdaContext, scheduledEvent } from '../../scripts/local/lambda.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { type TestEndpoint, testEndpoint } from '../helpers/endpoint.ts';
import { recordingLogger } from '../helpers/factories.ts';

/**
 * Reconciliation against a real S3/SQS wire protocol (the embedded endpoint) and a real ledger:
 * which object versions it sends again and why, the grace period, --since, dry runs, and how a run
 * is bounded and the next one goes on where it stopped.
 */
let aws: TestEndpoint;
let db: TestDatabase;
let queueUrl: string;
let bucket: string;
let n = 0;

beforeAll(async () => {
  [aws, db] = await Promise.all([testEndpoint(), freshDatabase()]);
  queueUrl = (await aws.sqs.send(new CreateQueueCommand({ QueueName: 'reconcile-q' }))).QueueUrl as string;
});
afterAll(async () => {
  await aws?.stop();
  await db?.drop();
});
beforeEach(async () => {
  // A bucket of its own per test, so one test's objects are not another's.
  bucket = `reconcile-${++n}`;
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await drain();
});

async function put(key: string, body = 'event_id\n'): Promise<string> {
  const out = await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return (out.ETag ?? '').replace(/"/g, '');
}

/** Every message in the queue (deleted as read): the notifications a run sent. */
async function drain(): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const out = await aws.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return all;
    all.push(...messages);
    await aws.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
  }
}

/** Keys and etags named by notifications, as ingest's own parser reads them. */
function named(messages: Message[]): { key: string; etag: string | undefined; reason: string | undefined }[] {
  return messages
    .flatMap((m) => {
      const parsed = parseMessageBody(m.Body ?? '');
      if (parsed.kind !== 'objects') throw new Error(`not a notification: ${m.Body}`);
      return parsed.objects.map((o) => ({
        key: o.key,
        etag: o.etag,
        reason: m.MessageAttributes?.reconcileReason?.StringValue,
      }));
    })
    .sort((a, b) => a.key.localeCompare(b.key));
}

async function ledgerRow(key: string, etag: string, status: string, updatedAgoSeconds = 0): Promise<void> {
  await db.pool.query(
    `INSERT INTO ingested_objects (bucket, key, etag, status, error, updated_at)
     VALUES ($1, $2, $3, $4, $5, now() - make_interval(secs => $6))`,
    [bucket, key, etag, status, status === 'failed' ? 'header_mismatch: test' : null, updatedAgoSeconds],
  );
}

/** Options with a clock far enough ahead that every object is past the grace period. */
function options(overrides: Partial<ReconcileOptions> = {}): ReconcileOptions {
  return {
    bucket,
    prefix: 'events/',
    suffixes: ['.csv', '.csv.gz', '.csv.zst'],
    queueUrl,
    graceSeconds: 300,
    staleSeconds: 600,
    maxObjects: 10_000,
    maxNotifications: 10_000,
    ...overrides,
  };
}
const later = () => Date.now() + 3600_000;
const deps = (clock: () => number = later) => ({
  s3: aws.s3,
  sqs: aws.sqs,
  db: db.pool,
  logger: recordingLogger(),
  clock,
});

describe('what is sent again, and why', () => {
  it('objects with no ledger row, recorded missing, or stalled in progress; nothing the ledger has in hand', async () => {
    const e = {
      unrecorded: await put('events/a-unrecorded.csv'),
      ingested: await put('events/b-ingested.csv'),
      failed: await put('events/c-failed.csv'),
      missing: await put('events/d-missing.csv'),
      busy: await put('events/e-in-progress.csv'),
      stalled: await put('events/f-stalled.csv'),
      overwritten: await put('events/g-overwritten.csv', 'event_id\nnew\n'),
      gzip: await put('events/h-compressed.csv.gz'),
    };
    await put('events/not-notified.json');
    await put('other/outside-the-prefix.csv');
    await ledgerRow('events/b-ingested.csv', e.ingested, 'ingested');
    await ledgerRow('events/c-failed.csv', e.failed, 'failed');
    await ledgerRow('events/d-missing.csv', e.missing, 'missing');
    await ledgerRow('events/e-in-progress.csv', e.busy, 'in_progress', 60);
    await ledgerRow('events/f-stalled.csv', e.stalled, 'in_progress', 3600);
    await ledgerRow('events/g-overwritten.csv', 'the-etag-of-an-older-version', 'ingested');

    const summary = await reconcile(deps(), options());
    expect(summary).toMatchObject({
      listed: 9,
      eligible: 8,
      reconciled: 5,
      byReason: { unrecorded: 3, missing: 1, stalled: 1 },
      complete: true,
      dryRun: false,
    });
    expect(named(await drain())).toEqual([
      { key: 'events/a-unrecorded.csv', etag: e.unrecorded, reason: 'unrecorded' },
      { key: 'events/d-missing.csv', etag: e.missing, reason: 'missing' },
      { key: 'events/f-stalled.csv', etag: e.stalled, reason: 'stalled' },
      { key: 'events/g-overwritten.csv', etag: e.overwritten, reason: 'unrecorded' },
      { key: 'events/h-compressed.csv.gz', etag: e.gzip, reason: 'unrecorded' },
    ]);
    const { rows } = await db.pool.query(
      'SELECT key, reason FROM reconciled_objects WHERE bucket = $1 ORDER BY key',
      [bucket],
    );
    expect(rows).toEqual([
      { key: 'events/a-unrecorded.csv', reason: 'unrecorded' },
      { key: 'events/d-missing.csv', reason: 'missing' },
      { key: 'events/f-stalled.csv', reason: 'stalled' },
      { key: 'events/g-overwritten.csv', reason: 'unrecorded' },
      { key: 'events/h-compressed.csv.gz', reason: 'unrecorded' },
    ]);
  });

  it('leaves objects younger than the grace period, and older than --since, alone; a dry run sends nothing', async () => {
    await put('events/young.csv');
    expect((await reconcile(deps(Date.now), options({ graceSeconds: 300 }))).reconciled).toBe(0);
    expect(await drain()).toEqual([]);

    const dry = await reconcile(deps(), options({ dryRun: true }));
    expect(dry).toMatchObject({ reconciled: 1, dryRun: true });
    expect(await drain()).toEqual([]);
    const recorded = await db.pool.query(
      'SELECT count(*)::int AS n FROM reconciled_objects WHERE bucket = $1',
      [bucket],
    );
    expect(recorded.rows[0].n).toBe(0);

    const sinceLater = await reconcile(deps(), options({ since: new Date(Date.now() + 60_000) }));
    expect(sinceLater.reconciled).toBe(0);
    const sinceBefore = await reconcile(deps(), options({ since: new Date(Date.now() - 60_000) }));
    expect(sinceBefore.reconciled).toBe(1);
    expect(named(await drain()).map((o) => o.key)).toEqual(['events/young.csv']);
  });
});

describe('bounded runs', () => {
  const keys = Array.from({ length: 7 }, (_, i) => `events/bounded-${i}.csv`);

  it('a run lists at most maxObjects keys and sends at most maxNotifications; the next run goes on from there', async () => {
    for (const k of keys) await put(k);
    const first = await reconcile(deps(), options({ maxObjects: 3 }));
    expect(first).toMatchObject({ listed: 3, reconciled: 3, complete: false, stoppedBy: 'maxObjects' });
    expect(first.nextStartAfter).toBe(keys[2]);
    const second = await reconcile(
      deps(),
      options({ maxNotifications: 2, startAfter: first.nextStartAfter }),
    );
    expect(second).toMatchObject({ reconciled: 2, complete: false, stoppedBy: 'maxNotifications' });
    expect(second.nextStartAfter).toBe(keys[4]);
    const third = await reconcile(deps(), options({ startAfter: second.nextStartAfter }));
    expect(third).toMatchObject({ reconciled: 2, complete: true });
    // Each object exactly once over the three runs.
    expect(named(await drain()).map((o) => o.key)).toEqual(keys);
  });

  it('the handler keeps the cursor between runs, starts again at the end, and counts objectsReconciled', async () => {
    for (const k of keys) await put(k);
    const config: ReconcileConfig = {
      bucket,
      prefix: 'events/',
      suffixes: ['.csv'],
      queueUrl,
      graceSeconds: 0,
      staleSeconds: 600,
      maxObjects: 4,
      maxNotifications: 100,
    };
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const serviceName = `test-reconcile-${bucket}`;
    try {
      const handler = createReconcileHandler({
        s3: aws.s3,
        sqs: aws.sqs,
        db: db.pool,
        logger: new StdoutLogger({ serviceName }),
        metrics: new Metrics({ serviceName, namespace: 'Test' }),
        clock: later,
        config,
      });
      const run = () =>
        handler(
          scheduledEvent('us-east-1'),
          lambdaContext({ functionName: 'reconcile', memoryMb: 512, timeoutMs: 60_000 }),
        );
      expect(await run()).toMatchObject({ listed: 4, reconciled: 4, complete: false });
      expect(await run()).toMatchObject({ listed: 3, reconciled: 3, complete: true });
      // The pass is complete: the next run starts at the beginning again (the objects are still unrecorded).
      expect(await run()).toMatchObject({ listed: 4, reconciled: 4 });
    } finally {
      spy.mockRestore();
    }
    const emf = writes
      .flatMap((w) => w.split('\n'))
      .filter((l) => l.includes('"_aws"') && l.includes(serviceName))
      .map((l) => JSON.parse(l) as { objectsReconciled: number; objectsListed: number });
    expect(emf.map((m) => m.objectsReconciled)).toEqual([4, 3, 4]);
    expect(emf.map((m) => m.objectsListed)).toEqual([4, 3, 4]);
    const warnings = writes.filter((w) => w.includes('notifications were lost'));
    expect(warnings).toHaveLength(3);
    expect(named(await drain())).toHaveLength(11);
  });
});
