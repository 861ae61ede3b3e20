/**
 * `npm start`: the whole pipeline on this machine, no Docker needed.
 * Run `npm start -- --help` for the options.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../../infra/paths.ts';
import { topology } from '../../infra/topology.ts';
import { oneLine, StartAborted, StartError } from './errors.ts';
import { describeDatabase, type LocalPipeline, startLocalPipeline } from './runtime.ts';

const HELP = `Usage: npm start -- [options]

Runs generator → bucket → notification → queue → ingest → PostgreSQL in this process.

  --interval <s>        seconds between generator runs (default ${topology.generator.localIntervalSeconds}; 0 = off)
  --events <n>          events per generated object (default ${topology.generator.eventsPerObject})
  --bad-rate <r>        share of deliberately bad rows (default ${topology.generator.badRate})
  --duplicate-rate <r>  share of duplicate event_ids (default ${topology.generator.duplicateRate})
  --seed <n>            seed for reproducible data
  --concurrency <n>     concurrent ingest pollers (default ${topology.ingest.maxConcurrency})
  --batch-size <n>      records per ingest invocation (default ${topology.ingest.batchSize})
  --ingest-timeout <s>  timeout of each ingest invocation (default ${topology.ingest.timeoutSeconds}, as on AWS); an object
                        not finished by then is committed so far and continued in a new invocation
  --reconcile-interval <s>  seconds between reconciliation runs, which send objects whose notification
                        was lost to ingest again (default ${topology.reconcile.localIntervalSeconds}; one run also at start; 0 = off)
  --reconcile-grace <s> only objects in the bucket at least this long are reconciled (default ${topology.reconcile.graceSeconds})
  --port <n>            port of the embedded S3+SQS endpoint (default 4566)
  --pg-port <n>         port of the embedded PostgreSQL (default 54329)
  --data-dir <path>     folder of the embedded PostgreSQL, the endpoint's objects and queues, and the
                        lock that keeps a second npm start off them (default .data)
  --status <s>          seconds between status lines (default 5)
  --dashboard-port <n>  port of the live dashboard on 127.0.0.1 (default 8080, a free one if taken; 0 = any; off = none)
  --quiet               only warnings and errors from the functions' JSON logs
Environment:
  DATABASE_URL          use this PostgreSQL instead of the embedded one
  AWS_ENDPOINT_URL      use this S3+SQS endpoint (e.g. LocalStack) instead of the embedded one`;

// Human-readable lines go to stderr; stdout carries the functions' JSON logs and EMF metrics.
const say = (line: string) => process.stderr.write(`${line}\n`);

/** Stop with one line that says what to do, never a stack trace. */
function fail(message: string): never {
  say(`error: ${message}`);
  process.exit(1);
}

let values: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      interval: { type: 'string' },
      events: { type: 'string' },
      'bad-rate': { type: 'string' },
      'duplicate-rate': { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      'batch-size': { type: 'string' },
      'ingest-timeout': { type: 'string' },
      'reconcile-interval': { type: 'string' },
      'reconcile-grace': { type: 'string' },
      port: { type: 'string' },
      'pg-port': { type: 'string' },
      'data-dir': { type: 'string' },
      status: { type: 'string' },
      'dashboard-port': { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}
try {
  values = parse();
} catch (e: unknown) {
  fail(`${oneLine(e)} (npm start -- --help lists the options)`);
}
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

/** A numeric option, checked: a typo is an error that names the option, not a NaN later. */
function num(name: keyof typeof values, min = 0): number | undefined {
  const raw = values[name];
  if (raw === undefined || typeof raw === 'boolean') return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < min)
    fail(`--${name} must be a number ≥ ${min}, got "${raw}"`);
  return v;
}
const seconds = (name: keyof typeof values, min = 0) => {
  const v = num(name, min);
  return v === undefined ? undefined : v * 1000;
};

const dataDir = path.resolve(ROOT, values['data-dir'] ?? '.data');
const dashboardPort: number | false =
  values['dashboard-port'] === 'off' ? false : (num('dashboard-port') ?? 8080);
const ingestTimeoutMs = seconds('ingest-timeout', 1);
const options = {
  endpointUrl: process.env.AWS_ENDPOINT_URL || undefined,
  databaseUrl: process.env.DATABASE_URL || undefined,
  dataDir,
  port: num('port'),
  pgPort: num('pg-port', 1),
  generator: {
    intervalMs: seconds('interval'),
    eventsPerObject: num('events', 1),
    badRate: num('bad-rate'),
    duplicateRate: num('duplicate-rate'),
    seed: num('seed'),
  },
  ingest: {
    concurrency: num('concurrency', 1),
    batchSize: num('batch-size', 1),
    ...(ingestTimeoutMs !== undefined ? { timeoutMs: ingestTimeoutMs } : {}),
  },
  reconcile: { intervalMs: seconds('reconcile-interval'), graceSeconds: num('reconcile-grace') },
  log: say,
  dashboardPort,
  ...(values.quiet ? { logLevel: 'WARN' as const } : {}),
};
const statusEvery = (num('status', 0.1) ?? 5) * 1000;

// Signals are ours from the first moment: Ctrl+C during the start stops what has been started (the
// embedded PostgreSQL runs in its own process group and would not see the terminal's Ctrl+C), and a
// second Ctrl+C while stopping exits at once (the server is then told to stop by the exit hook).
const abort = new AbortController();
let pipeline: LocalPipeline | undefined;
let stopping = false;
const onSignal = (signal: NodeJS.Signals) => {
  if (stopping) {
    say(`${signal} again: exiting without waiting for the batch in flight (it is redelivered later)`);
    process.exit(130);
  }
  stopping = true;
  if (!pipeline) {
    say(`${signal}: stopping what has been started…`);
    abort.abort();
    return;
  }
  void shutdown(signal);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

say('starting the local pipeline…');
const started = Date.now();
try {
  pipeline = await startLocalPipeline({ ...options, signal: abort.signal });
} catch (e: unknown) {
  if (e instanceof StartAborted) {
    say('stopped during start; nothing is left running.');
    process.exit(130);
  }
  if (e instanceof StartError) fail(e.message);
  fail(`${oneLine(e)}${process.env.DEBUG ? `\n${(e as Error).stack ?? ''}` : ' (DEBUG=1 shows the stack)'}`);
}
const running = pipeline;
if (stopping) await shutdown('SIGINT');

/** A path as short as it can be said: relative when under the working directory. */
const shown = (p: string) => {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
};
const r = running.resources;
say(`
ready in ${((Date.now() - started) / 1000).toFixed(1)} s
  S3+SQS endpoint  ${running.endpointUrl}${running.embeddedEndpoint ? ` (embedded, objects and queues in ${shown(dataDir)}/)` : ''}
  bucket           s3://${r.bucket}/${topology.notification.prefix}  (notifications for *${topology.notification.suffixes.join(', *')})
  queue            ${r.queueUrl}
  dead letters     ${r.dlqUrl}
  PostgreSQL       ${describeDatabase(running.databaseUrl)}${running.embeddedDatabase ? ` (embedded, data in ${shown(path.join(dataDir, 'pg'))})` : ''}
  dashboard        ${running.dashboardUrl ?? 'off'}
  look at the data psql "${running.embeddedDatabase ? `$(cat ${shown(path.join(dataDir, 'database-url'))})` : '$DATABASE_URL'}" -c 'SELECT * FROM event_summary ORDER BY hour DESC LIMIT 20'
Ctrl+C stops after the batch in flight.
`);

const timer = setInterval(async () => {
  try {
    const s = await running.status();
    say(
      `[${new Date().toISOString().slice(11, 19)}] generated ${s.generatedEvents} events/${s.generatedObjects} objects | ` +
        `ingested ${s.rowsInserted} rows/${s.objectsIngested} objects | duplicates ${s.rowsDuplicate} | ` +
        `rejected ${s.rowsRejected} | failed objects ${s.objectsFailed} | in progress ${s.objectsInProgress} | ` +
        `reconciled ${s.objectsReconciled} | queue ${s.queueDepth} (+${s.inFlight} in flight) | DLQ ${s.dlqDepth}`,
    );
  } catch (e: unknown) {
    say(`status unavailable: ${oneLine(e)}`);
  }
}, statusEvery);

async function shutdown(signal: string): Promise<never> {
  say(`${signal}: finishing the batch in flight…`);
  clearInterval(timer);
  await pipeline?.stop();
  say('stopped cleanly.');
  process.exit(0);
}
