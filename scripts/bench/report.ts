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

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${int(n)} ms`;
const pct = (p: Percentiles) => `${ms(p.p50)} / ${ms(p.p95)} / ${ms(p.p99)}`;

/** The targets of issue 4 and whether this run met them. */
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
    ['latency at max rate p50 / p95 / p99', pct(r.latencyMs)],
    [
      `latency at half load (${r.halfLoadObjectsPerSec.toFixed(1)} objects/s) p50 / p95 / p99`,
      pct(r.halfLoadLatencyMs),
    ],
    ['  same, with the topology’s 1 s batching window', pct(r.halfLoadDefaultWindowLatencyMs)],
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

/** `docs/performance.md`, generated; the narrative sections are in {@link narrative}. */
export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  return `# Performance

Generated by \`npm run bench\` on ${r.at.slice(0, 16).replace('T', ' ')} UTC in ${r.totalSeconds.toFixed(0)} s
(${r.config.quick ? 'quick run' : 'default sizes'}; every figure is the median of ${r.config.reps} repetitions).
Raw figures: [\`bench/results.json\`](../bench/results.json).

**Machine:** ${m.cpus} × ${m.cpuModel}, ${m.memGb.toFixed(0)} GB RAM, Node ${m.node}, PostgreSQL ${m.postgres}
(default settings, 127.0.0.1), load average ${m.loadAverageAtStart.toFixed(2)} when the run started (the machine is shared).

![throughput and latency](performance.svg)

${markdownTable(r)}

## Targets

${markdownTargets(r)}

${narrative(r)}`;
}

/** The parts of the report that explain the numbers (how it was measured, limits, scaling). */
export function narrative(r: BenchResults): string {
  return `## How it is measured

- **Files:** ${r.config.objects} CSV objects of ${int(Number(r.config.rowsPerObject))} rows (the generator's default size), generated before any timing.
- **COPY baseline:** the same files, \`COPY … FROM STDIN (FORMAT csv, HEADER)\` into an empty table identical to
  \`user_events\` (\`LIKE … INCLUDING ALL\`: same primary key, checks and indexes), one connection per core, each
  copying its share of the files one after another, in autocommit. No validation, no idempotency.
- **End-to-end:** a fresh database, bucket and queue per repetition; the ingest function runs in its own process
  (the real \`functions/ingest/handler.ts\` behind the Lambda-style poller, batch ${r.config.batchSize},
  concurrency ${r.config.concurrency}, batching window ${r.config.batchingWindowMs} ms) after one warm-up object.
  The files are PUT (4 in flight) to the embedded S3 endpoint, which raises S3-format notifications into SQS.
  Throughput = rows / (first PUT → last commit); latency = ledger \`ingested_at − object_created_at\` (the
  notification's eventTime), per object.
- **Half load:** the same objects PUT at a steady ${r.halfLoadObjectsPerSec.toFixed(1)} objects/s (half the measured max rate)
  for ${r.config.halfSeconds} s; latency percentiles over those objects. Also with the topology's 1 s batching window.
- **Replay:** after each end-to-end run, every object's notification is sent again; time until the queue is empty.
- **Mixes:** same sizes with 30 % duplicate event_ids (the generator repeats earlier rows, also across files) and with
  5 % bad rows.
- **Large object:** one CSV of ${int(r.largeObject.rows)} rows (${int(r.largeObject.sizeMb)} MiB) uploaded with a
  multipart upload; its notification is sent once per repetition to a fresh database; time from the notification to
  the commit, and the ingest process's peak RSS (VmHWM).
- **Generator:** \`createGenerator().batch(${1000})\` in a loop (the domain function, no S3), with 1 % bad and
  1 % duplicate rows.
`;
}
