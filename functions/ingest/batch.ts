import { Readable } from 'node:stream';
import type { SQSRecord } from 'aws-lambda';
import type pg from 'pg';
import { isTransientInfraError, TransientError } from '../shared/errors.ts';
import {
  committedResult,
  type IngestDeps,
  ingestObject,
  type LoadResult,
  type ObjectResult,
  openObject,
  outcomeOf,
  quote,
  type RowSink,
  type StageCounts,
  stageLines,
  type VersionedRef,
} from './ingest.ts';
import type { RecordOutcome } from './record.ts';
import { type ObjectRef, parseMessageBody } from './s3-event.ts';
import {
  claimObjects,
  completeObjects,
  copyDirect,
  copyToBatchStage,
  ensureBatchStage,
  ingestedAmong,
  type LedgerEntry,
  mergeBatchStage,
  presentEventIds,
  versionId,
} from './store.ts';

/** One object's outcome in a batch: its result, or the error that must make SQS redeliver it. */
export type BatchOutcome = ObjectResult | TransientError;

/**
 * Ingest the objects of one SQS batch in a single transaction: claim them all, COPY every object's
 * rows into one stage, merge once, fill in every ledger row, commit once. Each object's rows,
 * rejects and ledger row still commit atomically together (they share the transaction), and the
 * result for each object is exactly the per-object path's.
 *
 * Why: per object, the fixed cost of a transaction (claim, merge statements, ledger update, and the
 * commit's WAL flush) was about a fifth of the ingest time of a 1,000-row object on this machine's
 * PostgreSQL; one transaction per batch pays it once for up to ten objects (docs/performance.md).
 *
 * When anything goes wrong inside the batch (an object gone or not UTF-8, S3 or the database
 * failing), the transaction is rolled back and every object of the batch is ingested on its own
 * with {@link ingestObject}, so a failure only fails the records it concerns. Objects without an
 * etag, or two versions of one key, also take the per-object path.
 */
export async function ingestBatch(deps: IngestDeps, refs: readonly ObjectRef[]): Promise<BatchOutcome[]> {
  const versioned = refs.filter((r): r is VersionedRef => r.etag !== undefined);
  const distinctKeys = new Set(refs.map((r) => JSON.stringify([r.bucket, r.key])));
  if (refs.length < 2 || versioned.length !== refs.length || distinctKeys.size !== refs.length)
    return oneByOne(deps, refs);
  try {
    return await inOneTransaction(deps, versioned);
  } catch (e: unknown) {
    deps.logger.warn('batch transaction failed; ingesting its objects one by one', {
      objects: refs.length,
      error: (e as Error).message,
    });
    return oneByOne(deps, refs);
  }
}

async function oneByOne(deps: IngestDeps, refs: readonly ObjectRef[]): Promise<BatchOutcome[]> {
  const out: BatchOutcome[] = [];
  for (const ref of refs) {
    try {
      out.push(await ingestObject(deps, ref));
    } catch (e: unknown) {
      out.push(e instanceof TransientError ? e : new TransientError(String(e), { cause: e }));
    }
  }
  return out;
}

/** The batch path proper; throws on any failure (the caller falls back to one by one). */
async function inOneTransaction(deps: IngestDeps, refs: readonly VersionedRef[]): Promise<BatchOutcome[]> {
  const started = deps.clock();
  const client = await deps.db.connect();
  let broken: Error | undefined;
  // See ingestObject: a connection lost between queries must not be an unhandled 'error' event.
  const onConnectionError = (e: Error) => {
    broken = e;
  };
  client.on('error', onConnectionError);
  try {
    const done = await ingestedAmong(client, refs);
    const todo = refs.filter((r) => !done.has(versionId(r)));
    const results = new Map<string, ObjectResult>();
    if (todo.length > 0) {
      await ensureBatchStage(client);
      await client.query('BEGIN');
      try {
        const claimed = await claimObjects(client, todo);
        const mine = todo.filter((r) => claimed.has(versionId(r)));
        const loaded = await load(deps, client, mine);
        await client.query('COMMIT');
        const committed = deps.clock();
        for (const [ref, r] of loaded)
          results.set(versionId(ref), committedResult(r, ref, started, committed));
      } catch (e: unknown) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError as Error;
        });
        // Mid-COPY or otherwise unknown state: do not give this connection back to the pool.
        if (!isTransientInfraError(e)) broken ??= e as Error;
        throw e;
      }
    }
    const skippedAfter = deps.clock() - started;
    return refs.map(
      (ref) =>
        results.get(versionId(ref)) ?? {
          bucket: ref.bucket,
          key: ref.key,
          status: 'skipped',
          rowsTotal: 0,
          rowsInserted: 0,
          rowsDuplicate: 0,
          rowsRejected: 0,
          durationMs: skippedAfter,
        },
    );
  } finally {
    client.removeListener('error', onConnectionError);
    client.release(broken);
  }
}

/**
 * Batches up to this many bytes are read into memory and written with a direct COPY (see
 * {@link loadDirect}); larger ones stream through the stage.
 */
const DIRECT_MAX_BYTES = 64 * 2 ** 20;

/** Load the claimed objects by the direct path when the batch is small enough, else through the stage. */
async function load(
  deps: IngestDeps,
  client: pg.ClientBase,
  refs: readonly VersionedRef[],
): Promise<Map<VersionedRef, LoadResult>> {
  const bytes = refs.reduce((sum, r) => sum + (r.size ?? Number.POSITIVE_INFINITY), 0);
  return bytes <= DIRECT_MAX_BYTES ? loadDirect(deps, client, refs) : loadStaged(deps, client, refs);
}

/**
 * Read every object's rows into memory, keep the first occurrence of each event_id (object order,
 * then line order: what the merge does), drop those already in `user_events` (one index probe for
 * the batch), and COPY the rest straight into the table in event_id order — COPY's batched inserts
 * instead of a stage plus a per-row INSERT … ON CONFLICT, the merge's largest cost. Sorted like the
 * merge, so concurrent batches cannot deadlock. If a concurrent batch inserted one of these ids
 * after the probe, the COPY fails on the primary key, the transaction rolls back and the batch is
 * ingested one object at a time (through the stage and merge), so the outcome is the same.
 */
async function loadDirect(
  deps: IngestDeps,
  client: pg.ClientBase,
  refs: readonly VersionedRef[],
): Promise<Map<VersionedRef, LoadResult>> {
  const staged: { ref: VersionedRef; counts: StageCounts; headerProblem?: string; inserted: number }[] = [];
  const valid: { id: string; obj: number; text: string }[] = [];
  const rejects: string[] = [];
  for (const [obj, ref] of refs.entries()) {
    const body = await openObject(deps.s3, ref);
    const item: (typeof staged)[number] = {
      ref,
      counts: { total: 0, valid: 0, rejected: 0, newestEventMs: undefined },
      inserted: 0,
    };
    const source = `${quote(ref.bucket)},${quote(ref.key)}`;
    const etag = quote(ref.etag);
    const sink: RowSink = {
      valid: (line, id, values) => {
        valid.push({ id, obj, text: `${values},${source},${line}\n` });
      },
      reject: (line, reason, raw) => {
        rejects.push(`${source},${etag},${line},${reason},${raw}\n`);
      },
    };
    const lines = stageLines(
      body,
      deps.clock,
      item.counts,
      (p) => {
        item.headerProblem = p;
      },
      sink,
    );
    for await (const _ of lines) {
      // With a sink nothing is yielded; iterating drives the reader.
    }
    staged.push(item);
  }
  const seen = new Set<string>();
  const firsts: typeof valid = [];
  for (const r of valid) {
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    firsts.push(r);
  }
  const present = await presentEventIds(
    client,
    firsts.map((r) => r.id),
  );
  const fresh = firsts
    .filter((r) => !present.has(r.id))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  await copyDirect(
    client,
    'user_events',
    fresh.map((r) => r.text),
  );
  await copyDirect(client, 'rejected_events', rejects);
  for (const r of fresh) (staged[r.obj] as (typeof staged)[number]).inserted++;
  return complete(
    client,
    staged.map((s) => ({ ...s, rowsInserted: s.inserted })),
  );
}

/** Stage every object (one COPY each), merge once, fill in the ledger rows. */
async function loadStaged(
  deps: IngestDeps,
  client: pg.ClientBase,
  refs: readonly VersionedRef[],
): Promise<Map<VersionedRef, LoadResult>> {
  const staged: { ref: VersionedRef; counts: StageCounts; headerProblem?: string }[] = [];
  for (const [i, ref] of refs.entries()) {
    const body = await openObject(deps.s3, ref);
    const item: (typeof staged)[number] = {
      ref,
      counts: { total: 0, valid: 0, rejected: 0, newestEventMs: undefined },
    };
    await copyToBatchStage(
      client,
      i + 1,
      Readable.from(
        stageLines(body, deps.clock, item.counts, (p) => {
          item.headerProblem = p;
        }),
      ),
    );
    staged.push(item);
  }
  const inserted = refs.length > 0 ? await mergeBatchStage(client, refs) : new Map<string, number>();
  return complete(
    client,
    staged.map((s) => ({ ...s, rowsInserted: inserted.get(JSON.stringify([s.ref.bucket, s.ref.key])) ?? 0 })),
  );
}

/** Fill in the ledger rows of the loaded objects and build their results. */
async function complete(
  client: pg.ClientBase,
  loaded: readonly { ref: VersionedRef; counts: StageCounts; headerProblem?: string; rowsInserted: number }[],
): Promise<Map<VersionedRef, LoadResult>> {
  const out = new Map<VersionedRef, LoadResult>();
  const entries: { ref: VersionedRef; entry: LedgerEntry }[] = [];
  for (const { ref, counts, headerProblem, rowsInserted } of loaded) {
    const { entry, result } = outcomeOf(ref, counts, rowsInserted, headerProblem);
    entries.push({ ref, entry });
    out.set(ref, result);
  }
  if (entries.length > 0) await completeObjects(client, entries);
  return out;
}

/**
 * The S3 notifications among a batch of SQS records, ingested together with {@link ingestBatch}.
 * Returns, per messageId, the record's outcome or the error that must fail it. Records that are not
 * S3 object notifications (test events, poison) are not in the map: the caller hands them to
 * `processRecord` as before.
 */
export async function ingestRecords(
  deps: IngestDeps,
  records: readonly SQSRecord[],
): Promise<Map<string, RecordOutcome | TransientError>> {
  const named: { messageId: string; refs: ObjectRef[] }[] = [];
  for (const record of records) {
    let parsed: ReturnType<typeof parseMessageBody>;
    try {
      parsed = parseMessageBody(record.body);
    } catch {
      continue; // poison: processRecord reports and dead-letters it
    }
    if (parsed.kind === 'objects') named.push({ messageId: record.messageId, refs: parsed.objects });
  }
  const outcomes = await ingestBatch(
    deps,
    named.flatMap((n) => n.refs),
  );
  const byRecord = new Map<string, RecordOutcome | TransientError>();
  let next = 0;
  for (const { messageId, refs } of named) {
    const mine = outcomes.slice(next, next + refs.length);
    next += refs.length;
    const failed = mine.find((o): o is TransientError => o instanceof TransientError);
    for (const [i, o] of mine.entries()) {
      if (o instanceof TransientError)
        deps.logger.warn('object will be retried', {
          messageId,
          bucket: refs[i]?.bucket,
          key: refs[i]?.key,
          error: o.message,
        });
      else deps.logger.info(`object ${o.status}`, { messageId, ...o });
    }
    byRecord.set(
      messageId,
      failed ?? {
        kind: 'objects',
        objects: mine.filter((o): o is ObjectResult => !(o instanceof TransientError)),
      },
    );
  }
  return byRecord;
}
