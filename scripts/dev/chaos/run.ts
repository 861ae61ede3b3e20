import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createGenerator, objectKey, prng } from '../../../functions/generator/generate.ts';
import {
  adminPool,
  chaosDatabase,
  chaosEndpoint,
  INGEST_APPLICATION,
  putWithRetry,
  sleep,
  startWorker,
  stopWorker,
  until,
  type Worker,
  type WorkerSettings,
} from './harness.ts';
import { type Manifest, type Verdict, verify } from './verify.ts';

/**
 * A fault-injection run: the local pipeline with ingest workers as child processes, a generator
 * writing a manifest of what it wrote, and faults injected while the workers ingest. The outcome is
 * checked against the manifest (see {@link verify}).
 */

/** The kinds of fault a run injects. */
export type FaultKind = 'workerKill' | 'pgTerminate' | 'pgRestart' | 'endpointOutage';

/** Settings of a run; {@link DEFAULT_CHAOS} is `npm run chaos` without options. */
export interface ChaosOptions {
  /** Events in total, split into objects of `eventsPerObject`. */
  events: number;
  eventsPerObject: number;
  /**
   * Large objects among them, each of `events` events: they span many chunks (`chunkRows`) and,
   * with the short `timeoutSeconds`, several invocations (continuations), and faults hit them too.
   */
  large: { objects: number; events: number };
  /** Records per ingest transaction. */
  chunkRows: number;
  /** Function timeout of the workers' Lambda-like context. */
  timeoutSeconds: number;
  seed: number;
  badRate: number;
  duplicateRate: number;
  /** Non-JSON messages sent to the ingest queue on purpose; they must end in the DLQ, alone. */
  poison: number;
  /** Worker processes, and poll loops in each. */
  workers: number;
  concurrency: number;
  batchSize: number;
  batchingWindowMs: number;
  /** How many of each fault to inject. `pgRestart` needs the run's own (embedded) PostgreSQL. */
  faults: Record<FaultKind, number>;
  /** How long an endpoint outage and a PostgreSQL restart keep the service away. */
  outageMs: number;
  pgDownMs: number;
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
  /** Run against a fresh database on this server instead of an embedded cluster (no restarts then). */
  databaseUrl?: string;
  /** Folder of the embedded cluster. */
  dataDir: string;
  /** Give up (and fail) when the pipeline has not drained this long after the last object. */
  drainTimeoutMs: number;
  /** File descriptor for the workers' JSON logs. */
  workerLogFd?: number;
  log: (line: string) => void;
}

/** The defaults of `npm run chaos`. */
export const DEFAULT_CHAOS: Omit<ChaosOptions, 'dataDir' | 'log'> = {
  events: 1_000_000,
  eventsPerObject: 1000,
  large: { objects: 4, events: 60_000 },
  chunkRows: 10_000,
  timeoutSeconds: 3,
  seed: 20261121,
  badRate: 0.01,
  duplicateRate: 0.01,
  poison: 5,
  workers: 2,
  concurrency: 1,
  batchSize: 10,
  batchingWindowMs: 200,
  faults: { workerKill: 24, pgTerminate: 4, pgRestart: 2, endpointOutage: 3 },
  outageMs: 1500,
  pgDownMs: 1000,
  // A killed worker's messages come back after 5 s; a batch of 10 objects takes well under that.
  visibilityTimeoutSeconds: 5,
  // SQS's maximum. A message reaches the DLQ only after this many receives; every kill, terminated
  // backend, restart or outage costs a message at most a few receives, so a valid notification
  // cannot be dead-lettered by the faults of a run (it would have to fail for ≥ 1000 × 5 s).
  maxReceiveCount: 1000,
  drainTimeoutMs: 180_000,
};

/** What happened. `ok` is false on any loss, duplicate, mismatch, or a fault that was not injected. */
export interface ChaosResult {
  ok: boolean;
  verdict: Verdict;
  faults: Record<FaultKind, number>;
  planned: Record<FaultKind, number>;
  /** Kills that hit a worker with a batch in flight. */
  killsMidBatch: number;
  /** Backends ended by pg_terminate_backend, over all pgTerminate faults. */
  backendsTerminated: number;
  /** Client connections reset by endpoint outages. */
  connectionsReset: number;
  workersStarted: number;
  /** Objects committed in more than one chunk, their chunks, and the continuations they took. */
  multiChunk: { objects: number; chunks: number; continuations: number };
  /** Graceful stops at the end that exited 0. */
  cleanStops: number;
  objects: number;
  durationMs: number;
  /** Reasons the run failed besides the verdict (e.g. faults not injected). */
  problems: string[];
}

/** Run the pipeline under faults and check the result against the manifest. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const log = options.log;
  const rand = prng(options.seed ^ 0x5eed);
  const db = await chaosDatabase({
    ...(options.databaseUrl ? { serverUrl: options.databaseUrl } : {}),
    dataDir: options.dataDir,
  });
  const planned = { ...options.faults };
  if (!db.restartable && planned.pgRestart > 0) {
    log(`PostgreSQL restarts need the run's own server: skipping ${planned.pgRestart} (given DATABASE_URL)`);
    planned.pgRestart = 0;
  }
  const aws = await chaosEndpoint(options);
  const admin = adminPool(db.url);
  const workers: Worker[] = [];
  let finishing = false;
  try {
    const settings: WorkerSettings = {
      endpointUrl: aws.proxy.url,
      databaseUrl: db.url,
      resources: aws.resources,
      batchSize: options.batchSize,
      batchingWindowMs: options.batchingWindowMs,
      concurrency: options.concurrency,
      chunkRows: options.chunkRows,
      timeoutSeconds: options.timeoutSeconds,
      ...(options.workerLogFd !== undefined ? { logFd: options.workerLogFd } : {}),
    };
    let workersStarted = 0;
    /** Workers we kill or stop on purpose; any other exit is a crash, reported as a problem. */
    const meantToExit = new Set<Worker>();
    const crashes: string[] = [];
    const spawnWorker = (): Worker => {
      const w = startWorker(settings);
      workersStarted++;
      workers.push(w);
      void w.exited.then(({ code, signal }) => {
        if (meantToExit.has(w) || finishing) return;
        crashes.push(`worker ${w.pid} exited by itself (code ${code}, signal ${signal})`);
        log(`worker ${w.pid} crashed (code ${code}, signal ${signal}); starting another`);
        spawnWorker();
      });
      return w;
    };
    for (let i = 0; i < options.workers; i++) spawnWorker();
    await Promise.all(workers.map((w) => w.ready));
    log(`${workers.length} workers ready; endpoint ${aws.endpoint.url} behind ${aws.proxy.url}`);

    const objectCount =
      Math.ceil((options.events - options.large.objects * options.large.events) / options.eventsPerObject) +
      options.large.objects;
    const manifest: Manifest = { bucket: aws.resources.bucket, objects: [], poison: [] };
    // Finished objects: a large one is in the ledger, in_progress, long before it is done.
    const ingested = async () =>
      Number(
        (
          await admin.query<{ n: string }>(
            "SELECT count(*) AS n FROM ingested_objects WHERE status IN ('ingested', 'failed')",
          )
        ).rows[0]?.n,
      );
    let progress = 0;
    const poll = setInterval(() => {
      ingested().then(
        (n) => {
          progress = n;
        },
        () => {}, // PostgreSQL may be restarting: keep the last value
      );
    }, 100);

    const publishing = publish(options, aws, manifest, objectCount, rand, log);
    const faults = { workerKill: 0, pgTerminate: 0, pgRestart: 0, endpointOutage: 0 };
    const stats = { killsMidBatch: 0, backendsTerminated: 0 };
    const injecting = injectFaults({
      planned,
      rand,
      objectCount,
      progress: () => progress,
      stallMs: 60_000,
      workers: () => workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null),
      inject: async (kind, workersAlive) => {
        switch (kind) {
          case 'workerKill': {
            const busy = workersAlive.filter((w) => w.busy);
            const victim = busy[Math.floor(rand() * busy.length)] ?? workersAlive[0];
            if (!victim) return;
            if (victim.busy) stats.killsMidBatch++;
            meantToExit.add(victim);
            victim.child.kill('SIGKILL');
            await victim.exited;
            spawnWorker();
            break;
          }
          case 'pgTerminate': {
            const { rows } = await admin.query<{ n: string }>(
              `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`,
              [INGEST_APPLICATION],
            );
            stats.backendsTerminated += Number(rows[0]?.n ?? 0);
            break;
          }
          case 'pgRestart':
            await db.restart(options.pgDownMs);
            break;
          case 'endpointOutage':
            await aws.proxy.cut();
            await sleep(options.outageMs);
            await aws.proxy.restore();
            break;
        }
        faults[kind]++;
        log(`fault ${kind} #${faults[kind]} at ${progress}/${objectCount} objects`);
      },
    });
    let faultError: string | undefined;
    const injected = injecting.catch((e: unknown) => {
      faultError = (e as Error).message;
      log(`fault injection stopped: ${faultError}`);
    });
    await publishing;
    log(
      `published ${manifest.objects.length} objects (${options.events} events), ${manifest.poison.length} poisoned messages`,
    );
    await injected;

    const drained = await until(
      'the pipeline to drain',
      async () => {
        const n = await ingested();
        const q = await aws.depth(aws.resources.queueUrl);
        return n >= objectCount && q.visible === 0 && q.inFlight === 0 ? q : undefined;
      },
      options.drainTimeoutMs,
      250,
    ).catch((e: unknown) => {
      log((e as Error).message);
      return undefined;
    });
    clearInterval(poll);

    finishing = true;
    const alive = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    const stops = await Promise.all(alive.map((w) => stopWorker(w)));
    const cleanStops = stops.filter((s) => s.code === 0).length;
    const q = await aws.depth(aws.resources.queueUrl);
    const verdict = await verify(
      admin,
      manifest,
      { sqs: aws.direct.sqs, url: aws.resources.dlqUrl },
      q.visible + q.inFlight,
    );
    const { rows: spans } = await admin.query<{ objects: number; chunks: number; continuations: number }>(
      `SELECT count(*)::int AS objects, coalesce(sum(chunks), 0)::int AS chunks,
              coalesce(sum(continuations), 0)::int AS continuations
         FROM ingested_objects WHERE chunks > 1`,
    );
    const multiChunk = spans[0] ?? { objects: 0, chunks: 0, continuations: 0 };
    const problems: string[] = [];
    for (const kind of Object.keys(planned) as FaultKind[])
      if (faults[kind] < planned[kind])
        problems.push(`${kind}: injected ${faults[kind]} of ${planned[kind]}`);
    if (!drained) problems.push('the pipeline did not drain in time');
    if (faultError) problems.push(`fault injection stopped: ${faultError}`);
    problems.push(...crashes);
    if (cleanStops !== stops.length)
      problems.push(`${stops.length - cleanStops} workers did not stop cleanly`);
    return {
      ok: verdict.problems.length === 0 && problems.length === 0,
      verdict,
      faults,
      planned,
      killsMidBatch: stats.killsMidBatch,
      backendsTerminated: stats.backendsTerminated,
      connectionsReset: aws.proxy.resetConnections,
      workersStarted,
      multiChunk,
      cleanStops,
      objects: objectCount,
      durationMs: Date.now() - started,
      problems,
    };
  } finally {
    finishing = true;
    for (const w of workers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await admin.end().catch(() => {});
    await aws.stop();
    await db.close();
  }
}

/**
 * Write `objectCount` objects through the proxy (so outages hit the producer too, which retries the
 * same key and bytes), and the poisoned messages spread among them. Fills the manifest as it goes.
 */
async function publish(
  options: ChaosOptions,
  aws: Awaited<ReturnType<typeof chaosEndpoint>>,
  manifest: Manifest,
  objectCount: number,
  rand: () => number,
  log: (line: string) => void,
): Promise<void> {
  const generator = createGenerator({
    seed: options.seed,
    badRate: options.badRate,
    duplicateRate: options.duplicateRate,
  });
  const poisonAt = Array.from({ length: options.poison }, () => Math.floor(rand() * objectCount));
  const largeAt = new Set(
    Array.from({ length: options.large.objects }, (_, k) =>
      Math.floor(((k + 0.5) / options.large.objects) * objectCount),
    ),
  );
  const inFlight = new Set<Promise<void>>();
  let left = options.events;
  for (let i = 0; i < objectCount; i++) {
    const count = Math.min(largeAt.has(i) ? options.large.events : options.eventsPerObject, left);
    left -= count;
    const batch = generator.batch(count);
    const key = objectKey('events/', new Date(), `chaos-${String(i).padStart(6, '0')}`);
    manifest.objects.push({ key, events: batch.events, validIds: batch.validIds, badRows: batch.badRows });
    const put = putWithRetry(aws.viaProxy.s3, manifest.bucket, key, batch.csv);
    inFlight.add(put);
    void put.finally(() => inFlight.delete(put)).catch(() => {});
    // A few PUTs at a time: the producer keeps ahead of ingest without flooding the endpoint.
    if (inFlight.size >= 4) await Promise.race(inFlight);
    for (const at of poisonAt) {
      if (at !== i) continue;
      const body = `chaos poison #${manifest.poison.length + 1}: this is not JSON {`;
      await aws.direct.sqs.send(
        new SendMessageCommand({ QueueUrl: aws.resources.queueUrl, MessageBody: body }),
      );
      manifest.poison.push(body);
    }
  }
  await Promise.all(inFlight);
  log(`generator seed ${options.seed}: ${manifest.objects.length} objects written`);
}

/**
 * Inject the planned faults in a random order at random points of the run: each fault waits until
 * ingest has reached its randomly drawn share of the objects, then (kills and backend terminations)
 * until a worker has a batch in flight, so the fault lands in the middle of real work.
 */
async function injectFaults(args: {
  planned: Record<FaultKind, number>;
  rand: () => number;
  objectCount: number;
  progress: () => number;
  /** Give up when ingest makes no progress for this long. */
  stallMs: number;
  workers: () => Worker[];
  inject: (kind: FaultKind, alive: Worker[]) => Promise<void>;
}): Promise<void> {
  const { rand } = args;
  const plan: FaultKind[] = [];
  for (const kind of Object.keys(args.planned) as FaultKind[])
    for (let i = 0; i < args.planned[kind]; i++) plan.push(kind);
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [plan[i], plan[j]] = [plan[j] as FaultKind, plan[i] as FaultKind];
  }
  // Points between 3 % and 85 % of the objects: faults hit a pipeline with work left to redo.
  const points = plan.map(() => Math.floor((0.03 + rand() * 0.82) * args.objectCount)).sort((a, b) => a - b);
  for (const [i, kind] of plan.entries()) {
    const at = points[i] ?? 0;
    // Progress must move: a pipeline that stalls (all workers dead, say) fails the run, not hangs it.
    let seen = args.progress();
    let movedAt = Date.now();
    while (args.progress() < at) {
      if (args.progress() !== seen) {
        seen = args.progress();
        movedAt = Date.now();
      }
      if (Date.now() - movedAt > args.stallMs)
        throw new Error(`no progress for ${args.stallMs / 1000} s at ${seen}/${args.objectCount} objects`);
      await sleep(20);
    }
    if (kind === 'workerKill' || kind === 'pgTerminate') {
      const alive = args.workers();
      if (!alive.some((w) => w.busy)) {
        // Wait for the next batch to start (a fresh worker may still be starting), briefly.
        await Promise.race([...alive.map((w) => w.nextBusy()), sleep(5000)]);
      }
      // A random moment inside the batch: before, during or after the COPY and the commit.
      await sleep(Math.floor(rand() * 150));
    }
    await args.inject(kind, args.workers());
  }
}

/** The report: the numbers first, then every problem found. */
export function summary(r: ChaosResult): string {
  const v = r.verdict;
  const lines = [
    '',
    `chaos run: ${r.ok ? 'PASS' : 'FAIL'} in ${(r.durationMs / 1000).toFixed(1)} s`,
    `  events    expected ${v.events.expected} / inserted ${v.events.inserted} / lost ${v.events.lost} / duplicated ${v.events.duplicated} / unexpected ${v.events.unexpected}`,
    `  rejects   expected ${v.rejects.expected} / stored ${v.rejects.stored} / missing ${v.rejects.missing} / unexpected ${v.rejects.unexpected}`,
    `  objects   ${v.objects.expected} written / ${v.objects.ledgerRows} ledger rows / missing ${v.objects.missing} / wrong counts ${v.objects.wrongCounts}`,
    `  DLQ       ${v.dlq.found} of ${v.dlq.poisoned} poisoned messages (+${v.dlq.copies} copies) / unexpected ${v.dlq.unexpected}; queue left ${v.queueLeft}`,
    `  faults    worker SIGKILL ${r.faults.workerKill}/${r.planned.workerKill} (${r.killsMidBatch} mid-batch)` +
      ` · pg_terminate_backend ${r.faults.pgTerminate}/${r.planned.pgTerminate} (${r.backendsTerminated} backends)` +
      ` · PostgreSQL restart ${r.faults.pgRestart}/${r.planned.pgRestart}` +
      ` · endpoint outage ${r.faults.endpointOutage}/${r.planned.endpointOutage} (${r.connectionsReset} connections reset)`,
    `  large     ${r.multiChunk.objects} objects committed in ${r.multiChunk.chunks} chunks, ${r.multiChunk.continuations} continuations`,
    `  workers   ${r.workersStarted} started, ${r.cleanStops} stopped cleanly at the end`,
  ];
  for (const p of [...v.problems, ...r.problems]) lines.push(`  PROBLEM: ${p}`);
  return lines.join('\n');
}
