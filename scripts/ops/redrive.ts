/**
 * `npm run redrive`: move the messages in the dead-letter queue back to the ingest queue, after the
 * cause of their failure is fixed. Receive → send → delete, so it is safe to interrupt and to repeat.
 */
import { parseArgs } from 'node:util';
import { topology } from '../../infra/topology.ts';
import { redriveMessages, resolveQueueUrl, toolClients } from './queue-tools.ts';

const HELP = `Usage: npm run redrive -- [options]

Moves messages from the DLQ back to the ingest queue (at most the DLQ's depth when it starts).
  --dlq <q>    dead-letter queue name or URL (default ${topology.names.dlq})
  --queue <q>  target queue name or URL (default ${topology.names.queue})
  --max <n>    move at most n messages
  --aws        talk to AWS itself (standard credentials) instead of an endpoint
On AWS pass the stack's DeadLetterQueueUrl and QueueUrl outputs (CloudFormation adds suffixes to names).
Endpoint: AWS_ENDPOINT_URL (e.g. LocalStack), else the embedded endpoint of a running \`npm start\`
(http://127.0.0.1:4566).`;

const { values } = parseArgs({
  options: {
    dlq: { type: 'string', default: topology.names.dlq },
    queue: { type: 'string', default: topology.names.queue },
    max: { type: 'string' },
    aws: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const max = values.max === undefined ? undefined : Number(values.max);
if (max !== undefined && !(Number.isInteger(max) && max >= 0)) {
  console.error(`--max must be a whole number, got "${values.max}"`);
  process.exit(2);
}

const { sqs, endpoint } = toolClients({ aws: values.aws });
const [from, to] = await Promise.all([resolveQueueUrl(sqs, values.dlq), resolveQueueUrl(sqs, values.queue)]);
console.error(`redriving ${from} → ${to}${endpoint ? ` (at ${endpoint})` : ''}`);
const summary = await redriveMessages(sqs, {
  from,
  to,
  ...(max !== undefined ? { max } : {}),
  log: (line) => console.error(line),
});
console.log(`redrive: ${summary.moved} messages moved back to the queue (limit ${summary.limit})`);
