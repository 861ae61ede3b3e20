import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { BadObjectError, isTransientInfraError, TransientError } from '../shared/errors.ts';
import {
  createValidator,
  EVENT_COLUMNS,
  eventValues,
  headerOrder,
  type RejectReason,
} from '../shared/event.ts';
import type { Log } from '../shared/observability.ts';
import { CsvReader, type CsvRecord } from './csv.ts';
import type { ObjectRef } from './s3-event.ts';
import {
  claimObject,
  completeObject,
  copyToStage,
  ensureStage,
  isIngested,
  type LedgerEntry,
  mergeStage,
  recordFailedObject,
} from './store.ts';

/** What the ingest domain needs; created once per cold start by the handler, or by tests. */
export interface IngestDeps {
  s3: S3Client;
  db: pg.Pool;
  logger: Log;
  /** Milliseconds since the epoch; injected so tests can pin "now" for the future-timestamp rule. */
  clock: () => number;
}

/** The outcome for one object. `skipped`: already in the ledger (a redelivery or a replay). */
export interface ObjectResult {
  bucket: string;
  key: string;
  status: 'ingested' | 'failed' | 'skipped';
  error?: string;
  rowsTotal: number;
  rowsInserted: number;
  rowsDuplicate: number;
  rowsRejected: number;
  /** Object created (per the notification) → committed. */
  latencyMs?: number;
  /** Newest event_timestamp in the object → committed. */
  eventLagMs?: number;
  durationMs: number;
}

/** An object version: the etag is known. */
export type VersionedRef = ObjectRef & { etag: string };

/**
 * Ingest one object version exactly once: rows, rejects and the ledger row commit together or not
 * at all. Permanent object failures (missing, not UTF-8) are recorded in the ledger and returned;
 * transient failures throw {@link TransientError} so the message is redelivered.
 */
export async function ingestObject(deps: IngestDeps, ref: ObjectRef): Promise<ObjectResult> {
  const started = deps.clock();
  const versioned = await withEtag(deps.s3, ref);
  if (!versioned) return recordFailure(deps, { ...ref, etag: 'missing' }, objectMissing(ref), started);

  let client: pg.PoolClient;
  try {
    client = await deps.db.connect();
  } catch (e: unknown) {
    throw new TransientError(`Cannot connect to PostgreSQL: ${(e as Error).message}`, { cause: e });
  }
  let broken: Error | undefined;
  const onConnectionError = (e: Error) => {
    broken = e;
  };
  // The pool stops listening for errors on a checked-out client. A connection lost between queries
  // (the server restarting while we read S3) would be an unhandled 'error' event and kill the
  // process; noted here, the next query fails and the object is retried like any transient error.
  client.on('error', onConnectionError);
  try {
    // Cheap check outside any transaction: replays of finished objects cost one indexed read.
    if (await isIngested(client, versioned)) return skipped(versioned, deps.clock() - started);
    await ensureStage(client);
    await client.query('BEGIN');
    try {
      if (!(await claimObject(client, versioned))) {
        await client.query('ROLLBACK');
        return skipped(versioned, deps.clock() - started);
      }
      const result = await loadObject(deps, client, versioned);
      await client.query('COMMIT');
      return committedResult(result, ref, started, deps.clock());
    } catch (e: unknown) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError as Error;
      });
      throw e;
    }
  } catch (e: unknown) {
    if (e instanceof BadObjectError) return recordFailure(deps, versioned, e, started);
    if (e instanceof TransientError) throw e;
    if (isTransientInfraError(e))
      throw new TransientError(`Database or S3 unavailable: ${(e as Error).message}`, { cause: e });
    // An unexpected error may have left the connection mid-protocol (e.g. inside COPY): discard it.
    broken = e as Error;
    throw new TransientError(
      `Unexpected error ingesting s3://${ref.bucket}/${ref.key}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  } finally {
    client.removeListener('error', onConnectionError);
    client.release(broken);
  }
}

function skipped(ref: VersionedRef, durationMs: number): ObjectResult {
  return {
    bucket: ref.bucket,
    key: ref.key,
    status: 'skipped',
    rowsTotal: 0,
    rowsInserted: 0,
    rowsDuplicate: 0,
    rowsRejected: 0,
    durationMs,
  };
}

function objectMissing(ref: ObjectRef, cause?: unknown): BadObjectError {
  return new BadObjectError(
    'object_missing',
    `s3://${ref.bucket}/${ref.key}${ref.etag ? ` (etag ${ref.etag})` : ''} no longer exists: it was deleted or overwritten before ingest`,
    { cause },
  );
}

/** Notifications carry the etag; hand-made events may not, then the current version is used. */
export async function withEtag(s3: S3Client, ref: ObjectRef): Promise<VersionedRef | undefined> {
  if (ref.etag) return { ...ref, etag: ref.etag };
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
    return { ...ref, etag: (head.ETag ?? '').replace(/"/g, ''), size: head.ContentLength ?? ref.size };
  } catch (e: unknown) {
    if (isNotFound(e)) return undefined;
    throw new TransientError(`HeadObject s3://${ref.bucket}/${ref.key} failed: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    err?.name === 'NoSuchKey' ||
    err?.name === 'NotFound' ||
    err?.name === 'PreconditionFailed' ||
    err?.$metadata?.httpStatusCode === 404 ||
    err?.$metadata?.httpStatusCode === 412
  );
}

async function recordFailure(
  deps: IngestDeps,
  ref: VersionedRef,
  e: BadObjectError,
  started: number,
): Promise<ObjectResult> {
  const error = `${e.code}: ${e.message}`;
  let client: pg.PoolClient;
  try {
    client = await deps.db.connect();
  } catch (err: unknown) {
    throw new TransientError(`Cannot connect to PostgreSQL: ${(err as Error).message}`, { cause: err });
  }
  let broken: Error | undefined;
  const onConnectionError = (err: Error) => {
    broken = err;
  };
  client.on('error', onConnectionError); // see ingestObject
  try {
    const recorded = await recordFailedObject(client, ref, error);
    deps.logger.warn('object failed permanently; recorded in the ledger', {
      bucket: ref.bucket,
      key: ref.key,
      etag: ref.etag,
      error,
      recorded,
    });
  } catch (err: unknown) {
    throw new TransientError(`Cannot record failed object: ${(err as Error).message}`, { cause: err });
  } finally {
    client.removeListener('error', onConnectionError);
    client.release(broken);
  }
  return {
    bucket: ref.bucket,
    key: ref.key,
    status: 'failed',
    error,
    rowsTotal: 0,
    rowsInserted: 0,
    rowsDuplicate: 0,
    rowsRejected: 0,
    durationMs: deps.clock() - started,
  };
}

/** An object's counts as loaded inside the transaction, before its timings are known. */
export interface LoadResult extends Omit<ObjectResult, 'durationMs' | 'latencyMs' | 'eventLagMs'> {
  newestEventMs?: number;
}

/** The result of an object committed at `committed`: its counts plus duration, latency and event lag. */
export function committedResult(
  loaded: LoadResult,
  ref: ObjectRef,
  started: number,
  committed: number,
): ObjectResult {
  const { newestEventMs, ...counts } = loaded;
  return {
    ...counts,
    durationMs: committed - started,
    ...(ref.eventTime ? { latencyMs: Math.max(0, committed - Date.parse(ref.eventTime)) } : {}),
    ...(newestEventMs !== undefined ? { eventLagMs: Math.max(0, committed - newestEventMs) } : {}),
  };
}

/**
 * Open the object version's body as a stream. Throws {@link BadObjectError} when it is gone (deleted
 * or overwritten: the etag no longer matches) and {@link TransientError} for any other S3 failure.
 */
export async function openObject(s3: S3Client, ref: VersionedRef): Promise<AsyncIterable<Uint8Array>> {
  try {
    const out = await s3.send(
      new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, IfMatch: `"${ref.etag}"` }),
    );
    return out.Body as AsyncIterable<Uint8Array>;
  } catch (e: unknown) {
    if (isNotFound(e)) throw objectMissing(ref, e);
    throw new TransientError(`GetObject s3://${ref.bucket}/${ref.key} failed: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Stream the object through the reader and validator into the stage, merge, and fill the ledger. */
async function loadObject(deps: IngestDeps, client: pg.ClientBase, ref: VersionedRef): Promise<LoadResult> {
  const body = await openObject(deps.s3, ref);
  const counts: StageCounts = { total: 0, valid: 0, rejected: 0, newestEventMs: undefined };
  let headerProblem: string | undefined;
  await copyToStage(client, Readable.from(stageLines(body, deps.clock, counts, (p) => (headerProblem = p))));
  const merged = await mergeStage(client, ref);

  const { entry, result } = outcomeOf(ref, counts, merged.inserted, headerProblem);
  await completeObject(client, ref, entry);
  return result;
}

/**
 * An object's ledger entry and result from what its COPY counted and its merge inserted (the
 * duplicates are the valid rows the merge did not insert). Shared by the per-object and batch paths.
 */
export function outcomeOf(
  ref: VersionedRef,
  counts: StageCounts,
  rowsInserted: number,
  headerProblem: string | undefined,
): { entry: LedgerEntry; result: LoadResult } {
  const entry: LedgerEntry = {
    status: headerProblem ? 'failed' : 'ingested',
    error: headerProblem ?? null,
    rowsTotal: counts.total,
    rowsInserted,
    rowsDuplicate: counts.valid - rowsInserted,
    rowsRejected: counts.rejected,
  };
  const result: LoadResult = {
    bucket: ref.bucket,
    key: ref.key,
    status: entry.status,
    ...(headerProblem ? { error: headerProblem } : {}),
    rowsTotal: entry.rowsTotal,
    rowsInserted: entry.rowsInserted,
    rowsDuplicate: entry.rowsDuplicate,
    rowsRejected: entry.rowsRejected,
    ...(counts.newestEventMs !== undefined ? { newestEventMs: counts.newestEventMs } : {}),
  };
  return { entry, result };
}

/** Flush COPY text to PostgreSQL in chunks of about this many characters. */
const CHUNK_CHARS = 256 * 1024;

/** What {@link stageLines} counted while streaming one object. */
export interface StageCounts {
  total: number;
  valid: number;
  rejected: number;
  newestEventMs: number | undefined;
}

/** Receives rows instead of the stage's COPY text (see {@link stageLines}). */
export interface RowSink {
  /** A valid row: its line, its (normalized) event_id and its values as COPY CSV, in column order. */
  valid(line: number, eventId: string, values: string): void;
  /** A rejected row: its line, the reason and its raw text quoted for COPY CSV. */
  reject(line: number, reason: RejectReason, quotedRaw: string): void;
}

/**
 * Decode, split, validate and serialize the object as COPY text for the stage: one CSV line per
 * record, valid or not. With a `sink`, rows go to it instead and nothing is yielded. Throws
 * {@link BadObjectError} when the bytes are not UTF-8.
 */
export async function* stageLines(
  body: AsyncIterable<Uint8Array>,
  clock: () => number,
  counts: StageCounts,
  onHeaderProblem: (problem: string) => void,
  sink?: RowSink,
): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  const validate = createValidator(clock);
  let order: number[] | undefined;
  let headerSeen = false;
  let headerMismatch = false;
  let out = '';

  const reject = (record: CsvRecord, reason: RejectReason) => {
    counts.rejected++;
    // Raw text is kept verbatim, except NUL, which PostgreSQL text cannot hold.
    const raw = record.raw.includes('\u0000') ? record.raw.replaceAll('\u0000', '\uFFFD') : record.raw;
    if (sink) sink.reject(record.line, reason, quote(raw));
    else out += `${record.line},${reason},${quote(raw)}${EMPTY_EVENT}\n`;
  };
  const reader = new CsvReader((record) => {
    if (!headerSeen) {
      headerSeen = true;
      order = record.fields ? headerOrder(record.fields) : undefined;
      if (!order) {
        headerMismatch = true;
        onHeaderProblem(
          `header_mismatch: expected "${EVENT_COLUMNS.join(',')}", found "${record.raw.slice(0, 300)}"`,
        );
      }
      return;
    }
    counts.total++;
    if (headerMismatch) return reject(record, 'header_mismatch');
    if (!record.fields) return reject(record, 'malformed_csv_line');
    const v = validate(record.fields, order);
    if (!v.ok) return reject(record, v.reason);
    counts.valid++;
    if (counts.newestEventMs === undefined || v.timeMs > counts.newestEventMs)
      counts.newestEventMs = v.timeMs;
    const values = eventValues(v.event);
    let line = quote(values[0] as string);
    for (let i = 1; i < values.length; i++) line += `,${quote(values[i] as string)}`;
    if (sink) sink.valid(record.line, v.event.event_id, line);
    else out += `${record.line},,,${line}\n`;
  });

  try {
    for await (const chunk of body) {
      reader.push(decoder.decode(chunk, { stream: true }));
      if (out.length >= CHUNK_CHARS) {
        yield out;
        out = '';
      }
    }
    reader.push(decoder.decode());
  } catch (e: unknown) {
    if (e instanceof TypeError && (e as { code?: string }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') {
      throw new BadObjectError(
        'invalid_utf8',
        'The object is not valid UTF-8; re-export it as UTF-8 and upload again',
        {
          cause: e,
        },
      );
    }
    throw e;
  }
  reader.end();
  if (out.length > 0) yield out;
}

/** The event columns of a rejected row in the stage: all NULL. */
const EMPTY_EVENT = ','.repeat(EVENT_COLUMNS.length);

/** Quote a value for COPY's CSV format when needed; an empty string must be quoted to stay non-NULL. */
export function quote(value: string): string {
  if (value === '') return '""';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 44 || c === 34 || c === 10 || c === 13) return `"${value.replace(/"/g, '""')}"`;
  }
  // A lone "\." line would end COPY's data; quoting makes it data.
  return value === '\\.' ? '"\\."' : value;
}
