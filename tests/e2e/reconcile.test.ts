import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createGenerator, objectKey } from '../../functions/generator/generate.ts';
import { ROOT } from '../../infra/paths.ts';
import { topology } from '../../infra/topology.ts';
import { startEmbeddedEndpoint } from '../../scripts/local/endpoint.ts';
import { NotificationBridge } from '../../scripts/local/notifications.ts';
import { ensureResources } from '../../scripts/local/resources.ts';
import { type LocalPipeline, startLocalPipeline } from '../../scripts/local/runtime.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { tempDataDir } from '../helpers/npm-start.ts';

/**
 * Notifications lost for good (the queue purged) and reconciliation finding the objects: in the
 * local runtime, within one interval, counted in objectsReconciled; then `npm run reconcile`.
 */
const run = promisify(execFile);
const SEED = 515;
const EVENTS = 300;
const INTERVAL_MS = 4000;
const GRACE_SECONDS = 2;
let db: TestDatabase;
let dir: { dir: string; remove(): Promise<void> };
let pipeline: LocalPipeline | undefined;
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

beforeAll(async () => {
  [db, dir] = await Promise.all([freshDatabase({ migrate: false }), tempDataDir('reconcile-e2e-')]);
});
afterAll(async () => {
  await pipeline?.stop();
  await db?.drop();
  await dir?.remove();
});

/** The endpoint on the runtime's folder, alone: objects written now have their notification sent, or none. */
async function endpointAlone(withNotifications: boolean) {
  const endpoint = await startEmbeddedEndpoint({ port: 0, dataDir: dir.dir });
  const common = { region: 'us-east-1', endpoint: endpoint.url, credentials };
  const s3 = new S3Client({ ...common, forcePathStyle: true });
  const sqs = new SQSClient(common);
  const resources = await ensureResources(s3, sqs);
  const bridge = new NotificationBridge(sqs, { ...resources, region: 'us-east-1' });
  if (withNotifications) endpoint.onObjectCreated((e) => bridge.notify(e));
  return {
    url: endpoint.url,
    s3,
    sqs,
    resources,
    depth: async () =>
      Number(
        (
          await sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: resources.queueUrl,
              AttributeNames: ['ApproximateNumberOfMessages'],
            }),
          )
        ).Attributes?.ApproximateNumberOfMessages,
      ),
    stop: async () => {
      await bridge.drain();
      s3.destroy();
      sqs.destroy();
      await endpoint.stop();
    },
  };
}

it('five objects whose notifications were purged from the queue are ingested by reconciliation within one interval', async () => {
  // Five objects written while the runtime was down; their notifications reach the queue, and the
  // queue is purged before anyone reads them.
  const alone = await endpointAlone(true);
  const generator = createGenerator({ seed: SEED, badRate: 0.02, duplicateRate: 0 });
  const expected = new Set<string>();
  const keys: string[] = [];
  for (let i = 0; i < 5; i++) {
    const batch = generator.batch(EVENTS);
    for (const id of batch.validIds) expected.add(id);
    const key = objectKey(topology.notification.prefix, new Date(), `purged-${i}`);
    keys.push(key);
    await alone.s3.send(new PutObjectCommand({ Bucket: alone.resources.bucket, Key: key, Body: batch.csv }));
  }
  for (let i = 0; (await alone.depth()) < 5; i++) {
    if (i > 200) throw new Error('the notifications did not reach the queue');
    await new Promise((r) => setTimeout(r, 25));
  }
  await alone.sqs.send(new PurgeQueueCommand({ QueueUrl: alone.resources.queueUrl }));
  expect(await alone.depth()).toBe(0);
  await alone.stop();

  const writes: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk));
    return true;
  });
  let readyAt = 0;
  let doneAt = 0;
  try {
    pipeline = await startLocalPipeline({
      port: 0,
      dataDir: dir.dir,
      databaseUrl: db.url,
      generator: { intervalMs: 0 },
      ingest: { batchingWindowMs: 100 },
      reconcile: { intervalMs: INTERVAL_MS, graceSeconds: GRACE_SECONDS },
    });
    readyAt = Date.now();
    for (;;) {
      const s = await pipeline.status();
      if (s.objectsIngested >= 5) break;
      if (Date.now() - readyAt > INTERVAL_MS + 30_000) throw new Error(`not ingested: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    doneAt = Date.now();
  } finally {
    spy.mockRestore();
  }
  // Found by the run at start or by the first tick of the timer, not later.
  expect(pipeline.reconciled.objects).toBe(5);
  expect(pipeline.reconciled.runs).toBeLessThanOrEqual(2);
  expect(doneAt - readyAt).toBeLessThan(INTERVAL_MS + 20_000);

  // Counted in objectsReconciled (the reconcile function's EMF lines) and recorded with the reason.
  const reconciledMetric = writes
    .flatMap((w) => w.split('\n'))
    .filter((l) => l.includes('"_aws"') && l.includes('ecommerce-pipeline-reconcile'))
    .map((l) => (JSON.parse(l) as { objectsReconciled: number }).objectsReconciled);
  expect(reconciledMetric.reduce((a, b) => a + b, 0)).toBe(5);
  const recorded = await db.pool.query<{ key: string; reason: string; status: string }>(
    `SELECT r.key, r.reason, i.status FROM reconciled_objects r
       JOIN ingested_objects i USING (bucket, key, etag) ORDER BY r.key`,
  );
  expect(recorded.rows).toEqual(keys.map((key) => ({ key, reason: 'unrecorded', status: 'ingested' })));
  expect((await pipeline.status()).objectsReconciled).toBe(5);

  // Exactly the valid rows, once.
  const { rows } = await db.pool.query<{ event_id: string }>('SELECT event_id FROM user_events');
  expect(rows.length).toBe(expected.size);
  expect(rows.every((r) => expected.has(r.event_id))).toBe(true);
  await pipeline.stop();
  pipeline = undefined;
}, 90_000);

it('npm run reconcile finds an object whose notification never went out; --dry-run only says so', async () => {
  const alone = await endpointAlone(false);
  try {
    const key = `${topology.notification.prefix}2026/11/26/12/never-notified.csv`;
    await alone.s3.send(new PutObjectCommand({ Bucket: alone.resources.bucket, Key: key, Body: 'x\n' }));
    const cli = (...args: string[]) =>
      run(process.execPath, ['--import', 'tsx', 'scripts/ops/reconcile.ts', '--target', 'local', ...args], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: db.url, AWS_ENDPOINT_URL: alone.url },
      });

    const dry = await cli('--dry-run', '--grace', '0');
    expect(dry.stdout).toMatch(/reconcile \(dry run\): .* 6 keys listed, 6 eligible, 1 would be sent/);
    expect(dry.stderr).toContain(`would send  s3://…/${key}`);
    expect(await alone.depth()).toBe(0);

    // Younger than the default grace period: nothing yet.
    expect((await cli()).stdout).toMatch(/0 sent/);
    const sent = await cli('--grace', '0', '--since', '1h');
    expect(sent.stdout).toMatch(/1 sent to the ingest queue \(1 unrecorded, 0 missing, 0 stalled\), since /);
    expect(await alone.depth()).toBe(1);
    const recorded = await db.pool.query('SELECT reason FROM reconciled_objects WHERE key = $1', [key]);
    expect(recorded.rows).toEqual([{ reason: 'unrecorded' }]);
  } finally {
    await alone.stop();
  }
}, 60_000);
