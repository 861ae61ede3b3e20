/**
 * `npm run revalidate`: check stored rejected rows against the current rules again, and write those
 * that now pass (see functions/ingest/revalidate.ts). `--dry-run` reports without changing anything.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { revalidate } from '../../functions/ingest/revalidate.ts';
import { redactUrl } from '../../functions/shared/db.ts';

const HELP = `Usage: npm run revalidate -- [--reason R[,R…]] [--since 24h|7d|<ISO time>] [--dry-run]
  --reason   only rejects with these reasons (default: every reason but reject_budget_exceeded,
             which is a policy on the whole file: name it to admit such a file's rows after all)
  --since    only rejects stored since then
  --dry-run  report what would change, change nothing
DATABASE_URL names the database (the embedded one of npm start: export DATABASE_URL="$(cat .data/database-url)").`;

const { values } = parseArgs({
  options: {
    reason: { type: 'string' },
    since: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const url = process.env.DATABASE_URL;
if (!url) {
  console.error(HELP);
  process.exit(2);
}

/** `24h`, `7d`, `30m` ago, or an ISO time. */
function since(text: string): Date {
  const m = /^(\d+)([mhd])$/.exec(text);
  if (m) return new Date(Date.now() - Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm']);
  const at = new Date(text);
  if (Number.isNaN(at.getTime()))
    throw new Error(`--since must be like 24h, 7d or an ISO time, got "${text}"`);
  return at;
}

const pool = new pg.Pool({ connectionString: url, max: 1 });
try {
  const report = await revalidate(pool, Date.now, {
    dryRun: values['dry-run'],
    ...(values.reason ? { reasons: values.reason.split(',').map((r) => r.trim()) } : {}),
    ...(values.since ? { since: since(values.since) } : {}),
  });
  const verb = values['dry-run'] ? 'would' : 'did';
  console.log(`${redactUrl(url)}: ${report.examined} rejected rows checked against the current rules`);
  for (const [reason, r] of Object.entries(report.byReason).sort((a, b) => b[1].examined - a[1].examined))
    console.log(`  ${reason.padEnd(26)} ${String(r.examined).padStart(8)} checked, ${r.valid} now valid`);
  console.log(
    `${report.valid} now valid: ${verb} insert ${report.inserted}, ${report.duplicate} already stored (duplicates); ` +
      `${report.objects} objects' ledger counts ${values['dry-run'] ? 'would change' : 'changed'}` +
      (values['dry-run'] ? '' : `, ${report.objectsNoLongerFailed} no longer failed`),
  );
} finally {
  await pool.end();
}
