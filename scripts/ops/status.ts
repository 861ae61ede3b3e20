import { parseArgs } from 'node:util';
import { ROOT } from '../../infra/paths.ts';
import { localstack } from './localstack/env.ts';
import { collectReport, formatReport, localDatabaseUrl, type Target } from './status-report.ts';

/** `DEFAULT_STACK_NAME` of infra/build.ts, repeated so a status check does not load the CDK. */
const DEFAULT_STACK_NAME = 'EcommercePipeline';

const HELP = `Usage: npm run status -- [options]

Prints queue depth, DLQ, ledger counts, latency percentiles and the last failed objects.

  --target <t>     local (npm start's embedded endpoint), localstack or aws.
                   Default: localstack when AWS_ENDPOINT_URL is set, else local.
  --endpoint <url> S3+SQS endpoint (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4566 for
                   local and LocalStack; none on AWS)
  --stack <name>   CloudFormation stack whose outputs name the queues (default ${DEFAULT_STACK_NAME})
  --queue <name> / --dlq <name>   queue names for the local runtime (default: the topology's)
  --json           machine-readable output
Environment:
  DATABASE_URL     the database to count in (default: .data/database-url for local, the compose
                   PostgreSQL on 127.0.0.1:5433 for LocalStack; on AWS it must be given)`;

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    endpoint: { type: 'string' },
    stack: { type: 'string' },
    queue: { type: 'string' },
    dlq: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const targets: Target[] = ['local', 'localstack', 'aws'];
const target = (values.target ?? (process.env.AWS_ENDPOINT_URL ? 'localstack' : 'local')) as Target;
if (!targets.includes(target)) {
  console.error(`--target must be one of ${targets.join(', ')}`);
  process.exit(2);
}
const endpointUrl =
  values.endpoint ??
  (process.env.AWS_ENDPOINT_URL ||
    (target === 'local'
      ? 'http://127.0.0.1:4566'
      : target === 'localstack'
        ? localstack.endpoint
        : undefined));
// Defaults: npm start's embedded database, or the compose PostgreSQL next to LocalStack.
const databaseUrl =
  process.env.DATABASE_URL ||
  (target === 'local'
    ? localDatabaseUrl(ROOT)
    : target === 'localstack'
      ? localstack.hostDatabaseUrl
      : undefined);
const stackName = values.stack ?? (target === 'localstack' ? localstack.stackName : undefined);

const report = await collectReport({
  target,
  ...(endpointUrl ? { endpointUrl } : {}),
  ...(stackName ? { stackName } : {}),
  ...(values.queue ? { queueName: values.queue } : {}),
  ...(values.dlq ? { dlqName: values.dlq } : {}),
  ...(databaseUrl ? { databaseUrl } : {}),
});
console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
// Non-zero when nothing could be read, so scripts can tell "all zero" from "not running".
process.exit('error' in report.queues && 'error' in report.database ? 1 : 0);
