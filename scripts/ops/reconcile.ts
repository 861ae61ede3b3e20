/**
 * `npm run reconcile -- [--since 24h] [--dry-run]`: find the objects whose notification was lost and
 * send them to the ingest queue again, now, with the function the schedule runs.
 */
import { parseArgs } from 'node:util';
import { ROOT } from '../../infra/paths.ts';
import { topology } from '../../infra/topology.ts';
import { localstack } from './localstack/env.ts';
import { parseSince, runReconcileTool, type Target } from './reconcile-tool.ts';
import { localDatabaseUrl } from './status-report.ts';

const HELP = `Usage: npm run reconcile -- [options]

Lists the bucket under ${topology.notification.prefix} and sends the ingest queue an S3 notification for every object
(${topology.notification.suffixes.join(', ')}) older than the grace period that the ledger does not hold, holds as
missing, or holds as in progress with no commit for long (its continuation was lost).

  --since <t>      only objects modified since then: a duration (90m, 24h, 7d) or an ISO time
  --dry-run        print what would be sent; send and record nothing
  --grace <s>      only objects in the bucket at least this long (default ${topology.reconcile.graceSeconds})
  --max-objects <n> list at most n keys
  --target <t>     local (npm start's embedded endpoint), localstack or aws.
                   Default: localstack when AWS_ENDPOINT_URL is set, else local.
  --endpoint <url> S3+SQS endpoint (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4566 for local and
                   LocalStack; none on AWS)
  --stack <name>   CloudFormation stack whose outputs name the bucket and queue (default EcommercePipeline)
  --bucket <name> / --queue <name>   for the local runtime (default: the topology's)
  --json           the summary as JSON
Environment:
  DATABASE_URL     the ledger's database (default: .data/database-url for local, the compose PostgreSQL
                   for LocalStack; on AWS it must be given, e.g. through a tunnel to the RDS Proxy; else
                   invoke the deployed function: aws lambda invoke --function-name <ReconcileFunctionName output>)`;

function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(2);
}

let values: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      since: { type: 'string' },
      'dry-run': { type: 'boolean' },
      grace: { type: 'string' },
      'max-objects': { type: 'string' },
      target: { type: 'string' },
      endpoint: { type: 'string' },
      stack: { type: 'string' },
      bucket: { type: 'string' },
      queue: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}
try {
  values = parse();
} catch (e: unknown) {
  fail((e as Error).message);
}
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const targets: Target[] = ['local', 'localstack', 'aws'];
const target = (values.target ?? (process.env.AWS_ENDPOINT_URL ? 'localstack' : 'local')) as Target;
if (!targets.includes(target)) fail(`--target must be one of ${targets.join(', ')}`);
const endpointUrl =
  values.endpoint ??
  (process.env.AWS_ENDPOINT_URL ||
    (target === 'local'
      ? 'http://127.0.0.1:4566'
      : target === 'localstack'
        ? localstack.endpoint
        : undefined));
const databaseUrl =
  process.env.DATABASE_URL ||
  (target === 'local'
    ? localDatabaseUrl(ROOT)
    : target === 'localstack'
      ? localstack.hostDatabaseUrl
      : undefined);
if (!databaseUrl)
  fail(
    target === 'aws'
      ? 'set DATABASE_URL (the database is in a private VPC: use a tunnel), or invoke the deployed reconcile function'
      : 'no database: set DATABASE_URL, or start npm start once so .data/database-url exists',
  );
const number = (name: 'grace' | 'max-objects') => {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) fail(`--${name} must be a number ≥ 0, got "${raw}"`);
  return v;
};
let since: Date | undefined;
try {
  since = values.since ? parseSince(values.since) : undefined;
} catch (e: unknown) {
  fail((e as Error).message);
}
const dryRun = values['dry-run'] ?? false;
const grace = number('grace');
const maxObjects = number('max-objects');

try {
  const summary = await runReconcileTool({
    target,
    ...(endpointUrl ? { endpointUrl } : {}),
    databaseUrl: databaseUrl as string,
    ...(values.stack
      ? { stackName: values.stack }
      : target === 'localstack'
        ? { stackName: localstack.stackName }
        : {}),
    ...(values.bucket ? { bucket: values.bucket } : {}),
    ...(values.queue ? { queue: values.queue } : {}),
    ...(since ? { since } : {}),
    ...(grace !== undefined ? { graceSeconds: grace } : {}),
    ...(maxObjects !== undefined ? { maxObjects } : {}),
    dryRun,
    onObject: (o) =>
      console.error(
        `${dryRun ? 'would send' : 'sent'}  s3://…/${o.key}  etag ${o.etag}  ${o.reason}  (modified ${o.lastModified.toISOString()})`,
      ),
  });
  if (values.json) console.log(JSON.stringify(summary, null, 2));
  else {
    const reasons = Object.entries(summary.byReason)
      .map(([reason, n]) => `${n} ${reason}`)
      .join(', ');
    console.log(
      `reconcile${dryRun ? ' (dry run)' : ''}: s3://${summary.bucket}/${topology.notification.prefix}: ${summary.listed} keys listed, ${summary.eligible} eligible, ${summary.reconciled} ${dryRun ? 'would be sent' : 'sent'} to the ingest queue (${reasons})${since ? `, since ${since.toISOString()}` : ''}`,
    );
  }
} catch (e: unknown) {
  fail((e as Error).message.replace(/\s*\n\s*/g, ' '));
}
