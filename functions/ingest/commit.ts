import type pg from 'pg';
import { isTransientInfraError, TransientError } from '../shared/errors.ts';
import { type Chunk, type ChunkPart, pgText } from './chunk.ts';
import {
  claim,
  isFinished,
  type LedgerState,
  type LedgerStatus,
  type LedgerUpdate,
  updateStates,
  versionId,
} from './ledger.ts';
import type { ReadPosition } from './reader.ts';
import { writeRows } from './rows.ts';
import type { Encoding, VersionedRef } from './source.ts';

/** What reading produced for one object of a chunk, handed to {@link commitChunk}. */
export interface PartPlan {
  /** The object's index in the batch. */
  index: number;
  ref: VersionedRef;
  /** Its part in the chunk; undefined when no rows were read (it failed on opening). */
  part: number | undefined;
  /** Where this chunk's reading began: must still be the ledger's checkpoint at commit. */
  start: ReadPosition;
  /** Where reading stands after this chunk. */
  end: ReadPosition;
  header: string | null;
  /** Read to its end. */
  done: boolean;
  /** Unusable header: every row is rejected, the object ends `failed` with this error. */
  headerProblem?: string;
  /** How it is compressed, and what its header said (once read). */
  encoding?: Encoding;
  columns?: { extras: string[]; fingerprint: string };
  /** A permanent failure found while reading (missing, not UTF-8). */
  failure?: { status: 'failed' | 'missing'; error: string };
  /** The object stops here and goes on in a new invocation. */
  continuing: boolean;
}

/** A plan for object `index` whose reading begins (and, so far, ends) at `start`. */
export function newPlan(index: number, ref: VersionedRef, start: ReadPosition, part?: number): PartPlan {
  return { index, ref, part, start, end: start, header: null, done: false, continuing: false };
}

/** What one commit did to one object. */
export interface PartResult {
  plan: PartPlan;
  /** `superseded`: another worker moved the checkpoint first; nothing of this part was written. */
  status: LedgerStatus | 'superseded';
  error: string | null;
  /** The ledger row after the commit (cumulative). */
  state: LedgerState;
  /** This commit's share. */
  total: number;
  inserted: number;
  duplicate: number;
  rejected: number;
}

/** Settings of the commit. */
export interface CommitOptions {
  /** An object whose rejected share goes above this commits no rows and fails. */
  maxRejectRatio: number;
  /** Told when the chunk is written again after losing a race on an event_id. */
  onRetry?: (e: unknown) => void;
}

const UNIQUE_VIOLATION = '23505';
const MAX_ATTEMPTS = 3;

/**
 * Commit a chunk in one transaction: claim (lock) every object's ledger row in key order, check
 * that each checkpoint is still where reading began, write the rows (first occurrence of each
 * event_id, only those not stored yet) and the rejects, and move every checkpoint. A race on an
 * event_id with another transaction (unique violation) rolls back and writes the chunk again.
 * When PostgreSQL refuses a value for good (a data error), each object is committed on its own, so
 * only the object holding the value fails.
 */
export async function commitChunk(
  db: pg.Pool,
  chunk: Chunk,
  plans: readonly PartPlan[],
  options: CommitOptions,
): Promise<PartResult[]> {
  try {
    return await withRetries(db, chunk, plans, options, new Set());
  } catch (e: unknown) {
    if (!isDataError(e)) throw e;
    const out: PartResult[] = [];
    for (const plan of plans) out.push(...(await commitAlone(db, chunk, plan, options)));
    return out;
  }
}

/** One object of the chunk in a transaction of its own; if PostgreSQL still refuses it, it fails. */
async function commitAlone(db: pg.Pool, chunk: Chunk, plan: PartPlan, options: CommitOptions) {
  const all = [...chunk.parts.keys()];
  try {
    return await withRetries(db, chunk, [plan], options, new Set(all.filter((p) => p !== plan.part)));
  } catch (e: unknown) {
    if (!isDataError(e)) throw e;
    const error = `unstorable_value: PostgreSQL refused a value of this object for good: ${(e as Error).message}`;
    return withRetries(db, chunk, [{ ...plan, failure: { status: 'failed', error } }], options, new Set(all));
  }
}

async function withRetries(
  db: pg.Pool,
  chunk: Chunk,
  plans: readonly PartPlan[],
  options: CommitOptions,
  skipAll: ReadonlySet<number>,
): Promise<PartResult[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(db, (client) => write(client, chunk, plans, options, skipAll));
    } catch (e: unknown) {
      if ((e as { code?: string }).code !== UNIQUE_VIOLATION || attempt >= MAX_ATTEMPTS) throw e;
      options.onRetry?.(e);
    }
  }
}

async function write(
  client: pg.ClientBase,
  chunk: Chunk,
  plans: readonly PartPlan[],
  options: CommitOptions,
  skipAll: ReadonlySet<number>,
): Promise<PartResult[]> {
  const states = await claim(
    client,
    plans.map((p) => p.ref),
  );
  const skip = new Set<number>(skipAll);
  const overBudget = new Set<number>();
  const superseded = new Set<PartPlan>();
  for (const plan of plans) {
    const st = states.get(versionId(plan.ref)) as LedgerState;
    if (isFinished(st.status) || st.resumeOffset !== plan.start.byte) {
      superseded.add(plan);
      if (plan.part !== undefined) skip.add(plan.part);
      continue;
    }
    if (plan.part === undefined || plan.failure || plan.headerProblem || skip.has(plan.part)) continue;
    const part = chunk.parts[plan.part];
    if (!part) continue;
    const total = st.rowsTotal + part.total;
    if (total > 0 && (st.rowsRejected + part.rejected) / total > options.maxRejectRatio)
      overBudget.add(plan.part);
  }

  const inserted = await writeRows(client, chunk, skip, overBudget);

  const results: PartResult[] = [];
  const updates: LedgerUpdate[] = [];
  for (const plan of plans) {
    const st = states.get(versionId(plan.ref)) as LedgerState;
    if (superseded.has(plan)) {
      results.push({
        plan,
        status: 'superseded',
        error: null,
        state: st,
        total: 0,
        inserted: 0,
        duplicate: 0,
        rejected: 0,
      });
      continue;
    }
    const part = plan.part === undefined || skip.has(plan.part) ? undefined : chunk.parts[plan.part];
    const valid = part ? part.total - part.rejected : 0;
    const budget = plan.part !== undefined && overBudget.has(plan.part);
    const ins = part ? (inserted[plan.part as number] ?? 0) : 0;
    const share = {
      total: part?.total ?? 0,
      inserted: ins,
      duplicate: budget ? 0 : valid - ins,
      rejected: (part?.rejected ?? 0) + (budget ? valid : 0),
    };
    const state: LedgerState = {
      status: 'in_progress',
      resumeOffset: plan.failure ? st.resumeOffset : plan.end.byte,
      linesRead: plan.failure ? st.linesRead : plan.end.line - 1,
      header: plan.header === null ? st.header : pgText(plan.header),
      encoding: plan.encoding ?? st.encoding,
      rowsTotal: st.rowsTotal + share.total,
      rowsInserted: st.rowsInserted + share.inserted,
      rowsDuplicate: st.rowsDuplicate + share.duplicate,
      rowsRejected: st.rowsRejected + share.rejected,
    };
    let error: string | null = null;
    if (plan.failure) {
      state.status = plan.failure.status;
      error = plan.failure.error;
    } else if (budget) {
      state.status = 'failed';
      error = budgetError(st, chunk.parts[plan.part as number]);
    } else if (plan.done) {
      state.status = plan.headerProblem ? 'failed' : 'ingested';
      error = plan.headerProblem ?? null;
    }
    if (error !== null) error = pgText(error).slice(0, 2000);
    updates.push({
      ref: plan.ref,
      state,
      error,
      chunks: share.total > 0 ? 1 : 0,
      continuations: plan.continuing ? 1 : 0,
      columns: plan.columns ?? null,
    });
    results.push({ plan, status: state.status, error, state, ...share });
  }
  await updateStates(client, updates);
  return results;
}

/** Why an object went over its budget: its share of rows that broke a rule (before the budget), and the commonest rules. */
function budgetError(before: LedgerState, part: ChunkPart | undefined): string {
  const total = before.rowsTotal + (part?.total ?? 0);
  const rejected = before.rowsRejected + (part?.rejected ?? 0);
  const top = [...(part?.reasons ?? [])]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return `reject_budget_exceeded: ${((rejected / Math.max(1, total)) * 100).toFixed(1)} % of ${total} rows rejected (top reasons: ${top}); fix the file and upload it again`;
}

function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23)/.test(code) && code !== UNIQUE_VIOLATION;
}

/** Run `work` in a transaction on a pooled connection; infrastructure failures become transient. */
async function inTransaction<T>(db: pg.Pool, work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await db.connect();
  } catch (e: unknown) {
    throw new TransientError(`Cannot connect to PostgreSQL: ${(e as Error).message}`, { cause: e });
  }
  let broken: Error | undefined;
  // The pool stops listening for errors on a checked-out client: a connection lost between queries
  // would be an unhandled 'error' event and end the process. Noted here, the next query fails.
  const onError = (e: Error) => {
    broken = e;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (e: unknown) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError as Error;
    });
    if (isTransientInfraError(e)) {
      broken ??= e as Error;
      throw new TransientError(`PostgreSQL unavailable: ${(e as Error).message}`, { cause: e });
    }
    throw e;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
