import { gzipSync, zstdCompressSync } from 'node:zlib';
import { CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createGenerator } from '../../functions/generator/generate.ts';
import type { ObjectOutcome } from '../../functions/ingest/outcome.ts';
import { ingestRecords } from '../../functions/ingest/records.ts';
import { encodeS3Key } from '../../functions/shared/s3-notification.ts';
import { s3Notification, sqsRecord } from '../helpers/factories.ts';
import { ingestOne, testConfig } from '../helpers/ingest.ts';
import { ingestEnv } from '../helpers/ingest-env.ts';

/**
 * Objects larger than one chunk: committed chunk by chunk with a checkpoint, stopped before an
 * invocation's deadline, and resumed from the checkpoint (a ranged GET for plain text; from the
 * start, skipping what is committed, for gzip and zstd) until done, with exact counts.
 */

const BUCKET = 'resume-test';
const NOW = Date.parse('2026-11-21T12:00:00Z');
const env = ingestEnv({ bucket: BUCKET, now: NOW, keyPrefix: 'large' });
const { put } = env;

/** A generated object: its CSV, and how many valid, distinct rows and rejects it holds. */
function generated(rows: number, seed: number) {
  const gen = createGenerator({ seed, badRate: 0.02, duplicateRate: 0.02, clock: () => NOW - 60_000 });
  const batch = gen.batch(rows);
  return { csv: batch.csv, valid: batch.validIds.length, bad: batch.bad };
}

/** A deadline that comes after `steps` looks at the clock: each run stops somewhere new. */
function deadlineAfter(steps: number) {
  let left = steps;
  return { remainingMs: () => (left-- > 0 ? 60_000 : 0), reserveMs: 1 };
}

async function ledger(key: string) {
  const { rows } = await env.db.pool.query(
    `SELECT status, rows_total, rows_inserted, rows_duplicate, rows_rejected, chunks, continuations,
            resume_offset::int AS resume_offset, encoding, size::int AS size
       FROM ingested_objects WHERE key = $1`,
    [key],
  );
  return rows[0];
}

async function count(sql: string, params: unknown[]): Promise<number> {
  return Number((await env.db.pool.query<{ n: string }>(sql, params)).rows[0]?.n);
}

describe('an object larger than a chunk', () => {
  let seed = 40;
  for (const [name, encode] of [
    ['plain text', (s: string) => s],
    ['gzip', (s: string) => gzipSync(s)],
    ['zstd', (s: string) => zstdCompressSync(s)],
  ] as const) {
    it(`${name}: stops before the deadline, resumes from its checkpoint, and ends with exact counts`, async () => {
      const object = generated(6000, seed++);
      const ref = await put(encode(object.csv));
      const runs: ObjectOutcome[] = [];
      for (let steps = 3; runs.length < 40; steps += 1) {
        const o = await ingestOne(env.deps, ref, { chunkRows: 700, ...deadlineAfter(steps) });
        runs.push(o);
        if (o.status !== 'continue') break;
        // Between invocations the ledger holds a checkpoint and counts that add up.
        const l = await ledger(ref.key);
        expect(l).toMatchObject({ status: 'in_progress' });
        expect(l.rows_total).toBe(l.rows_inserted + l.rows_duplicate + l.rows_rejected);
        expect(l.resume_offset).toBeGreaterThan(0);
      }
      expect(runs.filter((r) => r.status === 'continue').length).toBeGreaterThanOrEqual(2);
      expect(runs.at(-1)?.status).toBe('ingested');
      // Later runs resumed where the ledger said, and each run's share adds up to the object.
      expect(runs.slice(1).every((r) => (r.resumedAt ?? 0) > 0)).toBe(true);
      expect(runs.reduce((sum, r) => sum + r.rowsTotal, 0)).toBe(6000);
      const l = await ledger(ref.key);
      expect(l).toMatchObject({
        status: 'ingested',
        rows_total: 6000,
        rows_inserted: object.valid,
        rows_rejected: object.bad,
        rows_duplicate: 6000 - object.valid - object.bad,
        encoding: name === 'plain text' ? null : name,
        resume_offset: Buffer.byteLength(object.csv),
      });
      expect(l.chunks).toBeGreaterThanOrEqual(9);
      expect(l.continuations).toBe(runs.length - 1);
      if (name !== 'plain text') expect(l.size).toBeLessThan(l.resume_offset);
      expect(await count('SELECT count(*) AS n FROM user_events WHERE source_key = $1', [ref.key])).toBe(
        object.valid,
      );
      expect(await count('SELECT count(*) AS n FROM rejected_events WHERE source_key = $1', [ref.key])).toBe(
        object.bad,
      );
    });
  }

  it('the handler commits before the deadline, sends the notification back to its queue and acknowledges it', async () => {
    const queueUrl = (await env.aws.sqs.send(new CreateQueueCommand({ QueueName: 'resume-continue' })))
      .QueueUrl as string;
    const object = generated(3000, 77);
    const ref = await put(object.csv);
    const record = sqsRecord(s3Notification(BUCKET, encodeS3Key(ref.key), ref.etag));
    const config = testConfig(BUCKET, { queueUrl, chunkRows: 500, reserveMs: 1 });
    const { remainingMs } = deadlineAfter(3);
    const out = await ingestRecords({ ...env.deps, sqs: env.aws.sqs, config }, [record], remainingMs);
    // Acknowledged (not an error): the continuation carries the work on.
    expect(out.get(record.messageId)).toMatchObject({ kind: 'objects', objects: [{ status: 'continue' }] });
    const got = await env.aws.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }),
    );
    const continuation = got.Messages?.[0];
    expect(continuation?.Body).toBe(record.body);
    expect(continuation?.MessageAttributes?.continuationOf?.StringValue).toBe(record.messageId);
    expect(await ledger(ref.key)).toMatchObject({ status: 'in_progress', continuations: 1 });

    // The continuation, handled with time to spare, finishes the object.
    const next = sqsRecord(continuation?.Body ?? '');
    const done = await ingestRecords({ ...env.deps, sqs: env.aws.sqs, config }, [next], () => 60_000);
    expect(done.get(next.messageId)).toMatchObject({ kind: 'objects', objects: [{ status: 'ingested' }] });
    expect(await ledger(ref.key)).toMatchObject({
      status: 'ingested',
      rows_total: 3000,
      rows_inserted: object.valid,
    });
  });

  it('an invocation that made no progress before its deadline is retried by SQS, not continued', async () => {
    const ref = await put(generated(2000, 78).csv);
    const record = sqsRecord(s3Notification(BUCKET, encodeS3Key(ref.key), ref.etag));
    const config = testConfig(BUCKET, { chunkRows: 500, reserveMs: 1 });
    const out = await ingestRecords({ ...env.deps, sqs: env.aws.sqs, config }, [record], () => 0);
    expect(out.get(record.messageId)).toBeInstanceOf(Error);
  });
});
