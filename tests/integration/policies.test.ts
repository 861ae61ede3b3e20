import { GetObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { ObjectRef } from '../../functions/ingest/s3-event.ts';
import { encodeS3Key } from '../../functions/shared/s3-notification.ts';
import { doc, ev, HEADER, line } from '../fixtures/cases.ts';
import { s3Notification, sqsRecord } from '../helpers/factories.ts';
import { handleRecord, ingestOne, testConfig } from '../helpers/ingest.ts';
import { ingestEnv } from '../helpers/ingest-env.ts';

/**
 * What a deployment decides about objects: the reject budget, files with columns the event does
 * not have, and what happens to an object's source once it is ingested.
 */

const BUCKET = 'policies-test';
const NOW = Date.parse('2026-11-21T12:00:00Z');
const env = ingestEnv({ bucket: BUCKET, now: NOW, keyPrefix: 'p' });
const { put } = env;

const ledger = async (key: string) =>
  (
    await env.db.pool.query(
      `SELECT status, error, rows_total, rows_inserted, rows_duplicate, rows_rejected, extra_columns,
              header_fingerprint FROM ingested_objects WHERE key = $1`,
      [key],
    )
  ).rows[0];

describe('reject budget', () => {
  it('a file of 90 % bad rows commits no rows, fails with the ratio and top reasons, and keeps every row as a reject', async () => {
    const rows = [
      ev(),
      ...Array.from({ length: 9 }, (_, i) => ev(i < 6 ? { quantity: '0' } : { event_type: 'x' })),
    ];
    const ref = await put(doc(rows));
    const o = await ingestOne(env.deps, ref, { maxRejectRatio: 0.5 });
    expect(o).toMatchObject({ status: 'failed', rowsTotal: 10, rowsInserted: 0, rowsRejected: 10 });
    const l = await ledger(ref.key);
    expect(l).toMatchObject({
      status: 'failed',
      rows_total: 10,
      rows_inserted: 0,
      rows_duplicate: 0,
      rows_rejected: 10,
    });
    expect(l.error).toMatch(
      /^reject_budget_exceeded: 90\.0 % of 10 rows rejected \(top reasons: invalid_quantity 6, unknown_event_type 3\)/,
    );
    const { rows: rejects } = await env.db.pool.query(
      'SELECT line_number, reason FROM rejected_events WHERE source_key = $1 ORDER BY line_number',
      [ref.key],
    );
    expect(rejects[0]).toEqual({ line_number: 2, reason: 'reject_budget_exceeded' });
    expect(rejects).toHaveLength(10);
    const stored = await env.db.pool.query('SELECT 1 FROM user_events WHERE source_key = $1', [ref.key]);
    expect(stored.rowCount).toBe(0);
  });

  it('a file within its budget is ingested as usual', async () => {
    const ref = await put(doc([ev(), ev(), ev({ quantity: '0' })]));
    expect(await ingestOne(env.deps, ref, { maxRejectRatio: 0.5 })).toMatchObject({
      status: 'ingested',
      rowsInserted: 2,
      rowsRejected: 1,
    });
  });
});

describe('columns the event does not have', () => {
  it('ingests every row, keeps the values per row in extra, and the ledger names the columns', async () => {
    const events = [ev(), ev()];
    const ref = await put(
      doc(
        events.map((e, i) => `WEB,${line(e)},ref-${i}`),
        { header: `channel,${HEADER},referrer` },
      ),
    );
    expect(await ingestOne(env.deps, ref)).toMatchObject({
      status: 'ingested',
      rowsInserted: 2,
      extraColumns: ['channel', 'referrer'],
    });
    const l = await ledger(ref.key);
    expect(l.extra_columns).toEqual(['channel', 'referrer']);
    expect(l.header_fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const { rows } = await env.db.pool.query('SELECT extra FROM user_events WHERE event_id = $1', [
      events[1]?.event_id,
    ]);
    expect(rows[0].extra).toEqual({ channel: 'WEB', referrer: 'ref-1' });
  });

  it('a missing event column still fails the file, naming it', async () => {
    const ref = await put(doc([ev()], { header: HEADER.replace(',quantity', ',qty') }));
    const o = await ingestOne(env.deps, ref);
    expect(o).toMatchObject({ status: 'failed' });
    expect(o.error).toMatch(/^header_mismatch: missing column quantity;/);
  });
});

describe('after ingest', () => {
  const handle = async (ref: ObjectRef, afterIngest: 'delete' | 'archive') =>
    handleRecord(
      { ...env.deps, sqs: env.aws.sqs, config: testConfig(BUCKET, { afterIngest }) },
      sqsRecord(s3Notification(BUCKET, encodeS3Key(ref.key), ref.etag)),
    );
  const exists = async (key: string) =>
    env.aws.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })).then(
      () => true,
      () => false,
    );

  it('archive moves the ingested object under archive/ with its key; a redelivery changes nothing', async () => {
    const ref = await put(doc([ev()]), 'events/2026/11/21/12/to archive.csv');
    expect(await handle(ref, 'archive')).toMatchObject({
      kind: 'objects',
      objects: [{ status: 'ingested', afterIngest: 'archived' }],
    });
    expect(await exists(ref.key)).toBe(false);
    expect(await exists(`archive/${ref.key}`)).toBe(true);
    expect(await handle(ref, 'archive')).toMatchObject({ kind: 'objects', objects: [{ status: 'skipped' }] });
    expect(await exists(`archive/${ref.key}`)).toBe(true);
  });

  it('delete removes the ingested version, but never a newer one, nor a failed object', async () => {
    const ref = await put(doc([ev()]));
    expect(await handle(ref, 'delete')).toMatchObject({
      kind: 'objects',
      objects: [{ afterIngest: 'deleted' }],
    });
    expect(await exists(ref.key)).toBe(false);

    // Overwritten after its notification: the old version is missing, the new one stays.
    const old = await put(doc([ev()]));
    await put(doc([ev(), ev()]), old.key);
    expect(await handle(old, 'delete')).toMatchObject({ kind: 'objects', objects: [{ status: 'missing' }] });
    expect(await exists(old.key)).toBe(true);

    const bad = await put('not,a,header\n1,2,3\n');
    expect(await handle(bad, 'delete')).toMatchObject({ kind: 'objects', objects: [{ status: 'failed' }] });
    expect(await exists(bad.key)).toBe(true);
  });
});
