/**
 * `npm start`: the whole pipeline on this machine, no Docker needed.
 * Run `npm start -- --help` for the options.
 */
import { parseArgs } from 'node:util';
import { topology } from '../../infra/topology.ts';
import { describeDatabase, startLocalPipeline } from './runtime.ts';

const HELP = `Usage: npm start -- [options]

Runs generator → bucket → notification → queue → ingest → PostgreSQL in this process.

  --interval <s>        seconds between generator runs (default ${topology.generator.localIntervalSeconds}; 0 = off)
  --events <n>          events per generated object (default ${topology.generator.eventsPerObject})
  --bad-rate <r>        share of deliberately bad rows (default ${topology.generator.badRate})
  --duplicate-rate <r>  share of duplicate event_ids (default ${topology.generator.duplicateRate})
  --seed <n>            seed for reproducible data
  --concurrency <n>     concurrent ingest pollers (default ${topology.ingest.maxConcurrency})
  --batch-size <n>      records per ingest invocation (default ${topology.ingest.batchSize})
  --port <n>            port of the embedded S3+SQS endpoint (default 4566)
  --pg-port <n>         port of the embedded PostgreSQL (default 54329)
  --status <s>          seconds between status lines (default 5)
  --dashboard-port <n>  port of the live dashboard on 127.0.0.1 (default 8080, a free one if taken; 0 = any; off = none)
  --quiet               only warnings and errors from the functions' JSON logs
Environment:
  DATABASE_URL          use this PostgreSQL instead of the embedded one (data in .data/)
  AWS_ENDPOINT_URL      use this S3+SQS endpoint (e.g. LocalStack) instead of the embedded one`;

const { values } = parseArgs({
  options: {
    interval: { type: 'string' },
    events: { type: 'string' },
    'bad-rate': { type: 'string' },
    'duplicate-rate': { type: 'string' },
    seed: { type: 'string' },
    concurrency: { type: 'string' },
    'batch-size': { type: 'string' },
    port: { type: 'string' },
    'pg-port': { type: 'string' },
    status: { type: 'string' },
    'dashboard-port': { type: 'string' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

// Human-readable lines go to stderr; stdout carries the functions' JSON logs and EMF metrics.
const say = (line: string) => process.stderr.write(`${line}\n`);
say('starting the local pipeline…');
const started = Date.now();
const pipeline = await startLocalPipeline({
  endpointUrl: process.env.AWS_ENDPOINT_URL,
  databaseUrl: process.env.DATABASE_URL,
  port: num(values.port),
  pgPort: num(values['pg-port']),
  generator: {
    intervalMs: values.interval === undefined ? undefined : Number(values.interval) * 1000,
    eventsPerObject: num(values.events),
    badRate: num(values['bad-rate']),
    duplicateRate: num(values['duplicate-rate']),
    seed: num(values.seed),
  },
  ingest: { concurrency: num(values.concurrency), batchSize: num(values['batch-size']) },
  log: say,
  dashboardPort: values['dashboard-port'] === 'off' ? false : (num(values['dashboard-port']) ?? 8080),
  ...(values.quiet ? { logLevel: 'WARN' as const } : {}),
});

const r = pipeline.resources;
say(`
ready in ${((Date.now() - started) / 1000).toFixed(1)} s
  S3+SQS endpoint  ${pipeline.endpointUrl}${pipeline.embeddedEndpoint ? ' (embedded)' : ''}
  bucket           s3://${r.bucket}/${topology.notification.prefix}  (notifications for *${topology.notification.suffixes.join(', *')})
  queue            ${r.queueUrl}
  dead letters     ${r.dlqUrl}
  PostgreSQL       ${describeDatabase(pipeline.databaseUrl)}${pipeline.embeddedDatabase ? ' (embedded, data in .data/pg)' : ''}
  dashboard        ${pipeline.dashboardUrl ?? 'off'}
  look at the data psql "${pipeline.embeddedDatabase ? '$(cat .data/database-url)' : '$DATABASE_URL'}" -c 'SELECT * FROM event_summary ORDER BY hour DESC LIMIT 20'
Ctrl+C stops after the batch in flight.
`);

const statusEvery = (num(values.status) ?? 5) * 1000;
const timer = setInterval(async () => {
  try {
    const s = await pipeline.status();
    say(
      `[${new Date().toISOString().slice(11, 19)}] generated ${s.generatedEvents} events/${s.generatedObjects} objects | ` +
        `ingested ${s.rowsInserted} rows/${s.objectsIngested} objects | duplicates ${s.rowsDuplicate} | ` +
        `rejected ${s.rowsRejected} | failed objects ${s.objectsFailed} | queue ${s.queueDepth} (+${s.inFlight} in flight) | DLQ ${s.dlqDepth}`,
    );
  } catch (e: unknown) {
    say(`status unavailable: ${(e as Error).message}`);
  }
}, statusEvery);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  say(`${signal}: finishing the batch in flight…`);
  clearInterval(timer);
  await pipeline.stop();
  say('stopped cleanly.');
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
