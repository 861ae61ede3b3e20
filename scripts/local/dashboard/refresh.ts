import {
  type Latency,
  type LedgerRow,
  type Queryable,
  type ReconciledRow,
  type RejectRow,
  readLatency,
  readLatestObjects,
  readLatestReconciled,
  readLatestRejects,
  readRejectReasons,
  readSummary,
  type SummaryRow,
} from './queries.ts';

/**
 * The queries of one dashboard refresh, beside the ledger totals the runtime's status reads: what the
 * dashboard's sampler runs, and what `npm run bench -- --scaling` times on an empty and a full table.
 */

/** Hours of event time the `event_summary` breakdown covers. */
export const SUMMARY_HOURS = 24;

/** What the dashboard reads every sample: latency percentiles, the latest objects and rejects. */
export interface Detail {
  latency: Latency;
  objects: LedgerRow[];
  rejects: RejectRow[];
}

export async function readDetail(db: Queryable): Promise<Detail> {
  const [latency, objects, rejects] = await Promise.all([
    readLatency(db),
    readLatestObjects(db, { limit: 10 }),
    readLatestRejects(db, 10),
  ]);
  return { latency, objects, rejects };
}

/** What the dashboard reads less often: reject reasons, the summary, the latest reconciliations. */
export interface SlowDetail {
  reasons: { reason: string; rows: number }[];
  summary: SummaryRow[];
  reconciled: ReconciledRow[];
}

export async function readSlowDetail(db: Queryable): Promise<SlowDetail> {
  const [reasons, summary, reconciled] = await Promise.all([
    readRejectReasons(db),
    readSummary(db, SUMMARY_HOURS),
    readLatestReconciled(db, 10),
  ]);
  return { reasons, summary, reconciled };
}
