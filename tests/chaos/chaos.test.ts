import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';
import { DEFAULT_CHAOS, runChaos, summary } from '../../scripts/dev/chaos/run.ts';

/**
 * The smaller version of `npm run chaos`: 70,000 events (two objects of 10,000 among them, read in
 * chunks of 2,000 under a 3 s function timeout) through worker processes that are
 * SIGKILLed mid-batch, with PostgreSQL backends terminated, PostgreSQL restarted (a
 * throwaway embedded cluster on its own data folder and a free port, never the machine's server),
 * the S3/SQS endpoint cut off, and poisoned messages; then every event, reject, ledger row and DLQ
 * message is checked against the generator's manifest.
 */
const dataDir = path.join(ROOT, '.data', `chaos-test-${randomBytes(4).toString('hex')}`);
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

it('70,000 events, large objects among them, under worker kills, PostgreSQL faults and an endpoint outage: none lost, none duplicated', async () => {
  const lines: string[] = [];
  const result = await runChaos({
    ...DEFAULT_CHAOS,
    events: 70_000,
    eventsPerObject: 500,
    // Two objects of 10,000 events: five chunks each, under worker kills and the rest.
    large: { objects: 2, events: 10_000 },
    chunkRows: 2_000,
    seed: 515,
    poison: 3,
    faults: { workerKill: 6, pgTerminate: 2, pgRestart: 1, endpointOutage: 1 },
    outageMs: 1000,
    pgDownMs: 500,
    visibilityTimeoutSeconds: 3,
    drainTimeoutMs: 90_000,
    dataDir,
    log: (line) => lines.push(line),
  });
  const report = `${lines.join('\n')}\n${summary(result)}`;
  expect(result.problems, report).toEqual([]);
  expect(result.verdict.problems, report).toEqual([]);
  expect(result.ok, report).toBe(true);
  const v = result.verdict;
  expect(v.events.expected).toBeGreaterThan(63_000);
  expect(v.events.inserted).toBe(v.events.expected);
  expect(v.events.lost).toBe(0);
  expect(v.events.duplicated).toBe(0);
  expect(v.rejects.missing).toBe(0);
  expect(v.rejects.stored).toBe(v.rejects.expected);
  expect(v.objects.ledgerRows).toBe(102);
  // The large objects really spanned chunks (and came through the kills among them).
  expect(result.multiChunk.objects).toBeGreaterThanOrEqual(2);
  expect(result.multiChunk.chunks).toBeGreaterThanOrEqual(10);
  expect(v.dlq).toMatchObject({ poisoned: 3, found: 3, unexpected: 0 });
  expect(result.faults).toEqual(result.planned);
  expect(result.faults.pgRestart).toBe(1);
  // Kills are aimed at batches in flight; at least some must have landed there.
  expect(result.killsMidBatch, report).toBeGreaterThan(0);
}, 170_000);
