/**
 * `npm run chaos`: the local pipeline under faults — worker processes SIGKILLed mid-batch,
 * PostgreSQL backends terminated and the server restarted, the S3/SQS endpoint cut off — then every
 * row checked against the generator's manifest. Exits 1 on any loss, duplicate or mismatch.
 * `npm run chaos -- --help` lists the options; docs/chaos.md explains what is injected and why.
 */
import { openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../../../infra/paths.ts';
import { DEFAULT_CHAOS, runChaos, summary } from './run.ts';

const d = DEFAULT_CHAOS;
const HELP = `Usage: npm run chaos -- [options]

  --events <n>            events in total (default ${d.events})
  --events-per-object <n> events per CSV object (default ${d.eventsPerObject})
  --large-objects <n>     large objects among them (default ${d.large.objects}) …
  --large-events <n>      … of this many events each (default ${d.large.events}), read in chunks of
  --chunk-rows <n>        this many records (default ${d.chunkRows}) by workers whose
  --timeout <s>           function timeout is this (default ${d.timeoutSeconds} s): large objects continue
  --kills <n>             worker SIGKILLs (default ${d.faults.workerKill})
  --pg-terminates <n>     rounds of pg_terminate_backend on the workers' connections (default ${d.faults.pgTerminate})
  --pg-restarts <n>       PostgreSQL restarts (default ${d.faults.pgRestart}; needs the embedded server)
  --outages <n>           S3/SQS endpoint outages (default ${d.faults.endpointOutage})
  --poison <n>            non-JSON messages sent on purpose (default ${d.poison})
  --workers <n>           worker processes (default ${d.workers})
  --seed <n>              generator seed (default ${d.seed})
  --data-dir <dir>        embedded PostgreSQL cluster (default .data/chaos)
Environment:
  DATABASE_URL            run on a fresh database of this server instead (no restarts possible then)
Worker logs (JSON lines) go to <data-dir>/workers.log.`;

const { values } = parseArgs({
  options: {
    events: { type: 'string' },
    'events-per-object': { type: 'string' },
    'large-objects': { type: 'string' },
    'large-events': { type: 'string' },
    'chunk-rows': { type: 'string' },
    timeout: { type: 'string' },
    kills: { type: 'string' },
    'pg-terminates': { type: 'string' },
    'pg-restarts': { type: 'string' },
    outages: { type: 'string' },
    poison: { type: 'string' },
    workers: { type: 'string' },
    seed: { type: 'string' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const num = (v: string | undefined, fallback: number) => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`Not a number: ${v}`);
  return n;
};

const dataDir = path.resolve(values['data-dir'] ?? path.join(ROOT, '.data', 'chaos'));
await mkdir(dataDir, { recursive: true });
const say = (line: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
// Ctrl+C: exit now; the embedded PostgreSQL is stopped by its exit hook, and the workers stop
// gracefully when their IPC channel to this process closes.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    say(`${signal}: stopping`);
    process.exit(130);
  });
const result = await runChaos({
  ...d,
  events: num(values.events, d.events),
  eventsPerObject: num(values['events-per-object'], d.eventsPerObject),
  large: {
    objects: num(values['large-objects'], d.large.objects),
    events: num(values['large-events'], d.large.events),
  },
  chunkRows: num(values['chunk-rows'], d.chunkRows),
  timeoutSeconds: num(values.timeout, d.timeoutSeconds),
  seed: num(values.seed, d.seed),
  poison: num(values.poison, d.poison),
  workers: num(values.workers, d.workers),
  faults: {
    workerKill: num(values.kills, d.faults.workerKill),
    pgTerminate: num(values['pg-terminates'], d.faults.pgTerminate),
    pgRestart: num(values['pg-restarts'], d.faults.pgRestart),
    endpointOutage: num(values.outages, d.faults.endpointOutage),
  },
  ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
  dataDir,
  workerLogFd: openSync(path.join(dataDir, 'workers.log'), 'w'),
  log: say,
});
console.log(summary(result));
process.exit(result.ok ? 0 : 1);
