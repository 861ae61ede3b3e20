/**
 * Rendering of the benchmark's results: the console table, `docs/performance.md` and the SVG chart
 * it embeds. Pure functions of {@link BenchResults}, so the report always shows the run's numbers.
 */

/** Percentiles in milliseconds. */
export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/** `bench/results.json`. Every figure is the median over the repetitions of one run. */
export interface BenchResults {
  copyRowsPerSec: number;
  endToEndRowsPerSec: number;
  ratioToCopy: number;
  endToEndObjectsPerSec: number;
  latencyMs: Percentiles;
  halfLoadLatencyMs: Percentiles;
  halfLoadObjectsPerSec: number;
  halfLoadDefaultWindowLatencyMs: Percentiles;
  /** CPU per row at max rate (µs): ingest process, endpoint + load driver, and cores × wall time. */
  cpuUsPerRowAtMaxRate?: { ingestProcess: number; endpointAndDriver: number; available: number };
  replaySpeedup: number;
  replaySeconds: number;
  firstIngestSeconds: number;
  duplicateMixRowsPerSec: number;
  badRowMixRowsPerSec: number;
  largeObject: { rows: number; seconds: number; peakRssMb: number; sizeMb: number };
  generatorEventsPerSec: number;
  machine: {
    cpus: number;
    cpuModel: string;
    memGb: number;
    node: string;
    postgres: string;
    loadAverageAtStart: number;
  };
  config: Record<string, number | boolean>;
  runs: Record<string, number[]>;
  totalSeconds: number;
  at: string;
}

/** True for a real figure (JSON turns a NaN median, e.g. of a scenario left out, into null). */
const measured = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${int(n)} ms`;
const pct = (p: Percentiles) => `${ms(p.p50)} / ${ms(p.p95)} / ${ms(p.p99)}`;

/** The performance targets and whether this run met them. */
export function targets(r: BenchResults): { name: string; target: string; measured: string; met: boolean }[] {
  return [
    {
      name: 'end-to-end vs COPY',
      target: '≥ 0.6 × COPY',
      measured: `${r.ratioToCopy.toFixed(2)} × (${int(r.endToEndRowsPerSec)} vs ${int(r.copyRowsPerSec)} rows/s)`,
      met: r.ratioToCopy >= 0.6,
    },
    {
      name: 'half-load latency p50',
      target: '≤ 100 ms',
      measured: ms(r.halfLoadLatencyMs.p50),
      met: r.halfLoadLatencyMs.p50 <= 100,
    },
    {
      name: 'half-load latency p99',
      target: '≤ 500 ms',
      measured: ms(r.halfLoadLatencyMs.p99),
      met: r.halfLoadLatencyMs.p99 <= 500,
    },
    {
      name: 'replay speed-up',
      target: '≥ 10 ×',
      measured: `${r.replaySpeedup.toFixed(1)} ×`,
      met: r.replaySpeedup >= 10,
    },
    {
      name: 'large object peak RSS',
      target: '≤ 200 MB',
      measured: `${int(r.largeObject.peakRssMb)} MB (${int(r.largeObject.rows)} rows)`,
      met: r.largeObject.peakRssMb <= 200,
    },
    {
      name: 'generator',
      target: '≥ 200,000 events/s',
      measured: `${int(r.generatorEventsPerSec)} events/s`,
      met: r.generatorEventsPerSec >= 200_000,
    },
  ];
}

/** Rows of the main table: what, figure. */
function rows(r: BenchResults): [string, string][] {
  return [
    [
      `COPY baseline (${r.machine.cpus} connections, plain COPY, no idempotency)`,
      `${int(r.copyRowsPerSec)} rows/s`,
    ],
    [
      'end-to-end, max rate (PUT → committed)',
      `${int(r.endToEndRowsPerSec)} rows/s · ${r.endToEndObjectsPerSec.toFixed(1)} objects/s`,
    ],
    ['end-to-end / COPY', `${r.ratioToCopy.toFixed(2)}`],
    ...(r.cpuUsPerRowAtMaxRate
      ? [
          [
            'CPU per row at max rate: ingest process / S3+SQS endpoint and driver / all cores × wall',
            `${r.cpuUsPerRowAtMaxRate.ingestProcess.toFixed(1)} / ${r.cpuUsPerRowAtMaxRate.endpointAndDriver.toFixed(1)} / ${r.cpuUsPerRowAtMaxRate.available.toFixed(1)} µs`,
          ] as [string, string],
        ]
      : []),
    ['latency at max rate p50 / p95 / p99', pct(r.latencyMs)],
    [
      `latency at half load (${r.halfLoadObjectsPerSec.toFixed(1)} objects/s) p50 / p95 / p99`,
      pct(r.halfLoadLatencyMs),
    ],
    [
      '  same, with the topology’s 1 s batching window',
      measured(r.halfLoadDefaultWindowLatencyMs?.p50)
        ? pct(r.halfLoadDefaultWindowLatencyMs)
        : 'not measured (--quick)',
    ],
    [
      'replay of every notification',
      `${r.replaySeconds.toFixed(2)} s vs ${r.firstIngestSeconds.toFixed(2)} s first ingest = ${r.replaySpeedup.toFixed(1)} ×`,
    ],
    ['30 % duplicate event_ids', `${int(r.duplicateMixRowsPerSec)} rows/s`],
    ['5 % bad rows', `${int(r.badRowMixRowsPerSec)} rows/s`],
    [
      `large object (${int(r.largeObject.rows)} rows, ${int(r.largeObject.sizeMb)} MiB)`,
      `${r.largeObject.seconds.toFixed(1)} s · ${int(r.largeObject.rows / r.largeObject.seconds)} rows/s · peak RSS ${int(r.largeObject.peakRssMb)} MB`,
    ],
    ['generator', `${int(r.generatorEventsPerSec)} events/s`],
  ];
}

/** The console table. */
export function renderTable(r: BenchResults): string {
  const all = rows(r);
  const w = Math.max(...all.map(([a]) => a.length));
  const lines = all.map(([a, b]) => `${a.padEnd(w)}  ${b}`);
  const t = targets(r).map(
    (x) => `${x.met ? 'met   ' : 'MISSED'}  ${x.name}: ${x.measured} (target ${x.target})`,
  );
  return [...lines, '', ...t].join('\n');
}

/** Markdown table of the results. */
export function markdownTable(r: BenchResults): string {
  return [
    '| measurement | median |',
    '| --- | --- |',
    ...rows(r).map(([a, b]) => `| ${a.trim()} | ${b} |`),
  ].join('\n');
}

/** Markdown table of the targets. */
export function markdownTargets(r: BenchResults): string {
  return [
    '| target | measured | |',
    '| --- | --- | --- |',
    ...targets(r).map((t) => `| ${t.name} ${t.target} | ${t.measured} | ${t.met ? 'met' : '**missed**'} |`),
  ].join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Two panels, drawn from the results: throughput (rows/s) of each way to load, and latency
 * percentiles at max rate and at half load (log scale, since they differ by orders of magnitude).
 */
export function renderSvg(r: BenchResults): string {
  const W = 900;
  const H = 380;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  // Panel 1: throughput.
  const bars: [string, number, string][] = [
    ['COPY (limit)', r.copyRowsPerSec, '#888'],
    ['end-to-end', r.endToEndRowsPerSec, '#2b6cb0'],
    ['30 % duplicates', r.duplicateMixRowsPerSec, '#4a90d9'],
    ['5 % bad rows', r.badRowMixRowsPerSec, '#7fb3e6'],
    ['large object', r.largeObject.rows / r.largeObject.seconds, '#a9cdf0'],
  ];
  const x0 = 140;
  const pw = 280;
  const max = Math.max(...bars.map((b) => b[1]));
  out.push(`<text x="20" y="24" font-size="14" font-weight="bold">Throughput (rows/s, median)</text>`);
  bars.forEach(([label, v, color], i) => {
    const y = 50 + i * 50;
    const w = (v / max) * pw;
    out.push(
      `<text x="${x0 - 8}" y="${y + 19}" text-anchor="end">${esc(label)}</text>`,
      `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="28" fill="${color}"/>`,
      `<text x="${(x0 + w + 6).toFixed(1)}" y="${y + 19}">${int(v)}</text>`,
    );
  });
  out.push(
    `<text x="20" y="${H - 40}" fill="#444">end-to-end = ${r.ratioToCopy.toFixed(2)} × COPY; replay ${r.replaySpeedup.toFixed(1)} × faster than first ingest</text>`,
  );
  // Panel 2: latency, log scale.
  const lx = 520;
  const lw = 340;
  const top = 50;
  const bottom = H - 70;
  const series: [string, Percentiles, string][] = [
    ['half load, window 0', r.halfLoadLatencyMs, '#38a169'],
    ['half load, window 1 s', r.halfLoadDefaultWindowLatencyMs, '#9ae6b4'],
    ['max rate, window 0', r.latencyMs, '#dd6b20'],
  ];
  const all = series.flatMap(([, p]) => [p.p50, p.p95, p.p99]).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...all))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, lo * 10)));
  const yOf = (v: number) =>
    bottom -
    ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (bottom - top);
  out.push(
    `<text x="${lx}" y="24" font-size="14" font-weight="bold">Latency, object created → committed (ms)</text>`,
  );
  for (let v = lo; v <= hi; v *= 10) {
    const y = yOf(v).toFixed(1);
    out.push(
      `<line x1="${lx + 40}" x2="${lx + lw}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${lx + 34}" y="${Number(y) + 4}" text-anchor="end">${int(v)}</text>`,
    );
  }
  const groups = ['p50', 'p95', 'p99'] as const;
  const gw = (lw - 50) / groups.length;
  groups.forEach((g, gi) => {
    const gx = lx + 50 + gi * gw;
    out.push(`<text x="${(gx + gw / 2 - 8).toFixed(1)}" y="${bottom + 16}" text-anchor="middle">${g}</text>`);
    series.forEach(([, p, color], si) => {
      const bw = (gw - 20) / series.length;
      const x = gx + si * bw;
      const y = yOf(p[g]);
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(bottom - y).toFixed(1)}" fill="${color}"><title>${int(p[g])} ms</title></rect>`,
      );
    });
  });
  series.forEach(([label, , color], si) => {
    const y = H - 40 + si * 14;
    out.push(
      `<rect x="${lx}" y="${y - 9}" width="10" height="10" fill="${color}"/>`,
      `<text x="${lx + 14}" y="${y}">${esc(label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A separate run of the large-object scenario at full size (`npm run bench -- --large-only …`). */
export interface FullSizeLarge {
  rows: number;
  seconds: number;
  peakRssMb: number;
  sizeMb: number;
  reps: number;
  loadAverage: number;
  at: string;
}

const na = (n: number, text: string) => (measured(n) ? text : 'not measured');

/** `docs/performance.md`, generated from the results; the explanations are in {@link narrative}. */
export function renderMarkdown(r: BenchResults, full?: FullSizeLarge): string {
  const m = r.machine;
  return `# Performance

Generated by \`npm run bench\` on ${r.at.slice(0, 16).replace('T', ' ')} UTC in ${r.totalSeconds.toFixed(0)} s
(${r.config.quick ? 'quick run' : 'default sizes'}; every figure is the median of ${r.config.reps} repetitions).
Raw figures: [\`bench/results.json\`](../bench/results.json). Re-run with \`npm run bench\`; \`--help\` lists the sizes.${
    r.totalSeconds > 180 && !r.config.quick
      ? ` (The default run is meant to take about three minutes on 2 cores; this one took ${r.totalSeconds.toFixed(0)} s, the machine's load rising during it.)`
      : ''
  }

**Machine:** ${m.cpus} × ${m.cpuModel}, ${m.memGb.toFixed(0)} GB RAM, Node ${m.node}, PostgreSQL ${m.postgres}
(default settings, 127.0.0.1). Load average ${m.loadAverageAtStart.toFixed(2)} when the run started: the machine is
shared with other work, so absolute figures move from run to run; ratios within one run are the meaningful part.

![throughput and latency](performance.svg)

${markdownTable(r)}
${
  full
    ? `
**Large object at full size** (measured separately: \`npm run bench -- --large-only --large-rows ${full.rows} --large-reps ${full.reps} --results bench/large-object.json\`,
${full.at.slice(0, 16).replace('T', ' ')} UTC, load average ${full.loadAverage.toFixed(1)}): ${int(full.rows)} rows (${int(full.sizeMb)} MiB) in
${full.seconds.toFixed(1)} s (${int(full.rows / full.seconds)} rows/s), peak RSS of the ingest process **${int(full.peakRssMb)} MB**.
The default run uses ${int(r.largeObject.rows)} rows so that it stays within about three minutes. At that size one
transaction sorts and merges millions of rows (the merge spills to disk with default \`work_mem\`), and the run outlived
the queue's visibility timeout (361 s): a second poll loop received the message again and waited on the ledger row's
lock (seen in \`pg_stat_activity\`) while the first committed; the ledger kept exactly one row for the object.
`
    : ''
}
## Targets

${markdownTargets(r)}

${narrative(r, full)}`;
}

/** The parts of the report that explain the numbers (how it was measured, limits, scaling). */
export function narrative(r: BenchResults, full?: FullSizeLarge): string {
  const peak = full?.peakRssMb ?? r.largeObject.peakRssMb;
  return `## How it is measured

- **Files:** ${r.config.objects} CSV objects of ${int(Number(r.config.rowsPerObject))} rows (the generator's default
  object size), generated before any timing.
- **COPY baseline (the limit):** the same files, \`COPY … FROM STDIN (FORMAT csv, HEADER)\` into an empty table
  identical to \`user_events\` (\`LIKE … INCLUDING ALL\`: same primary key, checks and three secondary indexes),
  one connection per core, each copying its share of the files one after another, in autocommit. No validation, no
  idempotency, no S3, no queue.
- **End-to-end:** a fresh database (copied from a migrated template), bucket and queue per repetition. The ingest
  function runs in its own process — the real \`functions/ingest/handler.ts\` behind the Lambda-style poller of the
  local runtime, batch size ${r.config.batchSize}, concurrency ${r.config.concurrency}, **batching window
  ${r.config.batchingWindowMs} ms** — after one warm-up object (the figures are a warm function's). The files are PUT
  (4 in flight) to the embedded S3 endpoint in the benchmark's process, which raises S3-format notifications into SQS.
  Throughput = rows / (first PUT → last commit); latency = the ledger's \`ingested_at − object_created_at\`
  (object created = the notification's eventTime), per object.
- **Half load:** the same objects PUT at a steady ${r.halfLoadObjectsPerSec.toFixed(1)} objects/s (half the measured
  max rate) for ${r.config.halfSeconds} s. Also run with the topology's own 1 s batching window: ${na(
    r.halfLoadDefaultWindowLatencyMs.p50,
    `p50 ${int(r.halfLoadDefaultWindowLatencyMs.p50)} ms`,
  )} — the window is a cost/latency trade-off (fewer, fuller invocations on AWS) and adds up to its length to every object.
- **Replay:** after each end-to-end run every object's notification is sent again; time until the queue is empty
  (each batch of notifications costs one indexed ledger read). Nothing in the ledger or the tables changes (checked).
- **Mixes:** the same sizes with 30 % duplicate event_ids (the generator repeats earlier rows, also across files),
  and with 5 % bad rows (eight kinds of broken rows, each stored in \`rejected_events\` with its reason).
- **Large object:** one CSV uploaded with a multipart upload (the endpoint takes ≤ 11 MiB per request), then its
  notification is sent once per repetition to a fresh database; time from the notification to the commit, and the
  ingest process's peak RSS (\`VmHWM\`, read by the process itself after the object).
- **Generator:** \`createGenerator().batch(1000)\` in a loop (the generator function's domain code, no S3), with
  1 % bad and 1 % duplicate rows.

## What was changed to get here, and what limits it now

Profiled before changing anything (\`npm run bench -- --profile DIR\` writes a \`--cpu-prof\` profile of every
ingest process; \`EXPLAIN (ANALYZE, BUFFERS)\` of the merge). Development measurements below were taken on the same,
shared machine, mostly under a load average of 4–19, so they are indicative; the table above is the reference.

1. **Validation in Node.** zod cost 6–13 µs per row in a micro-benchmark, several times the CSV reader's ≈ 1 µs.
   It is now a hand-written validator applying the same rules in the same order (≈ 3 µs per row in the same
   micro-benchmark, with a regex-free reader for the usual \`toISOString\` timestamps and UUIDs). \`eventRowSchema\`
   (zod) remains the single declaration; \`tests/unit/validator.test.ts\` checks both give the same verdict, reason
   and normalized event on 30,000 generated good and broken rows, in any column order.
2. **One transaction per SQS batch** instead of one per object (\`functions/ingest/batch.ts\`): one ledger read for
   the batch, one claim statement, one COPY per object into one stage, one merge, one ledger update, one commit.
   Per object, the fixed part had measured (1 connection, 1,000-row objects): commit 10 ms (WAL flush), rejects
   merge 2.7 ms, ledger update 1.4 ms, claim 1.2 ms, pre-check 0.8 ms, next to a 43 ms merge and a 26 ms COPY.
   Atomicity per object is kept (all of them commit together), the merge still inserts in event_id order (no
   deadlocks between concurrent batches), and on any failure the batch is rolled back and its objects are
   ingested one by one, so only the records concerned are retried (\`tests/integration/batch.test.ts\` checks the
   result is identical to the one-object path). A/B on one connection, 100 objects of 1,000 rows, three pairs at
   load average ≈ 4: 30–33 ms per object batched vs 33–38 ms one by one — a gain of about a tenth, smaller than the
   fixed costs above suggested, because the merge itself dominates.
3. **What the stage + merge costs** (the path before point 4; large objects still take it). In a CPU profile of an
   end-to-end run (before the batching change) the ingest
   process was idle about half of the time: it waits for PostgreSQL. The merge is the largest cost: \`INSERT … SELECT … ON CONFLICT DO NOTHING\` of 1,000 staged
   rows takes 21–31 ms (≈ 16 shared-buffer touches per row: heap, primary key and three secondary indexes), a plain
   INSERT of the same rows 20–26 ms; sorting by event_id is a 196 kB quicksort. So the end-to-end path does the
   work of the COPY baseline (the same table, the same indexes) **plus** a COPY into the stage, the ON CONFLICT
   probe, the rejects and ledger statements — and S3, SQS and the ingest process share the same two cores with
   PostgreSQL, which the baseline does not: the ingest process's own CPU is 8–12 ms per 1,000-row object (decode,
   split, validate, serialize, COPY protocol), and the endpoint serves a PUT, a GET and three SQS calls per object.
   Pool size does not help: 2 and 4 connections gave the same throughput (36.6k vs 36.8k rows/s in one A/B),
   1 connection half of it: one connection per core is the ceiling.
4. **Direct COPY for small batches** (the batch's objects ≤ 64 MiB together, i.e. every normal batch): rows are
   read into memory, the first occurrence of each event_id is kept (object then line order, as the merge does), the
   ones already in \`user_events\` are dropped with one \`= ANY($1::uuid[])\` probe, and the rest is COPYed straight
   into \`user_events\` (and rejects into \`rejected_events\`) in event_id order — COPY's batched inserts instead of a
   stage and a per-row \`INSERT … ON CONFLICT\`. If a concurrent batch inserts one of those ids after the probe, the
   COPY fails on the primary key and the batch falls back to one object at a time through the stage and merge
   (tested with a concurrent uncommitted insert). Larger batches (the large object) still stream through the stage.
${cpuSplit(r)}

${targetNotes(r, peak)}

## Compared with the Spark seeds

The seeds this pipeline replaces reported **2 events/s (objects), 550–600 records/s**, and a **p50 latency of 5.7 s at
100 events/s** (Spark file source → JDBC). Here, on a 2-core machine: **${r.endToEndObjectsPerSec.toFixed(0)} objects/s,
${int(r.endToEndRowsPerSec)} rows/s** end to end (${(r.endToEndRowsPerSec / 575).toFixed(0)} × the seeds' records/s),
and a p50 of **${int(r.halfLoadLatencyMs.p50)} ms** from object created to committed at half the maximum rate
(${r.halfLoadObjectsPerSec.toFixed(1)} objects/s of ${int(Number(r.config.rowsPerObject))} rows). The difference is
structural: no micro-batch trigger interval, no per-row JDBC inserts (COPY + one set-based merge per batch), and the
ledger makes replays nearly free instead of re-reading files.

## How the deployed version scales

- **Lambda concurrency.** Each ingest invocation uses one database connection for its whole batch, so throughput
  grows with \`maxConcurrency\` (topology: ${r.config.concurrency}) until PostgreSQL's CPU is saturated — on this
  machine that is about one concurrent invocation per database core; beyond it, transactions only queue on locks and
  CPU (measured: 4 connections were no faster than 2). Set \`maxConcurrency\` ≈ the database's vCPUs, raise the batch
  size before the concurrency, and let the queue absorb bursts (the DLQ only sees poison).
- **RDS Proxy** absorbs connection storms (cold starts, scaling) and fail-overs. The ingest path creates temporary
  stage tables and uses a transaction-local setting, which pins each Lambda session to one backend connection while
  it lives; that is fine at a concurrency close to the database's cores, and it is why concurrency — not the proxy —
  is the knob that bounds database load.
- **Where PostgreSQL becomes the limit.** Per row, the merge maintains the primary key and three secondary indexes
  and writes WAL; the COPY baseline (${int(r.copyRowsPerSec)} rows/s here) is the ceiling of any loader on a given
  instance, and the pipeline runs at ${r.ratioToCopy.toFixed(2)} × it. Beyond that: a larger instance (CPU and
  WAL bandwidth), fewer or deferred secondary indexes, or a separate write path per tenant/partition.
- **Partitioning by time.** Partitioning \`user_events\` by \`event_timestamp\` (daily or monthly) keeps the active
  indexes small and cached and turns retention into \`DROP PARTITION\`. A partitioned table's primary key must
  contain the partition key, so the idempotency key would become \`(event_id, event_timestamp)\` — sound here, since a
  duplicate or replayed event carries the same timestamp — or event_id uniqueness moves to a small unpartitioned
  key table.
- **Large objects.** Memory stays flat (streaming: S3 body → reader → COPY), ${int(peak)} MB peak for
  ${int(full?.rows ?? r.largeObject.rows)} rows, but time grows with size: ${
    full
      ? `${full.seconds.toFixed(0)} s for ${int(full.rows)} rows here, beyond the function's 60 s timeout`
      : `${r.largeObject.seconds.toFixed(1)} s for ${int(r.largeObject.rows)} rows here`
  }. Producers should keep objects to a size one invocation ingests well within its timeout (the generator writes
  ${int(Number(r.config.rowsPerObject))} rows per object), or the timeout (and the queue's visibility timeout, 6 × it)
  must be raised for such feeds.
`;
}

/** Where the CPU went at max rate, from this run's own counters. */
function cpuSplit(r: BenchResults): string {
  const c = r.cpuUsPerRowAtMaxRate;
  if (!c) return '';
  const node = c.ingestProcess + c.endpointAndDriver;
  const copyUs = (r.machine.cpus * 1e6) / r.copyRowsPerSec;
  return `5. **What limits it now — the CPU split, measured in this run.** Per row at max rate the ingest process used
   ${c.ingestProcess.toFixed(1)} µs of CPU and the S3+SQS endpoint with the load driver ${c.endpointAndDriver.toFixed(1)} µs: ${node.toFixed(1)} µs
   in Node out of the ${c.available.toFixed(1)} µs the ${r.machine.cpus} cores offered per row (wall time × cores). That leaves PostgreSQL at most
   ${(c.available - node).toFixed(1)} µs per row — about what the plain COPY itself needs (${r.machine.cpus} cores / ${int(r.copyRowsPerSec)} rows/s =
   ${copyUs.toFixed(1)} µs per row). The database side of the pipeline now costs about as much as the COPY baseline; the
   gap to it is the S3, SQS and ingest work sharing the database's two cores, which the baseline does not do. On AWS those
   run on S3, SQS and Lambda, not on the database's instance. In a CPU profile of the ingest process about 16 % of its
   time is garbage collection and 9 % the CSV reader: per-row allocations (field arrays, strings, row objects) are the
   next thing to cut, and a larger V8 young generation (\`--max-semi-space-size\`) the cheap thing to try.`;
}

/** For every missed target, what holds it back (with the evidence in this report). */
function targetNotes(r: BenchResults, peak: number): string {
  const notes: string[] = [];
  for (const t of targets(r)) {
    if (t.met) continue;
    if (t.name === 'end-to-end vs COPY')
      notes.push(
        `- **End-to-end ${r.ratioToCopy.toFixed(2)} × COPY (target 0.6).** On one 2-core machine the pipeline's Node processes (the ingest function, the S3+SQS endpoint, the load driver) take CPU the plain COPY does not need, while the database part now costs about as much per row as the COPY itself (point 5).${
          r.cpuUsPerRowAtMaxRate
            ? ` With PostgreSQL at ${(r.cpuUsPerRowAtMaxRate.available - r.cpuUsPerRowAtMaxRate.ingestProcess - r.cpuUsPerRowAtMaxRate.endpointAndDriver).toFixed(0)} µs per row, 0.6 × COPY would leave the Node side ${Math.max(0, (r.machine.cpus * 1e6) / r.copyRowsPerSec / 0.6 - (r.cpuUsPerRowAtMaxRate.available - r.cpuUsPerRowAtMaxRate.ingestProcess - r.cpuUsPerRowAtMaxRate.endpointAndDriver)).toFixed(0)} µs per row on these cores, against ${(r.cpuUsPerRowAtMaxRate.ingestProcess + r.cpuUsPerRowAtMaxRate.endpointAndDriver).toFixed(0)} µs measured.`
            : ''
        }`,
      );
    else if (t.name.startsWith('half-load'))
      notes.push(
        `- **${t.name}: ${t.measured} (target ${t.target}).** At ${r.halfLoadObjectsPerSec.toFixed(1)} objects/s each object's latency is its own ingest time (GET, parse, COPY, merge, commit ≈ tens of ms for ${int(Number(r.config.rowsPerObject))} rows) plus queueing behind the object in flight and the poller's receive; on a loaded machine the tail grows with CPU contention.`,
      );
    else if (t.name === 'replay speed-up')
      notes.push(
        `- **Replay ${r.replaySpeedup.toFixed(1)} × (target 10 ×).** A replay costs per batch one ledger read plus the SQS receive and delete; with small objects the first ingest is itself short, so the ratio is bounded by the queue round trips of the embedded endpoint.`,
      );
    else if (t.name === 'large object peak RSS')
      notes.push(
        `- **Large object peak RSS ${int(peak)} MB (target 200 MB).** Streaming keeps the object out of memory; the base of the process (Node, the AWS SDK, Powertools and the TypeScript loader used locally) accounts for most of it.`,
      );
    else if (t.name === 'generator')
      notes.push(
        `- **Generator ${int(r.generatorEventsPerSec)} events/s (target 200,000).** Its profile shows the per-field CSV quoting regex (\`csvField\`), string concatenation per row, a UUID and a \`toISOString\` per event, and — when run through tsx as here — esbuild's \`__name\` wrappers on the closures created per session. A micro-benchmark at load average 2 measured 182,000 events/s; escaping only fields that can contain separators (names) and building rows without the intermediate array are the candidates (not measured).`,
      );
  }
  return notes.length
    ? `### Targets missed in this run\n\n${notes.join('\n')}`
    : 'Every target was met in this run.';
}
