import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dashboard, startDashboard } from '../../scripts/local/dashboard/server.ts';
import type { PipelineStatus } from '../../scripts/local/status.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';

/** The dashboard's HTTP surface and its behaviour when a sample fails, without a browser. */
let db: TestDatabase;
let dashboard: Dashboard;
let failing: Error | undefined;
const errors: unknown[] = [];
let status: PipelineStatus = {
  generatedObjects: 3,
  generatedEvents: 3000,
  objectsIngested: 2,
  rowsInserted: 1990,
  rowsDuplicate: 5,
  rowsRejected: 5,
  objectsFailed: 0,
  objectsBudgetFailed: 0,
  objectsInProgress: 1,
  objectsMissing: 0,
  objectsReconciled: 0,
  queueDepth: 1,
  inFlight: 0,
  dlqDepth: 0,
};

beforeAll(async () => {
  db = await freshDatabase();
  dashboard = await startDashboard({
    port: 0,
    db: db.pool,
    status: async () => {
      if (failing) throw failing;
      return status;
    },
    sampleMs: 50,
    onError: (e) => errors.push(e),
  });
});
afterAll(async () => {
  await dashboard?.stop();
  await db?.drop();
});

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('serves the page and uPlot from its own origin only, on 127.0.0.1', async () => {
  expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await fetch(dashboard.url);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
  const html = await page.text();
  // Every script and stylesheet is a path on this server, none on another host.
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
  expect(refs.length).toBeGreaterThan(3);
  for (const ref of refs) expect(ref).toMatch(/^(\/|data:)/);
  for (const ref of refs.filter((r) => r.startsWith('/'))) {
    expect((await fetch(new URL(ref, dashboard.url))).status, ref).toBe(200);
  }
  const uplot = await fetch(new URL('/vendor/uPlot.iife.min.js', dashboard.url));
  expect(uplot.headers.get('content-type')).toContain('javascript');
  expect(await uplot.text()).toContain('uPlot');
  expect((await fetch(new URL('/../package.json', dashboard.url))).status).toBe(404);
  expect((await fetch(new URL('/nope', dashboard.url))).status).toBe(404);
  expect((await fetch(new URL('/api/snapshot', dashboard.url), { method: 'POST' })).status).toBe(405);
});

it('serves the sampled counts, rates per second, and keeps the last good numbers when a sample fails', async () => {
  const first = await until('a sample', () =>
    dashboard.snapshot().counts ? dashboard.snapshot() : undefined,
  );
  expect(first.counts).toEqual(status);
  expect(first.error).toBeNull();
  expect(first.latency?.objectToCommit.n).toBe(0);

  status = { ...status, generatedEvents: 4000, rowsInserted: 2990 };
  const moved = await until('a sample with more events', () => {
    const s = dashboard.snapshot();
    return s.counts?.generatedEvents === 4000 ? s : undefined;
  });
  // Between the samples the counters grew, so some rate is positive and none is negative.
  expect(Math.max(...moved.series.generated)).toBeGreaterThan(0);
  expect(Math.min(...moved.series.inserted)).toBeGreaterThanOrEqual(0);
  expect(moved.series.t.length).toBe(moved.series.generated.length);

  const api = (await (await fetch(new URL('/api/snapshot', dashboard.url))).json()) as {
    counts: PipelineStatus;
  };
  expect(api.counts.generatedEvents).toBe(4000);

  failing = new Error('database went away');
  const failed = await until('the error on the snapshot', () => {
    const s = dashboard.snapshot();
    return s.error ? s : undefined;
  });
  expect(failed.error).toBe('database went away');
  expect(failed.counts?.generatedEvents).toBe(4000);
  // Several failing samples, one report.
  const at = failed.at;
  await until('more failing samples', () => (dashboard.snapshot().at > at + 100 ? true : undefined));
  expect(errors).toHaveLength(1);

  failing = undefined;
  await until('recovery', () => (dashboard.snapshot().error === null ? true : undefined));
});
