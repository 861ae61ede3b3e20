import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { GeneratedBatch } from '../../../functions/generator/generate.ts';

/** What the generator wrote, object by object: the truth the database is checked against. */
export interface Manifest {
  bucket: string;
  objects: ManifestObject[];
  /** Bodies of the messages poisoned on purpose (not JSON); they, and only they, belong in the DLQ. */
  poison: string[];
}

/** One written object and what the generator put in it. */
export interface ManifestObject extends Pick<GeneratedBatch, 'events' | 'validIds' | 'badRows'> {
  key: string;
}

/** The outcome of the check; `problems` is empty exactly when nothing was lost, duplicated or wrong. */
export interface Verdict {
  events: { expected: number; inserted: number; lost: number; duplicated: number; unexpected: number };
  rejects: { expected: number; stored: number; missing: number; unexpected: number; duplicated: number };
  objects: { expected: number; ledgerRows: number; missing: number; wrongCounts: number; unexpected: number };
  dlq: { poisoned: number; found: number; copies: number; unexpected: number };
  /** Messages still in the ingest queue (visible or in flight) when checked. */
  queueLeft: number;
  problems: string[];
}

/**
 * Compare the database and the DLQ with the manifest. The comparison runs in PostgreSQL: the
 * expected ids, rejects and objects are COPYed into temporary tables and diffed with set
 * operations, so a million events cost seconds, not a million-row round trip.
 */
export async function verify(
  db: pg.Pool,
  manifest: Manifest,
  dlq: { sqs: SQSClient; url: string },
  queueLeft: number,
): Promise<Verdict> {
  const client = await db.connect();
  try {
    await client.query(`CREATE TEMP TABLE expected_events (event_id uuid NOT NULL)`);
    await client.query(`CREATE TEMP TABLE expected_rejects (key text, line integer, reason text)`);
    await client.query(`CREATE TEMP TABLE expected_objects (key text, events integer, bad integer)`);
    await copyRows(client, 'expected_events (event_id)', function* () {
      for (const o of manifest.objects) for (const id of o.validIds) yield `${id}\n`;
    });
    await copyRows(client, 'expected_rejects (key, line, reason)', function* () {
      for (const o of manifest.objects)
        for (const b of o.badRows) yield `${csv(o.key)},${b.line},${csv(b.reason)}\n`;
    });
    await copyRows(client, 'expected_objects (key, events, bad)', function* () {
      for (const o of manifest.objects) yield `${csv(o.key)},${o.events},${o.badRows.length}\n`;
    });
    await client.query('ANALYZE expected_events');

    const one = async (sql: string, params: unknown[] = []) =>
      Number((await client.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
    const bucket = [manifest.bucket];
    const events = {
      expected: await one('SELECT count(DISTINCT event_id) AS n FROM expected_events'),
      inserted: await one('SELECT count(*) AS n FROM user_events WHERE source_bucket = $1', bucket),
      lost: await one(
        `SELECT count(*) AS n FROM (SELECT event_id FROM expected_events
           EXCEPT SELECT event_id FROM user_events WHERE source_bucket = $1) x`,
        bucket,
      ),
      // The primary key forbids a second row per event_id; counting anyway keeps the check honest
      // should the schema ever change.
      duplicated: await one(
        'SELECT count(*) - count(DISTINCT event_id) AS n FROM user_events WHERE source_bucket = $1',
        bucket,
      ),
      unexpected: await one(
        `SELECT count(*) AS n FROM (SELECT event_id FROM user_events WHERE source_bucket = $1
           EXCEPT SELECT event_id FROM expected_events) x`,
        bucket,
      ),
    };
    const rejects = {
      expected: await one('SELECT count(*) AS n FROM expected_rejects'),
      stored: await one('SELECT count(*) AS n FROM rejected_events WHERE source_bucket = $1', bucket),
      missing: await one(
        `SELECT count(*) AS n FROM (SELECT key, line, reason FROM expected_rejects
           EXCEPT SELECT source_key, line_number, reason FROM rejected_events WHERE source_bucket = $1) x`,
        bucket,
      ),
      unexpected: await one(
        `SELECT count(*) AS n FROM (SELECT source_key, line_number, reason FROM rejected_events
           WHERE source_bucket = $1 EXCEPT SELECT key, line, reason FROM expected_rejects) x`,
        bucket,
      ),
      duplicated: await one(
        `SELECT count(*) - count(DISTINCT (source_key, line_number)) AS n FROM rejected_events
          WHERE source_bucket = $1`,
        bucket,
      ),
    };
    const objects = {
      expected: manifest.objects.length,
      ledgerRows: await one('SELECT count(*) AS n FROM ingested_objects WHERE bucket = $1', bucket),
      missing: await one(
        `SELECT count(*) AS n FROM expected_objects e
          WHERE NOT EXISTS (SELECT 1 FROM ingested_objects o WHERE o.bucket = $1 AND o.key = e.key)`,
        bucket,
      ),
      // Every object: status ingested, counts that match the manifest and add up, and exactly
      // rows_inserted rows in user_events naming it as their source.
      wrongCounts: await one(
        `SELECT count(*) AS n FROM expected_objects e
           JOIN ingested_objects o ON o.bucket = $1 AND o.key = e.key
           LEFT JOIN (SELECT source_key, count(*) AS rows FROM user_events WHERE source_bucket = $1
                       GROUP BY source_key) u ON u.source_key = e.key
          WHERE o.status <> 'ingested' OR o.rows_total <> e.events OR o.rows_rejected <> e.bad
             OR o.rows_inserted + o.rows_duplicate <> e.events - e.bad
             OR o.rows_total <> o.rows_inserted + o.rows_duplicate + o.rows_rejected
             OR coalesce(u.rows, 0) <> o.rows_inserted`,
        bucket,
      ),
      unexpected: await one(
        `SELECT count(*) AS n FROM ingested_objects o WHERE o.bucket = $1
            AND NOT EXISTS (SELECT 1 FROM expected_objects e WHERE e.key = o.key)`,
        bucket,
      ),
    };
    const dead = await drainQueue(dlq.sqs, dlq.url);
    const poison = new Set(manifest.poison);
    const found = new Set(dead.filter((b) => poison.has(b)));
    const dlqVerdict = {
      poisoned: poison.size,
      found: found.size,
      copies: dead.filter((b) => poison.has(b)).length - found.size,
      unexpected: dead.filter((b) => !poison.has(b)).length,
    };

    const problems: string[] = [];
    const expect = (ok: boolean, problem: string) => {
      if (!ok) problems.push(problem);
    };
    expect(events.lost === 0, `${events.lost} expected events are not in user_events`);
    expect(events.duplicated === 0, `${events.duplicated} event_ids are stored more than once`);
    expect(
      events.unexpected === 0,
      `${events.unexpected} events in user_events were never generated as valid`,
    );
    expect(
      events.inserted === events.expected,
      `user_events holds ${events.inserted}, expected ${events.expected}`,
    );
    expect(rejects.missing === 0, `${rejects.missing} injected bad rows are missing from rejected_events`);
    expect(
      rejects.unexpected === 0,
      `${rejects.unexpected} rejects were not injected (or have the wrong reason)`,
    );
    expect(rejects.duplicated === 0, `${rejects.duplicated} rejected lines are stored more than once`);
    expect(objects.missing === 0, `${objects.missing} objects have no ledger row`);
    expect(objects.wrongCounts === 0, `${objects.wrongCounts} ledger rows do not match the manifest`);
    expect(objects.unexpected === 0, `${objects.unexpected} ledger rows name objects never written`);
    expect(
      objects.ledgerRows === objects.expected,
      `${objects.ledgerRows} ledger rows for ${objects.expected} objects`,
    );
    expect(
      dlqVerdict.found === dlqVerdict.poisoned,
      `${dlqVerdict.poisoned - dlqVerdict.found} poisoned messages are not in the DLQ`,
    );
    expect(dlqVerdict.unexpected === 0, `${dlqVerdict.unexpected} DLQ messages were not poisoned on purpose`);
    expect(queueLeft === 0, `${queueLeft} messages are still in the ingest queue`);
    return { events, rejects, objects, dlq: dlqVerdict, queueLeft, problems };
  } finally {
    await client
      .query('DROP TABLE IF EXISTS expected_events, expected_rejects, expected_objects')
      .catch(() => {});
    client.release();
  }
}

async function copyRows(client: pg.PoolClient, target: string, rows: () => Generator<string>): Promise<void> {
  // Batch lines into chunks: one stream write per line would dominate the cost.
  async function* chunks() {
    let out = '';
    for (const line of rows()) {
      out += line;
      if (out.length >= 256 * 1024) {
        yield out;
        out = '';
      }
    }
    if (out) yield out;
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(`COPY ${target} FROM STDIN (FORMAT csv)`)));
}

function csv(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/** Receive and delete everything in a queue; returns the bodies. */
export async function drainQueue(sqs: SQSClient, url: string): Promise<string[]> {
  const bodies: string[] = [];
  for (let empty = 0; empty < 2; ) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 300,
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      empty++;
      continue;
    }
    for (const m of messages) bodies.push(m.Body ?? '');
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
  }
  return bodies;
}
