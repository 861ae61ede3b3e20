/**
 * Draw `docs/architecture.svg` from the description below and the shared topology, so the picture
 * shows the same batch size, window, concurrency and redrive count as the code. This file is the
 * diagram's source; the SVG is its committed output.
 *
 *   npm run docs:diagram            rewrite docs/architecture.svg
 *   npm run docs:diagram -- --check fail if the committed SVG is not what this file draws
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../../../infra/paths.ts';
import { topology, visibilityTimeoutSeconds } from '../../../infra/topology.ts';

const OUT = path.join(ROOT, 'docs', 'architecture.svg');

type Kind = 'compute' | 'storage' | 'queue' | 'database' | 'observe';

interface Box {
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
  kind: Kind;
  title: string;
  lines: string[];
}

interface Edge {
  from: string;
  to: string;
  /** Which sides to join: e.g. 'r-l' (right of `from` to left of `to`). */
  sides: `${Side}-${Side}`;
  label?: string;
  dashed?: boolean;
}
type Side = 'l' | 'r' | 't' | 'b';

const t = topology;
const boxes: Box[] = [
  {
    id: 'schedule',
    x: 20,
    y: 40,
    w: 210,
    h: 78,
    kind: 'observe',
    title: 'schedule',
    lines: [
      `AWS: EventBridge, every ${t.generator.rateMinutes} min`,
      `local: timer, every ${t.generator.localIntervalSeconds} s`,
    ],
  },
  {
    id: 'generator',
    x: 300,
    y: 40,
    w: 220,
    h: 78,
    kind: 'compute',
    title: 'generator function',
    lines: ['functions/generator/handler.ts', `${t.generator.eventsPerObject} events per CSV object`],
  },
  {
    id: 'bucket',
    x: 600,
    y: 40,
    w: 290,
    h: 78,
    kind: 'storage',
    title: `S3 bucket ${t.names.bucket}`,
    lines: [
      `${t.notification.prefix}YYYY/MM/DD/HH/*${t.notification.suffixes[0]}`,
      'embedded: fauxqs (on disk) + bridge',
    ],
  },
  {
    id: 'reconcile',
    x: 20,
    y: 200,
    w: 290,
    h: 78,
    kind: 'compute',
    title: 'reconcile function',
    lines: [
      `every ${t.reconcile.rateMinutes} min (local: at start + every ${t.reconcile.localIntervalSeconds} s)`,
      `bucket listing vs ledger, objects > ${t.reconcile.graceSeconds} s old`,
    ],
  },
  {
    id: 'queue',
    x: 600,
    y: 200,
    w: 290,
    h: 78,
    kind: 'queue',
    title: 'SQS queue',
    lines: [
      t.names.queue,
      `visibility ${visibilityTimeoutSeconds()} s, messages kept ${t.queue.retentionSeconds / 86400} days`,
    ],
  },
  {
    id: 'dlq',
    x: 1000,
    y: 200,
    w: 220,
    h: 78,
    kind: 'queue',
    title: 'dead-letter queue',
    lines: [t.names.dlq, `kept ${t.queue.dlqRetentionSeconds / 86400} days`],
  },
  {
    id: 'ingest',
    x: 600,
    y: 370,
    w: 290,
    h: 108,
    kind: 'compute',
    title: 'ingest function',
    lines: [
      'functions/ingest/handler.ts',
      'stream → parse → validate → COPY',
      'merge: one transaction per object',
    ],
  },
  {
    id: 'db',
    x: 1000,
    y: 370,
    w: 220,
    h: 108,
    kind: 'database',
    title: 'PostgreSQL',
    lines: [
      'user_events · rejected_events',
      'ingested_objects (ledger)',
      'reconciled_objects',
      'event_summary (view)',
    ],
  },
  {
    id: 'logs',
    x: 20,
    y: 370,
    w: 330,
    h: 108,
    kind: 'observe',
    title: 'stdout: JSON logs + EMF metrics',
    lines: [
      `namespace ${t.observability.metricsNamespace}`,
      'AWS: CloudWatch Logs → Metrics → dashboard',
      'local: the terminal',
    ],
  },
  {
    id: 'dashboard',
    x: 600,
    y: 540,
    w: 620,
    h: 64,
    kind: 'observe',
    title: 'local dashboard (npm start, 127.0.0.1:8080) · npm run status',
    lines: ['ledger and queue depths: counts, rates, latency percentiles, latest objects and rejects'],
  },
];

const edges: Edge[] = [
  { from: 'schedule', to: 'generator', sides: 'r-l', label: 'invokes' },
  { from: 'generator', to: 'bucket', sides: 'r-l', label: 'PutObject' },
  {
    from: 'bucket',
    to: 'queue',
    sides: 'b-t',
    label: `ObjectCreated (${t.notification.prefix}*, suffix ${t.notification.suffixes.join(' ')})`,
  },
  { from: 'queue', to: 'dlq', sides: 'r-l', label: `after ${t.queue.maxReceiveCount} receives` },
  { from: 'reconcile', to: 'queue', sides: 'r-l', label: 'lost notifications' },
  {
    from: 'queue',
    to: 'ingest',
    sides: 'b-t',
    label: `batch ≤ ${t.ingest.batchSize}, window ${t.ingest.batchingWindowSeconds} s, concurrency ${t.ingest.maxConcurrency}`,
  },
  { from: 'ingest', to: 'db', sides: 'r-l', label: 'COPY + merge' },
  { from: 'generator', to: 'logs', sides: 'b-t', dashed: true },
  { from: 'ingest', to: 'logs', sides: 'l-r', dashed: true, label: 'logs, metrics' },
  { from: 'db', to: 'dashboard', sides: 'b-t', dashed: true, label: 'reads' },
];

const COLORS: Record<Kind, { fill: string; stroke: string }> = {
  compute: { fill: '#fff4e5', stroke: '#d9822b' },
  storage: { fill: '#e8f5e9', stroke: '#3b8f4a' },
  queue: { fill: '#f3e8fd', stroke: '#8250df' },
  database: { fill: '#e7f0fb', stroke: '#2f6db5' },
  observe: { fill: '#f4f4f2', stroke: '#8a8a85' },
};

function escapeXml(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function anchor(b: Box, side: Side): [number, number] {
  switch (side) {
    case 'l':
      return [b.x, b.y + b.h / 2];
    case 'r':
      return [b.x + b.w, b.y + b.h / 2];
    case 't':
      return [b.x + b.w / 2, b.y];
    case 'b':
      return [b.x + b.w / 2, b.y + b.h];
  }
}

function drawBox(b: Box): string {
  const c = COLORS[b.kind];
  const text = [
    `<text x="${b.x + 12}" y="${b.y + 22}" class="title">${escapeXml(b.title)}</text>`,
    ...b.lines.map(
      (l, i) => `<text x="${b.x + 12}" y="${b.y + 42 + i * 16}" class="line">${escapeXml(l)}</text>`,
    ),
  ];
  return [
    `<g id="${b.id}">`,
    `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="8" fill="${c.fill}" stroke="${c.stroke}" stroke-width="1.5"/>`,
    ...text,
    '</g>',
  ].join('\n');
}

function drawEdge(e: Edge, byId: Map<string, Box>): string {
  const [fs, ts] = e.sides.split('-') as [Side, Side];
  const from = byId.get(e.from);
  const to = byId.get(e.to);
  if (!from || !to) throw new Error(`edge ${e.from} → ${e.to}: unknown box`);
  let [x1, y1] = anchor(from, fs);
  let [x2, y2] = anchor(to, ts);
  // Vertical edges between boxes of different widths: keep them straight, over the narrower box.
  if ((fs === 'b' || fs === 't') && (ts === 't' || ts === 'b') && from.id !== 'generator') {
    const x = Math.max(from.x, to.x) + Math.min(from.w, to.w) / 2;
    x1 = x;
    x2 = x;
  }
  // The generator's logs go straight down to the logs box.
  if (e.from === 'generator' && e.to === 'logs') {
    x1 = to.x + to.w - 20;
    x2 = x1;
    y2 = to.y;
  }
  const path =
    x1 === x2 || y1 === y2
      ? `M${x1},${y1} L${x2},${y2}`
      : `M${x1},${y1} L${x1},${(y1 + y2) / 2} L${x2},${(y1 + y2) / 2} L${x2},${y2}`;
  const horizontal = y1 === y2;
  const label = e.label
    ? horizontal
      ? `<text x="${(x1 + x2) / 2}" y="${y1 - 8}" class="label" text-anchor="middle">${escapeXml(e.label)}</text>`
      : `<text x="${x1 + 10}" y="${(y1 + y2) / 2 + 4}" class="label">${escapeXml(e.label)}</text>`
    : '';
  return `<path d="${path}" class="edge${e.dashed ? ' dashed' : ''}" marker-end="url(#arrow)"/>${label}`;
}

/** The whole SVG document, deterministic (no timestamps), so `--check` can compare it byte for byte. */
export function renderArchitectureSvg(): string {
  const byId = new Map(boxes.map((b) => [b.id, b]));
  const width = 1240;
  const height = 630;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/dev/docs/architecture-svg.ts from infra/topology.ts: edit that script, not this file. -->
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">
<title>E-commerce events pipeline: architecture</title>
<style>
.title { font-size: 14px; font-weight: 600; fill: #1d1d1f; }
.line { font-size: 12px; fill: #4a4a4f; }
.label { font-size: 12px; fill: #4a4a4f; }
.edge { fill: none; stroke: #4a4a4f; stroke-width: 1.5; }
.dashed { stroke-dasharray: 5 4; stroke: #8a8a85; }
</style>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4a4a4f"/></marker></defs>
<rect width="${width}" height="${height}" fill="#ffffff"/>
${boxes.map(drawBox).join('\n')}
${edges.map((e) => drawEdge(e, byId)).join('\n')}
</svg>
`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const svg = renderArchitectureSvg();
  if (process.argv.includes('--check')) {
    const committed = await readFile(OUT, 'utf8').catch(() => '');
    if (committed !== svg) {
      console.error(`${path.relative(ROOT, OUT)} is stale: run npm run docs:diagram`);
      process.exit(1);
    }
    console.log(`${path.relative(ROOT, OUT)} is up to date`);
  } else {
    await writeFile(OUT, svg);
    console.log(`wrote ${path.relative(ROOT, OUT)}`);
  }
}
