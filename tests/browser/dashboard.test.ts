import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';
import { type LocalPipeline, startLocalPipeline } from '../../scripts/local/runtime.ts';
import type { PipelineStatus } from '../../scripts/local/status.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * The live dashboard in a real browser: Debian's Chromium driven by playwright-core. The pipeline
 * runs, the page must show live numbers, and once the schedule is stopped and the queue drained the
 * counts on the page must equal those in PostgreSQL.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `tests/browser: SKIPPED, no Chromium at ${CHROMIUM}. Install it with "apt-get install chromium" ` +
      '(.ci/run does) or point CHROMIUM_PATH at one.',
  );
}
/** `UPDATE_SCREENSHOT=1` refreshes the README's screenshot; otherwise it goes to a gitignored folder. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? path.join(ROOT, 'docs', 'dashboard.png')
  : path.join(ROOT, 'tests', '.artifacts', 'dashboard.png');

const COUNT_KEYS = [
  'generatedEvents',
  'generatedObjects',
  'objectsIngested',
  'rowsInserted',
  'rowsDuplicate',
  'rowsRejected',
  'objectsFailed',
  'queueDepth',
  'inFlight',
  'dlqDepth',
] as const;

let db: TestDatabase;
let pipeline: LocalPipeline;
let browser: Browser;

/** Poll `check` until it returns a value (the signal), or fail at the deadline with `what`. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e: unknown) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The counts as the page shows them (the exact numbers are in `data-value`). */
async function pageCounts(page: Page): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const key of COUNT_KEYS) {
    const v = await page.locator(`#c-${key}`).getAttribute('data-value');
    out[key] = v === null ? null : Number(v);
  }
  return out;
}

/** The `data-value` numbers of every element matching `selector`. */
async function dataValues(page: Page, selector: string): Promise<number[]> {
  const out: number[] = [];
  for (const el of await page.locator(selector).all()) out.push(Number(await el.getAttribute('data-value')));
  return out;
}

describe.skipIf(!hasChromium)(`dashboard in Chromium (${CHROMIUM})`, () => {
  beforeAll(async () => {
    db = await freshDatabase({ migrate: false });
    pipeline = await startLocalPipeline({
      port: 0,
      databaseUrl: db.url,
      dashboardPort: 0,
      generator: { intervalMs: 400, eventsPerObject: 300, seed: 777, badRate: 0.03, duplicateRate: 0.03 },
      ingest: { batchingWindowMs: 100 },
      resources: { bucket: 'browser-bucket', queue: 'browser-queue', dlq: 'browser-dlq' },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await pipeline?.stop();
    await db?.drop();
  });

  it('shows live numbers, and after the queue drains the counts equal the database', async () => {
    expect(pipeline.dashboardUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const dashboardUrl = pipeline.dashboardUrl as string;
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const pageErrors: string[] = [];
    const foreignRequests: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(dashboardUrl)) foreignRequests.push(r.url());
    });
    await page.goto(dashboardUrl);

    // Live: the page reports a sample, and a later sample shows more generated events.
    await page.locator('#live[data-state="live"]').waitFor({ timeout: 15_000 });
    const first = await until('rows on the page', async () => {
      const c = await pageCounts(page);
      return (c.rowsInserted ?? 0) > 0 ? c : undefined;
    });
    await until('the page to update', async () => {
      const c = await pageCounts(page);
      return (c.generatedEvents ?? 0) > (first.generatedEvents ?? 0) ? c : undefined;
    });

    // Settle: stop the schedule, wait for every generated object to be committed and the queue empty.
    await until('at least 4 objects', async () =>
      (await pipeline.status()).generatedObjects >= 4 ? true : undefined,
    );
    await pipeline.stopSchedule();
    const settled = await until('the queue to drain', async () => {
      const s: PipelineStatus = await pipeline.status();
      return s.objectsIngested === s.generatedObjects && s.queueDepth === 0 && s.inFlight === 0
        ? s
        : undefined;
    });

    // The database's own numbers, read independently of the dashboard's queries.
    const truth = await db.pool.query<Record<string, number>>(
      `SELECT (SELECT count(*) FROM ingested_objects WHERE status = 'ingested')::int AS "objectsIngested",
              (SELECT count(*) FROM ingested_objects WHERE status = 'failed')::int AS "objectsFailed",
              (SELECT count(*) FROM user_events)::int AS "rowsInserted",
              (SELECT coalesce(sum(rows_duplicate), 0) FROM ingested_objects)::int AS "rowsDuplicate",
              (SELECT count(*) FROM rejected_events)::int AS "rowsRejected",
              (SELECT coalesce(sum(events), 0) FROM event_summary)::int AS "summaryEvents"`,
    );
    const dbCounts = truth.rows[0] as Record<string, number>;
    const expected: Record<(typeof COUNT_KEYS)[number], number> = {
      generatedEvents: settled.generatedEvents,
      generatedObjects: settled.generatedObjects,
      objectsIngested: dbCounts.objectsIngested as number,
      rowsInserted: dbCounts.rowsInserted as number,
      rowsDuplicate: dbCounts.rowsDuplicate as number,
      rowsRejected: dbCounts.rowsRejected as number,
      objectsFailed: dbCounts.objectsFailed as number,
      queueDepth: 0,
      inFlight: 0,
      dlqDepth: 0,
    };
    // The page polls; give it until its next samples show the settled state, then compare exactly.
    const shown = await until(
      'the page to show the database counts',
      async () => {
        const c = await pageCounts(page);
        return COUNT_KEYS.every((k) => c[k] === expected[k]) ? c : undefined;
      },
      15_000,
    ).catch(async () => pageCounts(page));
    expect(shown).toEqual(expected);
    expect(expected.rowsInserted).toBeGreaterThan(0);
    expect(expected.rowsRejected).toBeGreaterThan(0);
    // Every generated row is accounted for, on the page as in the ledger.
    expect(expected.rowsInserted + expected.rowsDuplicate + expected.rowsRejected).toBe(
      expected.generatedEvents,
    );

    // The breakdowns agree with the database too (they refresh every 5 s).
    const breakdowns = await until('the breakdowns to catch up', async () => {
      const summary = await dataValues(page, '#summary tbody td[data-value]');
      const reasons = await dataValues(page, '#reasons tbody td[data-value]');
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      const b = { summary: sum(summary), reasons: sum(reasons) };
      return b.summary === dbCounts.summaryEvents && b.reasons === expected.rowsRejected ? b : undefined;
    }).catch(() => undefined);
    expect(breakdowns).toEqual({ summary: dbCounts.summaryEvents, reasons: expected.rowsRejected });

    expect(await page.locator('#objects tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('#rejects tbody tr').count()).toBeGreaterThan(0);
    expect(Number(await page.locator('#lat-object td').first().textContent())).toBeGreaterThan(0);
    expect(Number(await page.locator('#lat-processing td').first().textContent())).toBeGreaterThan(0);
    expect(await page.locator('#chart-rates canvas').count()).toBeGreaterThan(0);
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
    // Pipeline, browser and several waits on signals: room for a loaded CI machine.
  }, 120_000);
});
