import type { S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { BadObjectError } from '../shared/errors.ts';
import type { Log } from '../shared/observability.ts';
import { Chunk } from './chunk.ts';
import { commitChunk, newPlan, type PartPlan } from './commit.ts';
import { isFinished, type LedgerState, readStates, versionId } from './ledger.ts';
import { addCommit, newOutcome, type ObjectOutcome } from './outcome.ts';
import { groupBySize } from './plan.ts';
import { ObjectReader, type ReadPosition } from './reader.ts';
import type { ObjectRef } from './s3-event.ts';
import { type ObjectBody, openObject, type VersionedRef, withEtag } from './source.ts';

/** What the ingest algorithm needs; built once per cold start by the handler, or by tests. */
export interface IngestDeps {
  s3: S3Client;
  db: pg.Pool;
  logger: Log;
  /** Milliseconds since the epoch; injected so tests can pin "now" for the future-timestamp rule. */
  clock: () => number;
}

/** How ingest cuts its work. */
export interface IngestOptions {
  /** Records per transaction, at most. */
  chunkRows: number;
  /** An object whose rejected share goes above this commits no rows and fails. */
  maxRejectRatio: number;
  /** Milliseconds left in the invocation; without it there is no deadline. */
  remainingMs?: () => number;
  /** Stop reading and commit when fewer milliseconds than this are left. */
  reserveMs?: number;
}

/** An object being read across chunks. */
interface InHand {
  index: number;
  ref: VersionedRef;
  reader: ObjectReader;
  body: ObjectBody;
  next: AsyncIterator<Uint8Array>;
}

/**
 * Ingest the objects of one batch, exactly once, row by row: the one algorithm for one object or
 * many, small or large.
 *
 * Objects already finished in the ledger are skipped. The rest are read in the batch's order (so the
 * first occurrence of an event_id is the one one-at-a-time ingest would keep); their rows are gathered into chunks of at most `chunkRows` records, each committed in one transaction with
 * the rejects and every object's checkpoint (see {@link commitChunk}). Small objects share a chunk
 * (all or nothing each); a large one spans chunks and, when resumed (redelivery, continuation, a
 * crash), is read from its checkpoint with a ranged GET. Near the deadline the chunk in hand is
 * committed and the object is reported `continue`, for the caller to go on in a new invocation.
 *
 * Returns one outcome per ref, in order. Never throws for one object's sake: a transient failure
 * is that object's `retry` outcome.
 */
export async function ingestObjects(
  deps: IngestDeps,
  refs: readonly ObjectRef[],
  options: IngestOptions,
): Promise<ObjectOutcome[]> {
  return new Run(deps, refs, options).run();
}

class Run {
  private readonly outcomes: ObjectOutcome[];
  private readonly versions: (VersionedRef | undefined)[] = [];
  private states = new Map<string, LedgerState>();
  private readonly started: number;
  private store: Buffer | undefined;

  constructor(
    private readonly deps: IngestDeps,
    private readonly refs: readonly ObjectRef[],
    private readonly options: IngestOptions,
  ) {
    this.started = deps.clock();
    this.outcomes = refs.map((r) => newOutcome(r));
  }

  async run(): Promise<ObjectOutcome[]> {
    const todo: number[] = [];
    for (const [i, ref] of this.refs.entries()) {
      try {
        this.versions[i] = await withEtag(this.deps.s3, ref);
      } catch (e: unknown) {
        this.set(i, 'retry', e);
      }
    }
    try {
      this.states = await readStates(
        this.deps.db,
        this.versions.filter((v) => v !== undefined),
      );
    } catch (e: unknown) {
      return this.finish(
        this.refs.map((_, i) => i),
        'retry',
        e,
      );
    }
    const seen = new Set<string>();
    for (const [i, ref] of this.refs.entries()) {
      if (this.outcomes[i]?.status !== 'in_progress') continue;
      const v = this.versions[i];
      const id = versionId(v ?? { ...ref, etag: '' });
      const st = this.states.get(id);
      // Finished, or named twice in this batch (the first mention does the work).
      if (st && isFinished(st.status)) {
        this.set(i, 'skipped');
        this.outcomes[i] = {
          ...(this.outcomes[i] as ObjectOutcome),
          previously: st.status as 'ingested' | 'failed',
        };
      } else if (seen.has(id)) this.set(i, 'skipped');
      else todo.push(i);
      seen.add(id);
    }
    try {
      const left = todo.map((i) => {
        const v = this.versions[i];
        return (
          (v?.size ?? Number.POSITIVE_INFINITY) - (v ? (this.states.get(versionId(v))?.resumeOffset ?? 0) : 0)
        );
      });
      for (const group of groupBySize(todo, left, this.options.chunkRows)) {
        if (this.deadlineNear()) return this.finish(todo, 'deferred');
        await this.ingestGroup(group);
      }
    } catch (e: unknown) {
      // The database is unreachable: nothing else can commit in this invocation.
      return this.finish(todo, 'retry', e);
    }
    return this.finish(todo, 'retry');
  }

  /** Read and commit one group, chunk by chunk, carrying a large object from chunk to chunk. */
  private async ingestGroup(group: number[]): Promise<void> {
    const queue = [...group];
    let inHand: InHand | undefined;
    try {
      do {
        // The byte store is reused from chunk to chunk: its rows are committed (or abandoned).
        const chunk = new Chunk(this.store);
        const plans: PartPlan[] = [];
        inHand = await this.fill(chunk, plans, queue, inHand);
        this.store = chunk.store; // grown, perhaps
        const deadline = this.deadlineNear();
        for (const plan of plans) plan.continuing = deadline && !plan.done && !plan.failure;
        if (plans.length === 0) continue;
        const results = await commitChunk(this.deps.db, chunk, plans, {
          maxRejectRatio: this.options.maxRejectRatio,
          onRetry: (e) =>
            this.deps.logger.info('chunk written again after a concurrent insert of one of its event_ids', {
              error: (e as Error).message,
            }),
        });
        const committedAt = this.deps.clock();
        for (const r of results) {
          const newest = r.plan.part === undefined ? undefined : chunk.parts[r.plan.part]?.newestMs;
          this.outcomes[r.plan.index] = addCommit(
            this.outcomes[r.plan.index] as ObjectOutcome,
            r,
            newest,
            committedAt,
          );
        }
        if (inHand && this.outcomes[inHand.index]?.status !== 'in_progress') {
          inHand.body.close();
          inHand = undefined;
        }
        if (deadline) {
          if (inHand && (this.outcomes[inHand.index]?.rowsTotal ?? 0) > 0) this.set(inHand.index, 'continue');
          else if (inHand) this.set(inHand.index, 'retry', 'no progress before the deadline');
          for (const i of queue) this.set(i, 'deferred');
          return;
        }
      } while (inHand || queue.length > 0);
    } finally {
      inHand?.body.close();
    }
  }

  /** Move records into `chunk` until it is full, its objects are read, or the deadline is near. */
  private async fill(chunk: Chunk, plans: PartPlan[], queue: number[], carried: InHand | undefined) {
    const limit = this.options.chunkRows;
    let inHand = carried;
    while (chunk.records < limit) {
      if (!inHand) {
        const i = queue.shift();
        if (i === undefined) break;
        inHand = await this.open(i, plans);
        if (!inHand) continue;
      }
      const h = inHand;
      const start = h.reader.position;
      const part = chunk.parts.length;
      chunk.begin(h.index, h.ref.bucket, h.ref.key, h.ref.etag);
      const plan = newPlan(h.index, h.ref, start, part);
      try {
        let full = h.reader.fill(chunk, limit);
        while (!full && !h.reader.done && !this.deadlineNear()) {
          const next = await h.next.next();
          if (next.done) h.reader.end();
          else h.reader.feed(next.value);
          full = h.reader.fill(chunk, limit);
        }
      } catch (e: unknown) {
        chunk.dropCurrent();
        h.body.close();
        inHand = undefined;
        if (!(e instanceof BadObjectError)) {
          this.set(h.index, 'retry', e);
          continue;
        }
        plans.push({ ...plan, part: undefined, failure: failureOf(e) });
        continue;
      }
      const columns = h.reader.fileColumns;
      plans.push({
        ...plan,
        end: h.reader.position,
        done: h.reader.done,
        header: h.reader.header ?? null,
        ...(h.reader.headerProblem ? { headerProblem: h.reader.headerProblem } : {}),
        ...(h.body.encoding ? { encoding: h.body.encoding } : {}),
        ...(columns
          ? { columns: { extras: columns.extras.map((c) => c.name), fingerprint: columns.fingerprint } }
          : {}),
      });
      if (!h.reader.done) break; // full, or the deadline: commit now
      h.body.close();
      inHand = undefined;
    }
    return inHand;
  }

  /** Open object `i` at its checkpoint; a permanent failure becomes a plan with no rows. */
  private async open(i: number, plans: PartPlan[]): Promise<InHand | undefined> {
    const ref = this.versions[i] ?? { ...(this.refs[i] as ObjectRef), etag: '' };
    const st = this.states.get(versionId(ref));
    const start: ReadPosition = { byte: st?.resumeOffset ?? 0, line: (st?.linesRead ?? 0) + 1 };
    const failed = (failure: PartPlan['failure']) => plans.push({ ...newPlan(i, ref, start), failure });
    if (!this.versions[i]) {
      failed(
        failureOf(new BadObjectError('object_missing', `s3://${ref.bucket}/${ref.key} is not in the bucket`)),
      );
      return undefined;
    }
    if (ref.key.includes('\u0000')) {
      const text =
        'The object key contains a NUL character, which PostgreSQL cannot store; rename the object';
      failed(failureOf(new BadObjectError('invalid_key', text)));
      return undefined;
    }
    if (start.byte > 0) this.outcomes[i] = { ...(this.outcomes[i] as ObjectOutcome), resumedAt: start.byte };
    try {
      const body = await openObject(this.deps.s3, ref, start.byte, st?.encoding ?? undefined);
      const reader = new ObjectReader(this.deps.clock, { ...start, header: st?.header ?? null });
      return { index: i, ref, reader, body, next: body.chunks[Symbol.asyncIterator]() };
    } catch (e: unknown) {
      if (e instanceof BadObjectError) failed(failureOf(e));
      else this.set(i, 'retry', e);
      return undefined;
    }
  }

  private deadlineNear(): boolean {
    const left = this.options.remainingMs?.();
    return left !== undefined && left < (this.options.reserveMs ?? 0);
  }

  private set(i: number, status: ObjectOutcome['status'], error?: unknown): void {
    const o = this.outcomes[i] as ObjectOutcome;
    this.outcomes[i] = {
      ...o,
      status,
      ...(error !== undefined ? { error: error instanceof Error ? error.message : String(error) } : {}),
    };
  }

  /**
   * Mark every object of `pending` that has no final word yet, and stamp durations. Any other object
   * still without one is retried: it must never be acknowledged by mistake.
   */
  private finish(pending: readonly number[], status: 'retry' | 'deferred', error?: unknown): ObjectOutcome[] {
    for (const i of pending) if (this.outcomes[i]?.status === 'in_progress') this.set(i, status, error);
    const durationMs = this.deps.clock() - this.started;
    return this.outcomes.map((o) => ({
      ...o,
      ...(o.status === 'in_progress' ? { status: 'retry' } : {}),
      durationMs,
    }));
  }
}

function failureOf(e: BadObjectError): NonNullable<PartPlan['failure']> {
  return { status: e.code === 'object_missing' ? 'missing' : 'failed', error: `${e.code}: ${e.message}` };
}
