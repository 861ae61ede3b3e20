/**
 * Refresh `docs/dashboard.png`, the README's picture of the live dashboard: run the local pipeline
 * for a while in a throwaway database, open the dashboard in Debian's Chromium and take a screenshot.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run docs:screenshot -- [--seconds 60]
 *
 * DATABASE_URL names a server where the user may create databases; a fresh one is made and dropped.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { chromium } from 'playwright-core';
import { ROOT } from '../../../infra/paths.ts';
import { startLocalPipeline } from '../../local/runtime.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string' }, out: { type: 'string' }, chromium: { type: 'string' } },
});
const seconds = Number(values.seconds ?? 60);
const out = values.out ?? path.join(ROOT, 'docs', 'dashboard.png');
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('Set DATABASE_URL to a server where a scratch database may be created');

const name = `dashboard_shot_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(adminUrl);
url.pathname = `/${name}`;

const pipeline = await startLocalPipeline({
  port: 0,
  databaseUrl: url.toString(),
  dashboardPort: 0,
  generator: { intervalMs: 1000, eventsPerObject: 1000, seed: 2026 },
  resources: { bucket: `${name}-bucket`.replaceAll('_', '-'), queue: `${name}-q`, dlq: `${name}-dlq` },
  log: (line) => process.stderr.write(`${line}\n`),
  // Quiet unless POWERTOOLS_LOG_LEVEL asks for more.
  ...(process.env.POWERTOOLS_LOG_LEVEL ? {} : { logLevel: 'WARN' as const }),
});
const browser = await chromium.launch({
  executablePath: values.chromium ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await page.goto(pipeline.dashboardUrl as string);
  process.stderr.write(`running for ${seconds} s at ${pipeline.dashboardUrl}\n`);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await page.screenshot({ path: out, fullPage: true });
  process.stderr.write(`wrote ${out}\n`);
} finally {
  await browser.close();
  await pipeline.stop();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
