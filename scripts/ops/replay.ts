/**
 * `npm run replay -- --prefix events/2026/11/`: re-emit S3 notifications for objects already in the
 * bucket (lost notifications, a purged queue, a fix deployed after failures). Idempotent: the ingest
 * ledger skips object versions it has already handled.
 */
import { parseArgs } from 'node:util';
import { topology } from '../../infra/topology.ts';
import { replayNotifications, resolveQueueUrl, toolClients } from './queue-tools.ts';

const HELP = `Usage: npm run replay -- --prefix <key prefix> [options]

Sends one S3 ObjectCreated notification per object under the prefix to the ingest queue.
  --prefix <p>     key prefix to replay, e.g. events/2026/11/ (required; "${topology.notification.prefix}" = everything)
  --bucket <name>  bucket (default ${topology.names.bucket})
  --queue <q>      queue name or URL (default ${topology.names.queue}; on AWS pass the stack's QueueUrl output)
  --aws            talk to AWS itself (standard credentials) instead of an endpoint
Endpoint: AWS_ENDPOINT_URL (e.g. LocalStack), else the embedded endpoint of a running \`npm start\`
(http://127.0.0.1:4566). Only objects matching the notification filter (${topology.notification.prefix}…{${topology.notification.suffixes.join(',')}}) are sent.`;

const { values } = parseArgs({
  options: {
    prefix: { type: 'string' },
    bucket: { type: 'string', default: topology.names.bucket },
    queue: { type: 'string', default: topology.names.queue },
    aws: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help || values.prefix === undefined) {
  console.log(HELP);
  process.exit(values.help ? 0 : 2);
}

const { s3, sqs, endpoint, region } = toolClients({ aws: values.aws });
const queueUrl = await resolveQueueUrl(sqs, values.queue);
console.error(
  `replaying s3://${values.bucket}/${values.prefix} → ${queueUrl}${endpoint ? ` (at ${endpoint})` : ''}`,
);
const summary = await replayNotifications(
  { s3, sqs },
  { bucket: values.bucket, prefix: values.prefix, queueUrl, region, log: (line) => console.error(line) },
);
console.log(
  `replay: ${summary.listed} objects listed, ${summary.sent} notifications sent, ${summary.filtered} outside the notification filter`,
);
