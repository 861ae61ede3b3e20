import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { afterAll, expect, inject, it } from 'vitest';
import { type LocalPipeline, startLocalPipeline } from '../../scripts/local/runtime.ts';
import type { PipelineStatus } from '../../scripts/local/status.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { untilStatus } from '../helpers/wait.ts';

/**
 * Two local pipelines in one process share nothing: each handler is made by its factory with its
 * own pool, clients and DLQ, so objects land in their own database and a poison message in its own
 * DLQ, even with identical bucket and queue names. Each pipeline owns its ingest pool and closes it
 * on stop (an open pool would lose its idle connections when an embedded server stops after it).
 */
const NAMES = { bucket: 'twin-bucket', queue: 'twin-queue', dlq: 'twin-dlq' };
const databases: TestDatabase[] = [];
const pipelines: LocalPipeline[] = [];

afterAll(async () => {
  for (const p of pipelines) await p.stop();
  for (const d of databases) await d.drop();
});

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

const ledgerKeys = async (url: string) =>
  (await query<{ key: string }>(url, 'SELECT key FROM ingested_objects ORDER BY key')).map((r) => r.key);

/** Connections the ingest functions hold on a database (they are named after the ingest service). */
const ingestConnections = async (database: string) =>
  (
    await query<{ n: number }>(
      inject('adminDatabaseUrl'),
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = $1 AND application_name = 'ecommerce-pipeline-ingest'`,
      [database],
    )
  )[0]?.n;

const settled = (objects: number, dlq: number) => (s: PipelineStatus) =>
  s.objectsIngested === objects && s.queueDepth === 0 && s.inFlight === 0 && s.dlqDepth === dlq;

it('two pipelines in one process keep their own database, queues and DLQ, and close their pools', async () => {
  const [dbA, dbB] = await Promise.all([
    freshDatabase({ migrate: false }),
    freshDatabase({ migrate: false }),
  ]);
  databases.push(dbA, dbB);
  const common = {
    port: 0,
    generator: { intervalMs: 0, eventsPerObject: 20, badRate: 0, duplicateRate: 0 },
    ingest: { batchingWindowMs: 50 },
    resources: NAMES,
  };
  const a = await startLocalPipeline({ ...common, databaseUrl: dbA.url });
  pipelines.push(a);
  const b = await startLocalPipeline({ ...common, databaseUrl: dbB.url });
  pipelines.push(b);
  expect(a.endpointUrl).not.toBe(b.endpointUrl);

  const keysA = [(await a.generateOnce()).key];
  const keysB = [(await b.generateOnce()).key, (await b.generateOnce()).key];
  const sqs = new SQSClient({
    endpoint: b.endpointUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await sqs.send(new SendMessageCommand({ QueueUrl: b.resources.queueUrl, MessageBody: '<<not json>>' }));
  sqs.destroy();

  await untilStatus(b, settled(2, 1));
  const statusA = await untilStatus(a, settled(1, 0));
  expect(statusA.rowsInserted).toBe(20);
  expect(await ledgerKeys(dbA.url)).toEqual(keysA.sort());
  expect(await ledgerKeys(dbB.url)).toEqual(keysB.sort());

  // Stopping a pipeline closes its ingest pool; the other pipeline keeps working.
  expect(await ingestConnections(dbA.name)).toBeGreaterThan(0);
  await a.stop();
  pipelines.splice(pipelines.indexOf(a), 1);
  // A closed connection leaves pg_stat_activity a moment later; an open pool's stay (idle for 30 s).
  await expect.poll(() => ingestConnections(dbA.name), { timeout: 5000, interval: 50 }).toBe(0);
  await b.generateOnce();
  await untilStatus(b, settled(3, 1));
  expect(await ingestConnections(dbB.name)).toBeGreaterThan(0);
});
