import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PipelineStatus } from '../status.ts';
import type { Latency, LedgerRow, Queryable, ReconciledRow, RejectRow, SummaryRow } from './queries.ts';
import { readDetail, readSlowDetail, SUMMARY_HOURS } from './refresh.ts';

/** What the dashboard reads: the ledger database and the runtime's status (counters, queue depths). */
export interface DashboardOptions {
  /** Port on 127.0.0.1; 0 = any free port. */
  port: number;
  /** When the port is taken, take any free one instead of failing (npm start's fixed default). */
  fallbackToFreePort?: boolean;
  db: Queryable;
  status: () => Promise<PipelineStatus>;
  /** Milliseconds between samples of the status (the charts' resolution). Default 1000. */
  sampleMs?: number;
  /** Samples kept for the charts. Default 600 (10 minutes at 1 s). */
  history?: number;
  /** Milliseconds between refreshes of the dearer aggregates (reasons, event_summary). Default 5000. */
  slowEveryMs?: number;
  /** Called when a sample fails (the page shows the error too); the dashboard keeps sampling. */
  onError?: (e: unknown) => void;
}

/** One sample of the status, as kept for the charts. */
interface Sample extends PipelineStatus {
  /** Milliseconds since the epoch. */
  at: number;
}

/** The JSON the page polls (`GET /api/snapshot`). */
export interface Snapshot {
  at: number;
  sampleMs: number;
  /** Latest counts: generated (runtime counters), ledger totals, queue depths. */
  counts: PipelineStatus | null;
  /** Per-second rates between consecutive samples, and depths, for the charts. */
  series: {
    t: number[];
    generated: number[];
    inserted: number[];
    duplicate: number[];
    rejected: number[];
    queue: number[];
    inFlight: number[];
    dlq: number[];
  };
  latency: Latency | null;
  objects: LedgerRow[];
  rejects: RejectRow[];
  reasons: { reason: string; rows: number }[];
  summary: SummaryRow[];
  /** The latest objects reconciliation sent to ingest again (their notification was lost). */
  reconciled: ReconciledRow[];
  summaryHours: number;
  error: string | null;
}

/** A running dashboard. */
export interface Dashboard {
  url: string;
  port: number;
  /** The latest snapshot (what the page shows). */
  snapshot(): Snapshot;
  stop(): Promise<void>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Files the page needs; the chart library comes from node_modules, so the page works offline. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: path.join(HERE, 'public', 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: path.join(HERE, 'public', 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: path.join(HERE, 'public', 'style.css'), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': {
    file: require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/vendor/uPlot.min.css': {
    file: require.resolve('uplot/dist/uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
};

// Only our own origin: a page that tried to load a CDN script would break visibly, not silently.
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/**
 * Serve the live local dashboard on 127.0.0.1: a static page (plus uPlot from node_modules) that
 * polls `/api/snapshot`. A timer samples the runtime's status every `sampleMs` for the rate and
 * depth charts and reads the latest objects, rejects and latency percentiles from PostgreSQL; the
 * page only ever sees the last snapshot, so any number of open tabs cost the database nothing more.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const sampleMs = options.sampleMs ?? 1000;
  const historySize = options.history ?? 600;
  const slowEveryMs = options.slowEveryMs ?? 5000;
  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const [route, a] of Object.entries(ASSETS))
    assets.set(route, { body: await readFile(a.file), type: a.type });

  const samples: Sample[] = [];
  let current: Snapshot = emptySnapshot(sampleMs);
  let lastSlow = 0;
  let slow = { reasons: current.reasons, summary: current.summary, reconciled: current.reconciled };
  let lastError: string | null = null;

  const tick = async () => {
    const at = Date.now();
    try {
      const status = await options.status();
      samples.push({ ...status, at });
      if (samples.length > historySize) samples.splice(0, samples.length - historySize);
      const { latency, objects, rejects } = await readDetail(options.db);
      if (at - lastSlow >= slowEveryMs) {
        slow = await readSlowDetail(options.db);
        lastSlow = at;
      }
      current = {
        at,
        sampleMs,
        counts: status,
        series: series(samples),
        latency,
        objects,
        rejects,
        ...slow,
        summaryHours: SUMMARY_HOURS,
        error: null,
      };
      lastError = null;
    } catch (e: unknown) {
      const message = (e as Error).message;
      // Report a failure once, not every second, and keep showing the last good numbers.
      if (message !== lastError) options.onError?.(e);
      lastError = message;
      current = { ...current, at, error: message };
    }
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(schedule);
    }, sampleMs);
  };
  running = tick().finally(schedule);

  const server = createServer((req, res) => handle(req, res));
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const route = new URL(req.url ?? '/', 'http://local').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (route === '/api/snapshot') {
      const body = JSON.stringify(current);
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const asset = assets.get(route === '/index.html' ? '/' : route);
    if (!asset) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset.type, 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };

  const port = await listen(server, options.port, options.fallbackToFreePort ?? false);
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    snapshot: () => current,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
      clearTimeout(timer);
      await new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

/** Listen on 127.0.0.1 only; on EADDRINUSE optionally retry on a free port. */
async function listen(server: Server, port: number, fallback: boolean): Promise<number> {
  const attempt = (p: number) =>
    new Promise<number>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      server.once('error', onError);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', onError);
        resolve((server.address() as AddressInfo).port);
      });
    });
  try {
    return await attempt(port);
  } catch (e: unknown) {
    if (!fallback || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    return attempt(0);
  }
}

/** Samples a rate is averaged over: ingest commits in batches, so 1 s rates would only zigzag. */
const RATE_WINDOW = 5;

/** Rates (per second, averaged over the last {@link RATE_WINDOW} samples) and queue depths. */
function series(samples: readonly Sample[]): Snapshot['series'] {
  const out = emptySeries();
  for (let i = 1; i < samples.length; i++) {
    const a = samples[Math.max(0, i - RATE_WINDOW)] as Sample;
    const b = samples[i] as Sample;
    const dt = (b.at - a.at) / 1000;
    if (dt <= 0) continue;
    const rate = (x: number, y: number) => Math.max(0, Math.round((y - x) / dt));
    out.t.push(b.at / 1000);
    out.generated.push(rate(a.generatedEvents, b.generatedEvents));
    out.inserted.push(rate(a.rowsInserted, b.rowsInserted));
    out.duplicate.push(rate(a.rowsDuplicate, b.rowsDuplicate));
    out.rejected.push(rate(a.rowsRejected, b.rowsRejected));
    out.queue.push(b.queueDepth);
    out.inFlight.push(b.inFlight);
    out.dlq.push(b.dlqDepth);
  }
  return out;
}

function emptySeries(): Snapshot['series'] {
  return {
    t: [],
    generated: [],
    inserted: [],
    duplicate: [],
    rejected: [],
    queue: [],
    inFlight: [],
    dlq: [],
  };
}

function emptySnapshot(sampleMs: number): Snapshot {
  return {
    at: 0,
    sampleMs,
    counts: null,
    series: emptySeries(),
    latency: null,
    objects: [],
    rejects: [],
    reasons: [],
    summary: [],
    reconciled: [],
    summaryHours: SUMMARY_HOURS,
    error: null,
  };
}
