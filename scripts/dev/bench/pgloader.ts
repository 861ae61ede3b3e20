/**
 * A peer in the benchmark: pgloader loading the same CSV files into `user_events` of a fresh
 * database, so the report can set the pipeline's end-to-end figure next to a known bulk loader's.
 * pgloader is optional: when it is not installed the result says so, and the bench goes on.
 *
 * pgloader runs with its defaults apart from `workers` (set to the ingest function's concurrency)
 * and the CSV dialect the generator writes, in one command over the whole directory of files,
 * which is how pgloader loads many files into one table.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { EVENT_COLUMNS } from '../../../functions/shared/event.ts';
import { ROOT } from '../../../infra/paths.ts';
import { freshDatabase } from './harness.ts';

/** pgloader's figures over the repetitions of one bench run (medians, like the bench's own). */
export interface PgloaderPeer {
  rowsPerSec: number;
  /** Rows counted in `user_events` after each load (the same in every repetition: all of the files). */
  rows: number;
  /** Wall-clock seconds of the pgloader process, start to exit (its start-up and catalog reads included). */
  seconds: number;
  /** As `pgloader --version` prints it, e.g. `3.6.7~devel`. */
  version: string;
  workers: number;
  /** Relative to the repository: pgloader's root directory of each repetition (`rep-1/`, …) is under it, with its reject files and log. */
  rejectsDir: string;
  /** rows/s of each repetition. */
  runs: number[];
}

/** Why there is no pgloader figure (not installed, or not run). */
export interface PeerAbsent {
  absent: string;
}

/** The peer's entry in the results. */
export type PgloaderResult = PgloaderPeer | PeerAbsent;

/** True when the result holds figures rather than the reason there are none. */
export function measuredPeer(r: PgloaderResult | undefined): r is PgloaderPeer {
  return r !== undefined && !('absent' in r);
}

/** Where to find pgloader and how to run it. */
export interface PgloaderOptions {
  /** Command name or path (default `pgloader`, looked up on the PATH). */
  binary?: string;
  /** The PATH to look the binary up in (default this process's). */
  searchPath?: string;
  /** pgloader's `workers` setting (default 2, the ingest function's concurrency). */
  workers?: number;
  /** Repetitions (default 1); each loads every file into a fresh database. */
  reps?: number;
  /** A migrated template database to copy fresh ones from (see `templateDatabase`); else each is migrated. */
  template?: string;
  /** Working directory under the repository's `.data/`; it is emptied first (default `.data/bench/pgloader`). */
  dir?: string;
  /** Kill pgloader after this long (default 60 s + 1 ms per row): a misread dialect retries row by row for ages. */
  timeoutMs?: number;
  progress?: (line: string) => void;
}

const run = promisify(execFile);

/** `pgloader --version`, or why pgloader cannot be run here. */
export async function pgloaderVersion(
  options: PgloaderOptions = {},
): Promise<{ version: string } | PeerAbsent> {
  const binary = options.binary ?? 'pgloader';
  try {
    const { stdout } = await run(binary, ['--version'], { env: childEnv(options), timeout: 30_000 });
    return { version: /version "([^"]+)"/.exec(stdout)?.[1] ?? stdout.split('\n')[0]?.trim() ?? 'unknown' };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return {
        absent: `${binary} was not found on the PATH of the machine that ran the bench (Debian: apt-get install pgloader)`,
      };
    if (code === 'EACCES') return { absent: `${binary} is not executable on the machine that ran the bench` };
    throw e;
  }
}

/**
 * Load `files` with pgloader `reps` times, each into a fresh database with the project's schema,
 * and return the median rows/s; `{ absent }` when pgloader is not installed. Throws, with the end of
 * pgloader's log, when it exits non-zero or lands fewer rows than the files hold: a partial load
 * would make a bogus figure.
 */
export async function pgloaderPeer(
  adminUrl: string,
  files: { buffers: Buffer[]; rows: number },
  options: PgloaderOptions = {},
): Promise<PgloaderResult> {
  const found = await pgloaderVersion(options);
  if ('absent' in found) {
    options.progress?.(`  pgloader: ${found.absent}`);
    return found;
  }
  const workers = options.workers ?? 2;
  const reps = options.reps ?? 1;
  const dir = path.resolve(options.dir ?? path.join(ROOT, '.data', 'bench', 'pgloader'));
  // The directory is emptied: only ever one under .data/, never a path given by mistake.
  if (!dir.startsWith(path.join(ROOT, '.data') + path.sep))
    throw new Error(`pgloader's working directory must be under ${path.join(ROOT, '.data')}: ${dir}`);
  await rm(dir, { recursive: true, force: true });
  const filesDir = path.join(dir, 'files');
  await mkdir(filesDir, { recursive: true });
  // Written before any timing, like the objects the end-to-end run PUTs.
  await Promise.all(
    files.buffers.map((b, i) => writeFile(path.join(filesDir, `${String(i).padStart(6, '0')}.csv`), b)),
  );

  const seconds: number[] = [];
  try {
    for (let r = 0; r < reps; r++) {
      const db = await freshDatabase(adminUrl, options.template);
      try {
        const s = await loadOnce(
          db.url,
          filesDir,
          path.join(dir, `rep-${r + 1}`),
          files.rows,
          workers,
          options,
        );
        seconds.push(s);
        options.progress?.(
          `  pgloader ${found.version} rep ${r + 1}/${reps} (${workers} workers): ${Math.round(files.rows / s).toLocaleString('en-US')} rows/s`,
        );
      } finally {
        await db.drop();
      }
    }
  } finally {
    // The copies of the files are the only large thing here; logs and rejects stay to be read.
    await rm(filesDir, { recursive: true, force: true });
  }
  const runs = seconds.map((x) => files.rows / x);
  return {
    rowsPerSec: median(runs),
    rows: files.rows,
    seconds: median(seconds),
    version: found.version,
    workers,
    rejectsDir: path.relative(ROOT, dir),
    runs,
  };
}

/**
 * The command file. pgloader's column expressions see the fields of the row only, not the file
 * it came from nor its line number, so the source columns are constants (like the plain-COPY
 * baseline's defaults): one LOAD per file to name each one costs about a second of start-up per
 * file and would measure that instead of the load.
 */
export function commandFile(databaseUrl: string, filesDir: string, workers: number): string {
  if (filesDir.includes("'")) throw new Error(`pgloader's directory must not contain a quote: ${filesDir}`);
  const fields = EVENT_COLUMNS.join(', ');
  const sourceKey = path.relative(ROOT, filesDir).replace(/["\\]/g, '');
  return `LOAD CSV
  FROM ALL FILENAMES MATCHING ~/[.]csv$/ IN DIRECTORY '${filesDir}'
  HAVING FIELDS (${fields})
  INTO ${databaseUrl}
  TARGET TABLE user_events
  TARGET COLUMNS (${fields},
    source_bucket text using "pgloader",
    source_key text using "${sourceKey}/",
    source_line integer using "0")
  WITH skip header = 1,
    fields optionally enclosed by '"',
    fields escaped by double-quote,
    fields terminated by ',',
    workers = ${workers};
`;
}

/** One load into the (empty) database of `databaseUrl`; returns the pgloader process's wall-clock seconds. */
async function loadOnce(
  databaseUrl: string,
  filesDir: string,
  runDir: string,
  rows: number,
  workers: number,
  options: PgloaderOptions,
): Promise<number> {
  await mkdir(runDir, { recursive: true });
  const { uri, password } = pgloaderUri(databaseUrl);
  const command = path.join(runDir, 'load.pgloader');
  const logFile = path.join(runDir, 'pgloader.log');
  await writeFile(command, commandFile(uri, filesDir, workers));
  // The password goes through the child's environment, not into the command file on disk.
  const env = { ...childEnv(options), ...(password ? { PGPASSWORD: password } : {}) };
  const timeoutMs = options.timeoutMs ?? 60_000 + rows;

  let output = '';
  const started = performance.now();
  const child: ChildProcess = spawn(
    options.binary ?? 'pgloader',
    ['--root-dir', runDir, '--logfile', logFile, command],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (c: Buffer) => {
    output = (output + c.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).finally(() => clearTimeout(timer));
  const seconds = (performance.now() - started) / 1000;

  const fail = async (why: string) => {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    return new Error(
      `pgloader ${why} (command ${path.relative(ROOT, command)}); log tail:\n${(log || output).slice(-3000)}`,
    );
  };
  if (timedOut) throw await fail(`did not finish within ${timeoutMs} ms`);
  if (code !== 0) throw await fail(`exited with code ${code}`);
  const landed = await countRows(databaseUrl);
  if (landed !== rows) throw await fail(`landed ${landed} rows of the ${rows} the files hold`);
  return seconds;
}

async function countRows(databaseUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM user_events');
    return rows[0]?.n ?? 0;
  } finally {
    await c.end();
  }
}

/**
 * pgloader's form of a PostgreSQL URL: user, host, port and database (its parser has rules of its
 * own for special characters, so those are refused here rather than passed mangled), the password
 * apart for `PGPASSWORD`, and `sslmode` kept.
 */
export function pgloaderUri(databaseUrl: string): { uri: string; password: string } {
  const u = new URL(databaseUrl);
  const user = decodeURIComponent(u.username);
  const db = decodeURIComponent(u.pathname.slice(1));
  const plain = /^[A-Za-z0-9_.-]*$/;
  if (!plain.test(user) || !plain.test(db) || !/^[A-Za-z0-9.-]+$/.test(u.hostname))
    throw new Error('pgloader peer: DATABASE_URL needs a plain user, TCP host and database name');
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode !== null && !/^[a-z-]+$/.test(sslmode))
    throw new Error(`pgloader peer: unexpected sslmode ${JSON.stringify(sslmode)}`);
  return {
    uri: `postgresql://${user ? `${user}@` : ''}${u.hostname}:${u.port || 5432}/${db}${sslmode ? `?sslmode=${sslmode}` : ''}`,
    password: decodeURIComponent(u.password),
  };
}

/** Median (mean of the middle two for an even count), as the bench's other figures. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function childEnv(options: PgloaderOptions): NodeJS.ProcessEnv {
  return options.searchPath === undefined ? process.env : { ...process.env, PATH: options.searchPath };
}
